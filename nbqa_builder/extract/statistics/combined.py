"""Statistics built from others: two combined by arithmetic (a ratio, a difference), one rounded,
and a difference of two dates in whole days."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Frame, quote
from nbqa_builder.extract.statistics.base import Statistic, VarOf, answer_name


@dataclass(frozen=True)
class Combine(Statistic):
    """Two statistics (or a statistic and a constant) combined: a ratio, a difference..."""

    op: str  # + - * /
    left: Statistic | Any  # a Statistic or a constant
    right: Statistic | Any
    kind = "arithmetic"
    WORDS = {"+": "plus", "-": "minus", "*": "multiplied by", "/": "divided by"}

    def text(self) -> str:
        return f"{_phrase(self.left)} {self.WORDS[self.op]} {_phrase(self.right)}"

    def expression(self, var_of: VarOf) -> str:
        return f"({_code(self.left, var_of)} {self.op} {_code(self.right, var_of)})"

    def frames(self) -> list[Frame]:
        return [f for side in (self.left, self.right) if isinstance(side, Statistic) for f in side.frames()]

    def columns(self) -> set[Any] | None:
        found: set[Any] = set()
        for side in (self.left, self.right):
            if isinstance(side, Statistic):
                cols = side.columns()
                if cols is None:
                    return None
                found |= cols
        return found

    @property
    def uses_tie_helper(self) -> bool:  # type: ignore[override]
        return any(isinstance(s, Statistic) and s.uses_tie_helper for s in (self.left, self.right))

    def name(self) -> str:
        inner = next((s for s in (self.left, self.right) if isinstance(s, Statistic)), None)
        return answer_name({"/": "ratio", "-": "difference", "+": "total", "*": "product"}[self.op], inner.name() if inner else "")

    def notes(self) -> list[str]:
        return list(dict.fromkeys(n for s in (self.left, self.right) if isinstance(s, Statistic) for n in s.notes()))


def _phrase(side: Any) -> str:
    return f"({side.text()})" if isinstance(side, Statistic) else quote(side)


def _code(side: Any, var_of: VarOf) -> str:
    return side.expression(var_of) if isinstance(side, Statistic) else quote(side)


@dataclass(frozen=True)
class Round(Statistic):
    inner: Statistic
    ndigits: int | None  # None: Python's round(x), to an integer

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.inner.kind

    @property
    def uses_tie_helper(self) -> bool:  # type: ignore[override]
        return self.inner.uses_tie_helper

    def text(self) -> str:
        if self.ndigits is None or self.ndigits == 0:
            return f"{self.inner.text()}, rounded to the nearest integer (halves to even)"
        return f"{self.inner.text()}, rounded to {self.ndigits} decimal places"

    def expression(self, var_of: VarOf) -> str:
        inner = self.inner.expression(var_of)
        return f"round({inner})" if self.ndigits is None else f"round({inner}, {self.ndigits})"

    def frames(self) -> list[Frame]:
        return self.inner.frames()

    def columns(self) -> set[Any] | None:
        return self.inner.columns()

    def name(self) -> str:
        return self.inner.name()

    def notes(self) -> list[str]:
        return self.inner.notes()


@dataclass(frozen=True)
class DaySpan(Statistic):
    """`(df["d"].max() - df["d"].min()).days`: a time difference in whole days."""

    inner: Combine  # a difference of two dates
    kind = "date_span"

    def text(self) -> str:
        return f"the number of whole days (Timedelta.days) in the time from ({_phrase(self.inner.right)[1:-1]}) to ({_phrase(self.inner.left)[1:-1]})"

    def expression(self, var_of: VarOf) -> str:
        return f"{self.inner.expression(var_of)}.days"

    def frames(self) -> list[Frame]:
        return self.inner.frames()

    def columns(self) -> set[Any] | None:
        return self.inner.columns()

    def name(self) -> str:
        return answer_name("days", self.inner.name())

    def notes(self) -> list[str]:
        return self.inner.notes()
