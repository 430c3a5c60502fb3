"""The rows of the SFT exports (`export sft`): a solved task's chat, laid out for each consumer.

The turns themselves are the agent's turn format (nbqa_builder/turns); this module only lays
them out:

- `messages_row(row, **render)`: OpenAI-style `{"id", "messages": [...]}` (TRL, LLaMA-Factory sharegpt);
- `alpaca_row(row, **render)`: LLaMA-Factory alpaca, earlier turns in `history`;
- `jupiter_row(row, data_files)`: the NbQA fields as JUPITER's scripts read `train_sft_data.jsonl`;
- `llamafactory_entry(file_name, chat_format)`: the `dataset_info.json` entry of an export.

`render` is `chat_turns`' options: `template`, `file_naming`, `action_format`.
"""

from __future__ import annotations

from typing import Any

from nbqa_builder.turns import chat_turns, solution_parts

NBQA_FIELDS = ("task", "file_names", "concepts", "difficulty", "constraints", "format", "answer", "label",
               "solution", "github_repo", "ipynb_name")


def messages_row(row: dict[str, Any], **render: Any) -> dict[str, Any]:
    """OpenAI-style chat: `{"id", "messages": [...]}`; `render`: chat_turns' options."""
    return {"id": row.get("id"), "messages": chat_turns(row, **render)}


def alpaca_row(row: dict[str, Any], **render: Any) -> dict[str, Any]:
    """LLaMA-Factory alpaca with history: earlier (user, assistant) pairs in `history`, the last
    pair as `instruction` and `output`."""
    turns = chat_turns(row, **render)
    pairs = [(turns[i]["content"], turns[i + 1]["content"]) for i in range(1, len(turns) - 1, 2)]
    (instruction, output), history = pairs[-1], [list(pair) for pair in pairs[:-1]]
    return {"id": row.get("id"), "system": turns[0]["content"], "instruction": instruction, "input": "",
            "output": output, "history": history}


def jupiter_row(row: dict[str, Any], data_files: list[str]) -> dict[str, Any]:
    """A row as JUPITER's scripts read `train_sft_data.jsonl`: the NbQA fields; the solution as
    its code steps, each with `thought`, `python_code` and `code_output`, then the last step with
    `thought` and `label` (process_sft.py reads `solution[-2]` as the last code step and joins the
    thoughts as strings); and `data_files`, the task's files relative to a storage folder."""
    code_steps, final, label = solution_parts(row)
    out = {name: row.get(name) for name in NBQA_FIELDS}
    out["solution"] = [{"thought": s.get("thought") or "", "python_code": s["python_code"],
                        "code_output": s.get("code_output") or ""} for s in code_steps]
    out["solution"].append({"thought": final.get("thought") or "", "label": label})
    out["label"] = label
    out["data_files"] = data_files
    out["id"] = row.get("id")
    return out


def llamafactory_entry(file_name: str, chat_format: str) -> dict[str, Any]:
    """The `dataset_info.json` entry that LLaMA-Factory needs to read an export: `messages` rows
    as sharegpt with OpenAI-style role/content tags, `alpaca` rows with their history column."""
    if chat_format == "messages":
        return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant", "system_tag": "system"}}
    return {"file_name": file_name, "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                        "history": "history"}}
