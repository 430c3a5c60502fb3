"""What the LLM stages send and what they accept back: prompt files, the notebook as the model sees
it, and the pydantic models every reply is validated with (structured output or not)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nbqa_builder.extract.heuristic import outputs_text
from nbqa_builder.records import Notebook
from nbqa_builder.redact.secrets import cut_text

PROMPTS_DIR = Path(__file__).parent / "prompts"
_VERSION_LINE = re.compile(r"^<!--\s*version:\s*(\S+)\s*-->\s*\n")


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str  # recorded on every task (`prompt_version`); change it when the text changes
    text: str


@functools.cache
def load_prompt(name: str) -> Prompt:
    raw = (PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8")
    match = _VERSION_LINE.match(raw)
    if not match:
        raise ValueError(f"prompt {name}.md must start with a `<!-- version: ... -->` line")
    return Prompt(name, match.group(1), raw[match.end():].strip())


def render_notebook(notebook: Notebook, budget_chars: int, output_budget_chars: int) -> str:
    """The notebook with numbered cells, code with its stored outputs (images as `<image>`), cut
    to the budget: cells past it are left out, and the model is told how many."""
    blocks: list[str] = []
    used = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            shown = outputs_text(cell.outputs)
            if len(shown) > output_budget_chars:
                shown = cut_text(shown, output_budget_chars) + "\n... [output truncated]"
            block = f"[cell {index}] code\n{cell.source}\n[cell {index}] output\n{shown or '(no output)'}"
        elif cell.cell_type == "markdown":
            block = f"[cell {index}] markdown\n{cell.source}"
        else:
            continue
        if used + len(block) > budget_chars and blocks:
            blocks.append(f"[... cells {index} to {len(notebook.cells) - 1} are not shown: the notebook is too long]")
            break
        blocks.append(block)
        used += len(block)
    return f"Notebook `{notebook.path}` of repository `{notebook.repo}`:\n\n" + "\n\n".join(blocks)


# ---------------------------------------------------------------------------------------------
# Replies. Extra keys are ignored (models add them); missing or mistyped ones are errors that get
# one repair request.


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ScoreReply(_Reply):
    score: int = Field(ge=1, le=5)
    reason: str = ""


class AnswerItem(_Reply):
    name: str = Field(min_length=1)
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _value_as_text(cls, value: Any) -> Any:
        # models often write numbers as JSON numbers; the label holds their text
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, (int, float)):
            return repr(value)
        return value


class SolutionItem(_Reply):
    cell: int
    thought: str = Field(min_length=1)


class TaskDraft(_Reply):
    question: str = Field(min_length=1)
    concepts: list[str] = []
    difficulty: Literal["easy", "medium", "hard"] = "medium"
    constraints: str = ""
    format: str = ""
    answers: list[AnswerItem] = []
    solution: list[SolutionItem] = Field(min_length=1)
    is_visualization: bool = False
    final_thought: str = ""


class ExtractReply(_Reply):
    tasks: list[TaskDraft]


class Verdict(_Reply):
    task: int
    keep: bool
    reason: str = ""


class ReviewReply(_Reply):
    verdicts: list[Verdict]


def response_format(kind: str, reply_model: type[BaseModel]) -> dict[str, Any] | None:
    """The request's `response_format` for the recipe's switch."""
    if kind == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": reply_model.__name__, "schema": reply_model.model_json_schema(), "strict": False}}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


def parse_reply(content: str | None, reply_model: type[BaseModel]) -> BaseModel:
    """The reply validated; raises ValueError with a message fit to send back for a repair."""
    if not content or not content.strip():
        raise ValueError("the reply was empty")
    fenced = _FENCE.match(content)  # servers without JSON mode often wrap the object in a fence
    text = fenced.group(1) if fenced else content
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc})") from None
    try:
        return reply_model.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError, with every field error listed
        raise ValueError(f"the JSON does not match the expected shape: {exc}") from None
