"""What every statistic shares: the `Statistic` interface, answer names, the notes that pin a method
down, the aggregations a question can name, and the reference program that computes any statistic
(`program`)."""

from __future__ import annotations

import re
from typing import Any, Callable

from nbqa_builder.extract.spec import Col, Expr, Frame, Namer, quote

VarOf = Callable[[Frame], str]  # the program variable that holds a frame

MISSING_NOTE = "Statistics leave out missing values, as pandas does by default."
COUNTS_NOTE = "Missing values are not counted as a value."

# what a reference program's own check raises when several entries share the top: verify reads it
# as a tie (the notebook's value was one of several right answers), not as an error
TIE_MESSAGE = "several entries share the largest value"
TIE_HELPER = '''def single_top(values, largest=True):
    """The index label of the largest (or smallest) value; a tie has no single answer."""
    best = values.max() if largest else values.min()
    winners = values[values == best]
    if len(winners) != 1:
        raise SystemExit(f"no single answer: {len(winners)} labels tie")
    return winners.index[0]
'''


def answer_name(*parts: Any) -> str:
    """A name for `@name[...]`: word characters, lower case, at most 48 characters."""
    return re.sub(r"\W+", "_", "_".join(str(p) for p in parts if p != "")).strip("_").lower()[:48] or "value"


def plain_name(expr: Expr) -> str:
    """A column's name for an answer name, or `value` for an expression."""
    return str(expr.name) if isinstance(expr, Col) else "value"


class Statistic:
    kind: str = ""
    uses_tie_helper = False
    helper: str = ""  # a function the reference program defines before it computes the statistic

    def text(self) -> str:
        raise NotImplementedError

    def expression(self, var_of: VarOf) -> str:
        raise NotImplementedError

    def frames(self) -> list[Frame]:
        raise NotImplementedError

    def columns(self) -> set[Any] | None:
        return set()

    def name(self) -> str:
        raise NotImplementedError

    def notes(self) -> list[str]:
        return []

    def multi(self) -> bool:
        """Whether it gives several answers (a Series: one answer per entry)."""
        return False


# aggregation -> (noun phrase with {x}, pandas method call, note)
AGGREGATIONS: dict[str, tuple[str, str, str]] = {
    "mean": ("the mean of {x}", "mean()", MISSING_NOTE),
    "median": ("the median of {x}", "median()", MISSING_NOTE),
    "sum": ("the sum of {x}", "sum()", MISSING_NOTE),
    "min": ("the minimum of {x}", "min()", MISSING_NOTE),
    "max": ("the maximum of {x}", "max()", MISSING_NOTE),
    "count": ("the number of non-missing values of {x}", "count()", ""),
    "nunique": ("the number of distinct values of {x}", "nunique()", "Missing values are not counted as a distinct value."),
    "nunique_all": ("the number of distinct values of {x}", "nunique(dropna=False)", "A missing value counts as one distinct value."),
    "std": ("the standard deviation of {x}", "std(ddof={ddof})", ""),
    "var": ("the variance of {x}", "var(ddof={ddof})", ""),
    "sem": ("the standard error of the mean of {x}", "sem(ddof={ddof})", ""),
    "skew": ("the skewness of {x}", "skew()", "The skewness is pandas' `skew()`: the adjusted Fisher-Pearson coefficient (bias-corrected)."),
    "kurt": ("the excess kurtosis of {x}", "kurt()", "The kurtosis is pandas' `kurt()`: Fisher's excess kurtosis, bias-corrected."),
    "prod": ("the product of {x}", "prod()", MISSING_NOTE),
    "quantile": ("the {q} quantile of {x}", "quantile({q})", "Quantiles interpolate linearly between values (pandas' default)."),
}
DEVIATIONS = ("std", "var", "sem")


def program(stat: Statistic, printers: list[str], entry_names: dict[str, str] | None = None) -> str:
    """A program that prepares every frame the statistic reads, computes it and prints the answer:
    `printers` are f-string bodies for `print()`, one per answer (`value` is the statistic); for
    several answers (`entry_names`: entry label -> answer name), one line per entry of the Series."""
    namer = Namer()
    names: dict[Frame, str] = {}
    lines = ["import numpy as np", "import pandas as pd", ""]
    if stat.uses_tie_helper:
        lines += [TIE_HELPER]
    if stat.helper:
        lines += [stat.helper]
    for frame in stat.frames():
        if frame not in names:
            var = names[frame] = namer.next()
            lines += frame.code(var, namer)
    lines.append(f"value = {stat.expression(names.__getitem__)}")
    if entry_names is None:
        lines += [f"print(f{quote(p)})" for p in printers]
    else:
        (printer,) = printers
        lines += [f"names = {quote(entry_names)}",
                  "for label, entry in value.items():",
                  "    if str(label) in names:",
                  f"        print(f{quote(printer)})"]
    return "\n".join(lines) + "\n"
