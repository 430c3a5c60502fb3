"""`export sft` (messages, alpaca with history) and `export jupiter` (train_sft_data.jsonl rows):
the turns, the template, file names as served, printed final expressions, raw or fenced actions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.records import SolutionStep
from tests.dataset_fixtures import make_task, write_dataset

ROOT = Path(__file__).resolve().parents[1]
SALES = b"day,price\n1,4.0\n2,6.0\n"
LOAD = 'import pandas as pd\ndf = pd.read_csv("../data/sales.csv")\ndf.shape'


def solved(task_id: str, verified: bool, path: str = "../data/sales.csv", load: str = LOAD):
    task = make_task(task_id, [("mean_price", "5.0")], files={path: SALES})
    task.ipynb_name = "notebooks/prices.ipynb"
    task.verified = verified
    task.solution = [
        SolutionStep("Load the sales table.", load, "(2, 2)"),
        SolutionStep("Make a folder for outputs.", 'import os\nos.makedirs("out", exist_ok=True)', ""),
        SolutionStep("When the data starts.", 'pd.Timestamp("2020-01-02")', "Timestamp('2020-01-02 00:00:00')"),
        SolutionStep("Take the mean price.", 'df["price"].mean()', "np.float64(5.0)"),
        SolutionStep("The mean is 5.0.", label="@mean_price[5.0]"),
    ]
    return task


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    no_code = make_task("t-none", [("x", "1")])
    no_code.solution = [SolutionStep("just a guess", label="@x[1]")]
    return write_dataset(str(tmp_path_factory.mktemp("sft") / "ds"),
                         {"interactive": [solved("t1", verified=True), solved("t2", verified=False)], "sft": [no_code]},
                         {"../data/sales.csv": SALES})


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def default_export(dataset, tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict[str, list[dict]], Path]:
    out = tmp_path_factory.mktemp("chats") / "chats.jsonl"
    done = run_cli("export", "sft", dataset, "--to", out, "--sandbox", "process")
    assert done.returncode == 0, done.stderr
    return done, {row["id"]: row["messages"] for row in read_jsonl(out)}, out


def test_messages_follow_jupiter_turns(default_export):
    done, chats, _ = default_export
    assert "note: 1 tasks left out (no code steps)" in done.stdout
    assert sorted(chats) == ["t1", "t2"]
    turns = chats["t1"]
    assert [t["role"] for t in turns] == ["system"] + ["user", "assistant"] * 5
    assert turns[0]["content"] == "You are a helpful assistant."
    prompt = turns[1]["content"]
    for line in ("Question: question of t1", "Constraints: round to two decimals", "Format: @mean_price[value]",
                 "Available Local Files: ../data/sales.csv", "Action: the code to run, in one block fenced with"):
        assert line in prompt
    assert turns[-1]["content"] == "Thought: The mean is 5.0.\nFormatted answer: @mean_price[5.0]"


def test_final_expressions_are_printed_and_observed_as_printed(default_export):
    done, chats, _ = default_export
    assert "note: 1 tasks whose printed steps were re-run in the sandbox" in done.stdout
    for task_id in ("t1", "t2"):
        turns = chats[task_id]
        assert turns[2]["content"] == ('Thought: Load the sales table.\nAction:\n```python\nimport pandas as pd\n'
                                       'df = pd.read_csv("../data/sales.csv")\nprint(df.shape)\n```')
        assert turns[3]["content"] == "Observation:\n(2, 2)"
        # a call whose value is None shows nothing: it is not wrapped
        assert 'import os\nos.makedirs("out", exist_ok=True)\n```' in turns[4]["content"]
        assert 'print(df["price"].mean())' in turns[8]["content"]
        assert turns[9]["content"] == "Observation:\n5.0"  # np.float64(5.0) printed
    # the verified task was re-run: the sandbox shows what print gives; the other one is read off
    # the stored display value, which keeps what it cannot know
    assert chats["t1"][7]["content"] == "Observation:\n2020-01-02 00:00:00"
    assert chats["t2"][7]["content"] == "Observation:\nTimestamp('2020-01-02 00:00:00')"


def test_keep_leaves_the_notebook_code_and_display_values(dataset, tmp_path):
    out = tmp_path / "kept.jsonl"
    assert run_cli("export", "sft", dataset, "--to", out, "--final-expression", "keep").returncode == 0
    turns = {row["id"]: row["messages"] for row in read_jsonl(out)}["t1"]
    assert turns[2]["content"].endswith("\ndf.shape\n```") and turns[3]["content"] == "Observation:\n(2, 2)"
    assert turns[9]["content"] == "Observation:\nnp.float64(5.0)"


def test_alpaca_history_holds_the_same_conversation(dataset, default_export, tmp_path):
    _, chats, _ = default_export
    assert run_cli("export", "sft", dataset, "--format", "alpaca", "--to", tmp_path / "a.json",
                   "--sandbox", "process").returncode == 0
    alpaca = {row["id"]: row for row in json.loads((tmp_path / "a.json").read_text())}  # .json: one array
    for task_id, messages in chats.items():
        a = alpaca[task_id]
        pairs = a["history"] + [[a["instruction"], a["output"]]]
        assert a["system"] == messages[0]["content"] and a["input"] == ""
        assert [text for pair in pairs for text in pair] == [t["content"] for t in messages[1:]]


TEMPLATE = """---
system: You analyse data.
---
Work in turns of Thought and Action ({action_rule})
Question: {raw_question}
Constraints: {constraints}
Format: {output_format}
Files here: {file_name}
"""


def test_a_template_file_with_bare_file_names_and_raw_actions(dataset, tmp_path):
    (tmp_path / "prompt.md").write_text(TEMPLATE)
    out = tmp_path / "chats.jsonl"
    done = run_cli("export", "sft", dataset, "--to", out, "--template", tmp_path / "prompt.md", "--file-names", "name",
                   "--actions", "raw", "--sandbox", "process")
    assert done.returncode == 0, done.stderr
    chats = {row["id"]: row["messages"] for row in read_jsonl(out)}
    turns = chats["t1"]
    assert turns[0]["content"] == "You analyse data."
    assert turns[1]["content"] == ("Work in turns of Thought and Action (the code to run, as plain Python after "
                                   "`Action: `.)\nQuestion: question of t1\nConstraints: round to two decimals\n"
                                   "Format: @mean_price[value]\nFiles here: sales.csv\n")
    # the file is served by its bare name: the code reads it so, and it ran so in the sandbox
    assert turns[2]["content"] == ('Thought: Load the sales table.\nAction: import pandas as pd\n'
                                   'df = pd.read_csv("sales.csv")\nprint(df.shape)')
    assert turns[3]["content"] == "Observation:\n(2, 2)"
    assert chats["t1"][7]["content"] == "Observation:\n2020-01-02 00:00:00"


def test_a_file_named_other_than_by_a_literal_cannot_be_served_by_name(tmp_path):
    load = 'import os\nimport pandas as pd\ndf = pd.read_csv(os.path.join("..", "data", "sales.csv"))\ndf.shape'
    root = write_dataset(str(tmp_path / "ds"), {"interactive": [solved("t1", False, load=load)]},
                         {"../data/sales.csv": SALES})
    done = run_cli("export", "sft", root, "--to", tmp_path / "c.jsonl", "--file-names", "name")
    assert done.returncode == 0, done.stderr
    assert "note: 1 tasks left out (the code names a data file other than by a string literal" in done.stdout
    assert (tmp_path / "c.jsonl").read_text() == ""


def test_a_verified_task_whose_printed_code_fails_is_left_out(tmp_path):
    broken = solved("t1", True)
    broken.solution[3].python_code = 'df["no such column"].mean()'
    root = write_dataset(str(tmp_path / "ds"), {"interactive": [broken]}, {"../data/sales.csv": SALES})
    done = run_cli("export", "sft", root, "--to", tmp_path / "c.jsonl", "--sandbox", "process")
    assert done.returncode == 0, done.stderr
    assert "note: 1 tasks left out (a printed step did not run in the sandbox (error))" in done.stdout


def test_dataset_info_json_is_written_beside_the_export_and_keeps_other_entries(dataset, tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "other.json"}}))
    assert run_cli("export", "sft", dataset, "--to", tmp_path / "nbqa.jsonl", "--sandbox", "off").returncode == 0
    assert run_cli("export", "sft", dataset, "--format", "alpaca", "--to", tmp_path / "nbqa_alpaca.json",
                   "--sandbox", "off", "--dataset-name", "nbqa-alpaca").returncode == 0
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["other"] == {"file_name": "other.json"}
    assert info["nbqa"]["file_name"] == "nbqa.jsonl" and info["nbqa"]["formatting"] == "sharegpt"
    assert info["nbqa"]["tags"] == {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                    "assistant_tag": "assistant", "system_tag": "system"}
    assert info["nbqa-alpaca"]["file_name"] == "nbqa_alpaca.json" and info["nbqa-alpaca"]["columns"]["history"] == "history"


def test_jupiter_rows_have_nbqa_fields_and_data_files_that_exist(dataset, tmp_path):
    out, files = tmp_path / "jupiter" / "train_sft_data.jsonl", tmp_path / "jupiter" / "files"
    done = run_cli("export", "jupiter", dataset, "--config", "interactive", "--to", out, "--files-dir", files)
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["t1", "t2"]
    for row in rows:
        assert {"task", "file_names", "concepts", "difficulty", "constraints", "format", "answer", "label", "solution",
                "github_repo", "ipynb_name", "data_files", "binary_data_files"} <= set(row)
        assert set(row["solution"][-1]) == {"thought", "label"} and row["solution"][-1]["label"] == row["label"]
        assert all(set(step) == {"thought", "python_code", "code_output"} for step in row["solution"][:-1])
        # JUPITER serves files by bare name: so do data_files and the code
        assert row["data_files"] == [f"{row['id']}/sales.csv"] and row["file_names"] == ["sales.csv"]
        assert 'pd.read_csv("sales.csv")' in row["solution"][0]["python_code"]
        assert (files / row["data_files"][0]).read_bytes() == SALES
        assert row["solution"][0]["python_code"].endswith("\ndf.shape")  # final expressions kept by default


def test_jupiter_rows_with_paths_as_the_code_reads_them(dataset, tmp_path):
    out, files = tmp_path / "rows.jsonl", tmp_path / "files"
    done = run_cli("export", "jupiter", dataset, "--config", "interactive", "--to", out, "--files-dir", files,
                   "--file-names", "path")
    assert done.returncode == 0, done.stderr
    for row in read_jsonl(out):
        assert row["data_files"] == [f"{row['id']}/data/sales.csv"]
        assert (files / row["data_files"][0]).read_bytes() == SALES


def test_bad_input_is_one_line_exit_2(dataset, tmp_path):
    (tmp_path / "bad.md").write_text("Question: {question}\nColumns: {columns}\n")
    for args in (("sft", tmp_path / "missing", "--to", tmp_path / "x.jsonl"),
                 ("jupiter", dataset, "--config", "visualization", "--to", tmp_path / "x.jsonl"),
                 ("sft", dataset, "--config", "files", "--to", tmp_path / "x.jsonl"),
                 ("sft", dataset, "--template", tmp_path / "bad.md", "--to", tmp_path / "x.jsonl"),
                 ("sft", dataset, "--template", tmp_path / "none.md", "--to", tmp_path / "x.jsonl")):
        done = run_cli("export", *args)
        assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    done = run_cli("export", "sft", dataset, "--template", tmp_path / "bad.md", "--to", tmp_path / "x.jsonl")
    assert "unknown placeholder {columns}" in done.stderr
