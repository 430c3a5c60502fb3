"""Rendering a task as Thought / Action / Observation / Formatted answer turns.

The chat follows JUPITER's turn format (NBQA.md, "SFT format"): a system turn; a user turn with the
instructions and Question / Constraints / Format / Available Local Files (template.py); per
solution step an assistant turn `Thought: ...` then `Action:` with the code, answered by a user
turn `Observation:` with what the code showed; a last assistant turn `Thought: ...` and
`Formatted answer: <label>`.

    turns = first_turns(task_row, template, file_naming="path", action_format="fenced")
    turns.append(action_turn(thought, code, action_format="fenced"))
    turns.append(observation_turn(cut_observation(outputs_as_text(cell_run.outputs))))  # notebooks/parse.py
    turns.append(answer_turn(thought, "@mean[5.0]"))

- `task_files(row, file_naming) -> list[str]`: the files as the consumer serves them: `path`, as
  the solution's code reads them (`../data/sales.csv`, our sandbox and search); `name`, bare names
  in one folder (`sales.csv`, JUPITER's SandboxFusion uploads and DABench tables).
- `first_turns(row, template=None, file_naming="path", action_format="fenced")`: system + user.
- `action_turn(thought, code, action_format)`: `fenced` puts the code in a ```python block (what
  JUPITER's inference parses), `raw` writes it after `Action: ` as JUPITER's process_sft.py does.
- `observation_turn(text)`, `answer_turn(thought, answer)`; `cut_observation(text)`: an output cut
  at `MAX_OBSERVATION_CHARS`, as solution steps store them.
- `solution_parts(row)`, `chat_turns(row, ...)`: a whole solved task; `NotTrainable` when it has
  no code step or no label.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from nbqa_builder.turns.template import ACTION_FORMATS, PromptTemplate, load_template

FILE_NAMINGS = ("path", "name")
MAX_OBSERVATION_CHARS = 2000  # as solution steps store outputs (extract/heuristic.py)


class NotTrainable(ValueError):
    """A task that cannot become a training row (the reason is the message)."""


def task_files(row: dict[str, Any], file_naming: str = "path") -> list[str]:
    """The task's files as the consumer serves them: `path` as the solution's code reads them
    (`data_files` paths, else the NbQA `file_names`); `name` by bare name."""
    if file_naming not in FILE_NAMINGS:
        raise ValueError(f"file_naming must be one of {FILE_NAMINGS}, not {file_naming!r}")
    paths = [f["path"] for f in row.get("data_files") or []] or list(row.get("file_names") or [])
    if file_naming == "name":
        return [bare_name(p) for p in paths]
    return paths


def bare_name(path: str) -> str:
    """The last part of a path as written (POSIX or Windows separators)."""
    return PurePosixPath(path.replace("\\", "/")).name or path


def first_turns(row: dict[str, Any], template: PromptTemplate | None = None, file_naming: str = "path",
                action_format: str = "fenced") -> list[dict[str, str]]:
    """The system turn and the first user turn of a task."""
    template = template or load_template()
    user = template.render(row.get("task") or "", row.get("constraints") or "", row.get("format") or "",
                           task_files(row, file_naming), action_format)
    return [{"role": "system", "content": template.system}, {"role": "user", "content": user}]


def action_turn(thought: str | None, code: str, action_format: str = "fenced") -> dict[str, str]:
    """An assistant turn that runs code."""
    if action_format == "fenced":
        return {"role": "assistant", "content": f"Thought: {thought or ''}\nAction:\n```python\n{code.rstrip()}\n```"}
    if action_format == "raw":
        return {"role": "assistant", "content": f"Thought: {thought or ''}\nAction: {code}"}
    raise ValueError(f"action_format must be one of {ACTION_FORMATS}, not {action_format!r}")


def observation_turn(observation: str | None) -> dict[str, str]:
    """The user turn that answers an action with what its code showed."""
    return {"role": "user", "content": f"Observation:\n{observation or ''}"}


def cut_observation(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    """A cell's output as an observation: cut at `limit` characters, marked so."""
    return text if len(text) <= limit else text[:limit] + "\n... [output truncated]"


def answer_turn(thought: str | None, answer: str) -> dict[str, str]:
    """The last assistant turn."""
    return {"role": "assistant", "content": f"Thought: {thought or ''}\nFormatted answer: {answer}"}


def solution_parts(row: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """(code steps, final step, label) of a task that can become a chat; NotTrainable otherwise."""
    steps = row.get("solution") or []
    code_steps = [s for s in steps if s.get("python_code")]
    final = steps[-1] if steps else {}
    label = final.get("label") or row.get("label")
    if not code_steps:
        raise NotTrainable("no code steps")
    if not label:
        raise NotTrainable("no label")
    return code_steps, final, label


def chat_turns(row: dict[str, Any], template: PromptTemplate | None = None, file_naming: str = "path",
               action_format: str = "fenced") -> list[dict[str, str]]:
    """The whole conversation as `{"role", "content"}` turns, system turn first."""
    code_steps, final, label = solution_parts(row)
    turns = first_turns(row, template, file_naming, action_format)
    for step in code_steps:
        turns.append(action_turn(step.get("thought"), step["python_code"], action_format))
        turns.append(observation_turn(step.get("code_output")))
    turns.append(answer_turn(final.get("thought"), label))
    return turns
