"""Tasks as training rows: JUPITER's `train_sft_data.jsonl` and multi-turn SFT chats.

The chat follows JUPITER's turn format (NBQA.md, "SFT format"): a system turn "You are a helpful
assistant."; a user turn with the instructions and Question / Constraints / Format / Available
Local Files; per solution step an assistant turn `Thought: ...` then `Action:` with a fenced python
block, answered by a user turn `Observation:` with the step's output; a last assistant turn
`Thought: ...` and `Formatted answer: <label>`.
"""

from __future__ import annotations

from typing import Any

SYSTEM_PROMPT = "You are a helpful assistant."

INSTRUCTIONS = """Solve the data analysis task below. On each turn you may run Python code in a sandbox and see its output.

On each turn, write a Thought and an Action:

Thought: your reasoning about what to do next, given what you have seen so far.
Action: the code to run, in one block fenced with ```python and ```.

The user replies with an Observation: the output of your code. When you know the answer, finish with:

Thought: your final reasoning.
Formatted answer: the answer, following the constraints and the format of the task.

Notes:
- Never write the Observation yourself; stop after the Action.
- Print what you want to see: call print() for every output, e.g. print(df.head()).
- Write any file you create to the current folder.
"""

NBQA_FIELDS = ("task", "file_names", "concepts", "difficulty", "constraints", "format", "answer", "label",
               "solution", "github_repo", "ipynb_name")


class NotTrainable(ValueError):
    """A task that cannot become a training row (the reason is the message)."""


def local_files(row: dict[str, Any]) -> list[str]:
    """The files as the solution's code reads them (`data_files` paths), else the NbQA `file_names`."""
    return [f["path"] for f in row.get("data_files") or []] or list(row.get("file_names") or [])


def task_prompt(row: dict[str, Any]) -> str:
    files = ", ".join(local_files(row)) or "none"
    return (f"{INSTRUCTIONS}\n### Task\nQuestion: {row.get('task') or ''}\nConstraints: {row.get('constraints') or 'none'}\n"
            f"Format: {row.get('format') or 'none'}\nAvailable Local Files: {files}\n")


def chat_turns(row: dict[str, Any]) -> list[dict[str, str]]:
    """The whole conversation as `{"role", "content"}` turns, system turn first."""
    steps = row.get("solution") or []
    code_steps = [s for s in steps if s.get("python_code")]
    final = steps[-1] if steps else {}
    label = final.get("label") or row.get("label")
    if not code_steps:
        raise NotTrainable("no code steps")
    if not label:
        raise NotTrainable("no label")
    turns = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task_prompt(row)}]
    for step in code_steps:
        turns.append({"role": "assistant",
                      "content": f"Thought: {step.get('thought') or ''}\nAction:\n```python\n{step['python_code'].rstrip()}\n```"})
        turns.append({"role": "user", "content": f"Observation:\n{step.get('code_output') or ''}"})
    turns.append({"role": "assistant", "content": f"Thought: {final.get('thought') or ''}\nFormatted answer: {label}"})
    return turns


def messages_row(row: dict[str, Any]) -> dict[str, Any]:
    """OpenAI-style chat: `{"id", "messages": [...]}`."""
    return {"id": row.get("id"), "messages": chat_turns(row)}


def alpaca_row(row: dict[str, Any]) -> dict[str, Any]:
    """LLaMA-Factory alpaca with history: earlier (user, assistant) pairs in `history`, the last
    pair as `instruction` and `output`."""
    turns = chat_turns(row)
    pairs = [(turns[i]["content"], turns[i + 1]["content"]) for i in range(1, len(turns) - 1, 2)]
    (instruction, output), history = pairs[-1], [list(pair) for pair in pairs[:-1]]
    return {"id": row.get("id"), "system": turns[0]["content"], "instruction": instruction, "input": "",
            "output": output, "history": history}


def jupiter_row(row: dict[str, Any], data_files: list[str]) -> dict[str, Any]:
    """A row as JUPITER's scripts read `train_sft_data.jsonl`: the NbQA fields, each solution step
    with only the keys it has (the last: `thought` and `label`), and `data_files`, the task's files
    relative to a storage folder."""
    if not row.get("solution"):
        raise NotTrainable("no solution")
    out = {name: row.get(name) for name in NBQA_FIELDS}
    out["solution"] = [{key: value for key, value in step.items() if value is not None} for step in row["solution"]]
    out["data_files"] = data_files
    out["id"] = row.get("id")
    return out
