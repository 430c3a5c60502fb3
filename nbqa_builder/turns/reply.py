"""Reading what a policy model replies: a `Thought:` and one cell of code, or a `Formatted answer:`.

The search and the blind solver read every reply with `parse_reply`, as JUPITER's inference does
(see its docstring for what counts as a parse failure); in infer mode the policy is then told
what was wrong in JUPITER's words (`corrective_observation`).

    step = parse_reply(reply_text, action_format="fenced")   # Step(thought, code, answer, problem)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbqa_builder.notebooks.code import parse_python


@dataclass
class Step:
    """A policy reply, read: an answer, or a thought and one cell of code; `problem` when neither."""

    thought: str | None = None
    code: str | None = None
    answer: str | None = None
    problem: str | None = None  # "parse_failure" | "no_code"


# JUPITER's block: ```python, the code, ``` (a bare or other-language fence is no block)
_FENCE = re.compile(r"```python\s*(.*?)```", re.S)
_THOUGHT = re.compile(r"thought:\s*(.*?)(?=\n\s*(?:action:|formatted answer:)|\Z)", re.S | re.I)
_ACTION = re.compile(r"action:\s*(.*)", re.S | re.I)


def parse_reply(text: str, action_format: str = "fenced") -> Step:
    """Read a reply as JUPITER's search does: `Formatted answer:` ends the branch with an answer;
    otherwise a `Thought:`/`Action:` reply must hold one well-formed python block, the first of
    which is the cell. Fenced actions need a ```python block closed by ```: prose after `Action:`,
    a bare fence or a reply cut inside its block is a parse failure, as in JUPITER. Raw actions
    (`export sft --actions raw`, JUPITER's process_sft.py) are the text after `Action:`, or its
    ```python block, and must be Python: prose there is a parse failure too. An empty block has
    no code."""
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
    elif action_format == "raw" and (action := _ACTION.search(text)) and "```" not in action.group(1):
        code = action.group(1).strip()
        if code and not _is_python(code):
            return Step(thought=thought, problem="parse_failure")
    else:
        return Step(thought=thought, problem="parse_failure")
    if not code.strip():
        return Step(thought=thought, problem="no_code")
    return Step(thought=thought, code=code)


def _is_python(code: str) -> bool:
    try:
        parse_python(code)
    except (SyntaxError, ValueError):
        return False
    return True


def corrective_observation(kind: str, action_format: str = "fenced", status: str = "", output: str = "") -> str:
    """What the policy is told about a failed step in infer mode, in the words of JUPITER's
    inference (its observations for a reply without Thought/Action, an empty block, no block, and
    a failed execution); `kind` is a failure kind of search/tree.py."""
    if kind == "no_code":
        return "You need to provide a non-empty python code snippet" + _WRAPPED[action_format] + "."
    if kind in ("sandbox_failure", "timeout"):
        return f"Code execution failed with status: {status}" + (f"\n{output}" if output else "")
    return ("You response should contain both 'Thought:' and 'Action:' sections, the action a valid python code "
            "snippet" + _WRAPPED[action_format] + ".")


_WRAPPED = {"fenced": " wrapped in triple backticks (```python ... ```)", "raw": " after `Action: `"}
