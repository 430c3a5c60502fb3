"""The conversation of a search node, in the turn format of `export sft` (publish/chat.py), and
the parsing of what the policy replies.

A model trained on our exports is searched with the prompt it was trained on: the same system
turn, the same first user turn (instructions, then Question / Constraints / Format / Available
Local Files), assistant turns `Thought: ...` + `Action:` with one fenced python block, user turns
`Observation:`, and an answer turn `Thought: ...` + `Formatted answer: ...`. The first user turn
can come from a template file of the user's (`load_template`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbqa_builder.publish.chat import INSTRUCTIONS, SYSTEM_PROMPT, local_files
from nbqa_builder.search.tree import Node

# the default first user turn; a template file holds the same placeholders
DEFAULT_TEMPLATE = INSTRUCTIONS + """
### Task
Question: {question}
Constraints: {constraints}
Format: {format}
Available Local Files: {files}
"""
PLACEHOLDERS = ("question", "constraints", "format", "files")


def load_template(path: str | None) -> str:
    """The first user turn's template: the default, or a file of the user's with `{question}`,
    `{constraints}`, `{format}` and `{files}` placeholders (other braces doubled, as in
    `str.format`)."""
    if path is None:
        return DEFAULT_TEMPLATE
    text = Path(path).read_text(encoding="utf-8")
    try:
        text.format(**{name: "" for name in PLACEHOLDERS})
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{path}: not a prompt template ({type(exc).__name__}: {exc}); it may use "
                         f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}, other braces doubled") from None
    return text


def first_turns(task: dict[str, Any], template: str, bare_file_names: bool = False) -> list[dict[str, str]]:
    """The system turn and the first user turn of a task row."""
    files = local_files(task)
    if bare_file_names:
        files = [Path(f.replace("\\", "/")).name for f in files]
    user = template.format(question=task.get("task") or "", constraints=task.get("constraints") or "none",
                           format=task.get("format") or "none", files=", ".join(files) or "none")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def step_turns(node: Node) -> list[dict[str, str]]:
    """A node's own turns: its assistant turn, and the observation of its cell."""
    thought = f"Thought: {node.thought or ''}"
    if node.answer is not None:
        return [{"role": "assistant", "content": f"{thought}\nFormatted answer: {node.answer}"}]
    if node.code is None:
        return [{"role": "assistant", "content": node.reply}]
    turns = [{"role": "assistant", "content": f"{thought}\nAction:\n```python\n{node.code.rstrip()}\n```"}]
    if node.observation is not None:
        turns.append({"role": "user", "content": f"Observation:\n{node.observation}"})
    return turns


def conversation(first: list[dict[str, str]], node: Node) -> list[dict[str, str]]:
    """The messages from the system turn to `node`, its own turns included."""
    turns = list(first)
    for step in node.path():
        turns += step_turns(step)
    return turns


@dataclass
class Step:
    """A policy reply, read: an answer, or a thought and one cell of code; `problem` when neither."""

    thought: str | None = None
    code: str | None = None
    answer: str | None = None
    problem: str | None = None  # "parse_failure" | "no_code"


_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n?(.*?)```", re.S | re.I)
_THOUGHT = re.compile(r"thought:\s*(.*?)(?=\n\s*(?:action:|formatted answer:)|\Z)", re.S | re.I)
_ACTION = re.compile(r"action:\s*(.*)", re.S | re.I)


def parse_reply(text: str) -> Step:
    """Read a reply as JUPITER's search does: `Formatted answer:` ends the branch with an answer;
    otherwise a `Thought:`/`Action:` reply must hold one python block (fenced, or the raw code
    after `Action:`); the first block is the cell."""
    thought_match = _THOUGHT.search(text)
    thought = thought_match.group(1).strip() if thought_match else None
    if "formatted answer:" in text.lower():
        answer = re.split(r"(?i)formatted answer:", text)[-1].strip()
        return Step(thought=thought, answer=answer) if answer else Step(thought=thought, problem="parse_failure")
    if thought_match is None and "action:" not in text.lower():
        return Step(problem="parse_failure")
    fenced = _FENCE.search(text)
    if fenced:
        code = fenced.group(1).strip("\n")
    else:
        action = _ACTION.search(text)
        code = action.group(1).strip() if action else ""
    if not code.strip():
        return Step(thought=thought, problem="no_code")
    return Step(thought=thought, code=code)
