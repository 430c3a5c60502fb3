"""nbqa_builder/turns (the turn format that the exports, the value targets and the search share) and
publish/chat.py (the export rows built on it)."""

from __future__ import annotations

import pytest

from nbqa_builder.publish.chat import jupiter_row
from nbqa_builder.turns import (INSTRUCTIONS, NotTrainable, TemplateError, action_turn, answer_turn, chat_turns,
                                first_turns, load_template, observation_turn, task_files)

ROW = {
    "id": "t1", "task": "What is the mean price?", "constraints": "", "format": "@mean_price[value]",
    "file_names": ["sales.csv"], "data_files": [{"path": "../data/sales.csv", "sha256": "0" * 64, "size": 1}],
    "solution": [
        {"thought": None, "python_code": "import pandas as pd", "code_output": None, "label": None},
        {"thought": "No code here.", "python_code": None, "code_output": None, "label": None},
        {"thought": "Mean.", "python_code": "pd.read_csv('../data/sales.csv').price.mean()\n", "code_output": "5.0",
         "label": None},
        {"thought": "Done.", "python_code": None, "code_output": None, "label": "@mean_price[5.0]"},
    ],
}


def test_the_default_template_gives_the_instructions_then_the_task():
    system, user = first_turns(ROW)
    assert system == {"role": "system", "content": "You are a helpful assistant."}
    assert user["content"] == (INSTRUCTIONS + "\n### Task\nQuestion: What is the mean price?\nConstraints: none\n"
                               "Format: @mean_price[value]\nAvailable Local Files: ../data/sales.csv\n")
    assert "in one block fenced with ```python and ```" in INSTRUCTIONS
    assert "as plain Python after `Action: `" in first_turns(ROW, action_format="raw")[1]["content"]
    assert chat_turns(ROW)[:2] == [system, user]


def test_a_template_file_may_use_jupiters_placeholder_names_and_set_the_system_turn(tmp_path):
    path = tmp_path / "t.md"
    path.write_text("---\nsystem: Be brief.\n---\nQ: {raw_question}\nC: {constraints}\nF: {output_format}\n"
                    "Files: {file_name}\nJSON stays: {\"a\": 1}\n")
    template = load_template(path)
    system, user = first_turns(ROW, template, file_naming="name")
    assert system["content"] == "Be brief."
    assert user["content"] == "Q: What is the mean price?\nC: none\nF: @mean_price[value]\nFiles: sales.csv\nJSON stays: {\"a\": 1}\n"


@pytest.mark.parametrize("text,problem", [
    ("Question: {question}\nRows: {rows}\n", "unknown placeholder {rows}"),
    ("Just do it.\n", "no {question}"),
    ("---\nsystem: x\nQuestion: {question}\n", "not closed"),
    ("---\nmodel: x\n---\nQuestion: {question}\n", "may only set `system`"),
])
def test_a_template_that_cannot_work_is_refused_with_the_reason(tmp_path, text, problem):
    (tmp_path / "t.md").write_text(text)
    with pytest.raises(TemplateError, match=problem):
        load_template(tmp_path / "t.md")
    with pytest.raises(TemplateError, match="cannot read"):
        load_template(tmp_path / "missing.md")


def test_files_as_the_code_reads_them_or_by_bare_name():
    assert task_files(ROW) == ["../data/sales.csv"]
    assert task_files(ROW, "name") == ["sales.csv"]
    assert task_files({"file_names": ["a.csv"]}) == ["a.csv"]
    assert task_files({"data_files": [{"path": "..\\in\\b.csv"}]}, "name") == ["b.csv"]


def test_step_turns_in_both_action_formats():
    assert action_turn("Look.", "df.head()\n") == {"role": "assistant",
                                                    "content": "Thought: Look.\nAction:\n```python\ndf.head()\n```"}
    assert action_turn("Look.", "df.head()\n", "raw")["content"] == "Thought: Look.\nAction: df.head()\n"
    assert observation_turn(None) == {"role": "user", "content": "Observation:\n"}
    assert answer_turn(None, "@x[1]")["content"] == "Thought: \nFormatted answer: @x[1]"
    with pytest.raises(ValueError):
        action_turn("x", "y", "markdown")


def test_chats_hold_the_code_steps_and_jupiter_rows_only_what_process_sft_reads():
    turns = chat_turns(ROW)
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert turns[2]["content"] == "Thought: \nAction:\n```python\nimport pandas as pd\n```"
    row = jupiter_row(ROW, ["t1/sales.csv"])
    assert row["solution"] == [
        {"thought": "", "python_code": "import pandas as pd", "code_output": ""},
        {"thought": "Mean.", "python_code": "pd.read_csv('../data/sales.csv').price.mean()\n", "code_output": "5.0"},
        {"thought": "Done.", "label": "@mean_price[5.0]"},
    ]
    with pytest.raises(NotTrainable, match="no code steps"):
        chat_turns({**ROW, "solution": ROW["solution"][3:]})
