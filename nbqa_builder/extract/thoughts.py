"""Model-written thoughts, checked like data: no code in them, no number the solution never showed.

The code of a solution is the notebook's own, so code a model writes into a thought is removed
(`without_code`). A number in a thought must be one that the code or the stored outputs of the
solution's cells up to that step show, possibly rounded (`5.4` for `5.41339`, `54%` for
`0.5413`); a thought with any other number is model-made, and the task is dropped
(`invented_number_in_thought`, see `invented_number`).
"""

from __future__ import annotations

import math
import re

from nbqa_builder.extract.heuristic import outputs_text
from nbqa_builder.records import Notebook, Task

INVENTED_NUMBER = "invented_number_in_thought"

_FENCED = re.compile(r"```.*?(?:```|\Z)", re.S)  # an unclosed fence runs to the end
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


def without_code(thought: str | None) -> str:
    """The thought without fenced code blocks, spaces tidied."""
    if not thought:
        return ""
    return " ".join(_FENCED.sub(" ", thought).split())


def numbers_in(text: str) -> list[tuple[float, int]]:
    """(value, decimals written) for each number in `text` (thousands separators allowed)."""
    found = []
    for match in _NUMBER.finditer(text):
        literal = match.group().replace(",", "")
        try:
            value = float(literal)
        except ValueError:
            continue
        mantissa = literal.lower().split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        if math.isfinite(value):
            found.append((value, decimals))
    return found


def _shown(number: float, decimals: int, known: list[float]) -> bool:
    """Whether a number written with `decimals` places is one of `known`, rounded (or as a percent)."""
    tolerance = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(x - number) <= tolerance or abs(100 * x - number) <= tolerance for x in known)


def invented_number(notebook: Notebook, task: Task, written: set[int]) -> str | None:
    """`invented_number_in_thought` when a model-written thought (the steps at positions
    `written`) states a number the solution does not show: a step may use the code and outputs of
    the cells up to its own, the final step those of every cell."""
    known: list[float] = []
    for position, step in enumerate(task.solution):
        if position < len(task.cells) and 0 <= task.cells[position] < len(notebook.cells):
            cell = notebook.cells[task.cells[position]]
            known += [v for v, _ in numbers_in(cell.source + "\n" + outputs_text(cell.outputs))]
        if position in written and any(not _shown(v, d, known) for v, d in numbers_in(step.thought or "")):
            return INVENTED_NUMBER
    return None
