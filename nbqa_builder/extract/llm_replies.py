"""What extraction's LLM stages send and accept back: its prompt files (extract/prompts/, each
with its version line), the notebook as the model sees it, and the pydantic models its replies are
validated with (llm/prompts.py loads the prompts and validates the replies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nbqa_builder.extract.heuristic import outputs_text
from nbqa_builder.records import Notebook
from nbqa_builder.redact.secrets import cut_text

PROMPTS_DIR = Path(__file__).parent / "prompts"  # score.md, extract.md, review.md


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
