"""Statistics that count rows or values: the rows (that meet a condition), their share, the missing
values of a column, how often a value occurs, and the count or share of every value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Cond, Expr, Frame, quote
from nbqa_builder.extract.statistics.base import COUNTS_NOTE, Statistic, VarOf, answer_name, plain_name


@dataclass(frozen=True)
class RowCount(Statistic):
    frame: Frame

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "count_where" if self.frame.ops else "row_count"

    def text(self) -> str:
        return "the number of rows"

    def expression(self, var_of: VarOf) -> str:
        return f"len({var_of(self.frame)})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def name(self) -> str:
        return "row_count"


@dataclass(frozen=True)
class MissingCount(Statistic):
    frame: Frame
    of: Expr | None  # None: every cell of the frame
    kind = "missing_count"

    def text(self) -> str:
        return "the number of missing values in the whole table" if self.of is None else f"the number of missing values in {self.of.text()}"

    def expression(self, var_of: VarOf) -> str:
        var = var_of(self.frame)
        return f"int({var}.isna().sum().sum())" if self.of is None else f"int({self.of.code(var)}.isna().sum())"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None if self.of is None else self.of.columns()

    def name(self) -> str:
        return "missing_values" if self.of is None else answer_name("missing", plain_name(self.of))


@dataclass(frozen=True)
class CountWhere(Statistic):
    frame: Frame
    cond: Cond
    kind = "count_where"

    def text(self) -> str:
        return f"the number of rows where {self.cond.text()}"

    def expression(self, var_of: VarOf) -> str:
        return f"int({self.cond.code(var_of(self.frame))}.sum())"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.cond.columns()

    def name(self) -> str:
        return answer_name("count", *sorted(map(str, self.cond.columns()))[:2])


@dataclass(frozen=True)
class ShareWhere(Statistic):
    frame: Frame
    cond: Cond
    percent: bool = False
    kind = "share_where"

    def text(self) -> str:
        if self.percent:
            return f"the percentage of rows (0 to 100) where {self.cond.text()}"
        return f"the fraction of rows (0 to 1) where {self.cond.text()}"

    def expression(self, var_of: VarOf) -> str:
        share = f"{self.cond.code(var_of(self.frame))}.mean()"
        return f"({share} * 100)" if self.percent else share

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.cond.columns()

    def name(self) -> str:
        return answer_name("percent" if self.percent else "share", *sorted(map(str, self.cond.columns()))[:2])

    def notes(self) -> list[str]:
        return ["Every row counts in the total; a row whose value is missing does not meet the condition."]


@dataclass(frozen=True)
class ValueCount(Statistic):
    frame: Frame
    of: Expr
    value: Any
    normalize: bool = False

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "share_where" if self.normalize else "count_where"

    def text(self) -> str:
        if self.normalize:
            return f"the fraction (0 to 1) of the non-missing values of {self.of.text()} that equal {quote(self.value)}"
        return f"the number of rows where {self.of.text()} equals {quote(self.value)}"

    def expression(self, var_of: VarOf) -> str:
        counts = f"{self.of.code(var_of(self.frame))}.value_counts({'normalize=True' if self.normalize else ''})"
        return f"{counts}.get({quote(self.value)}, 0)"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("share" if self.normalize else "count", plain_name(self.of), self.value)


@dataclass(frozen=True)
class ValueCounts(Statistic):
    """`s.value_counts()` shown whole: the count (or share) of each value."""

    frame: Frame
    of: Expr
    normalize: bool = False
    kind = "value_counts"

    def text(self) -> str:
        if self.normalize:
            return f"the fraction (0 to 1) of the non-missing values of {self.of.text()} taken by each of its values"
        return f"the number of rows for each value of {self.of.text()}"

    def expression(self, var_of: VarOf) -> str:
        return f"{self.of.code(var_of(self.frame))}.value_counts({'normalize=True' if self.normalize else ''})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("share" if self.normalize else "count", plain_name(self.of))

    def entry_name(self, label: str) -> str | None:
        return answer_name("share" if self.normalize else "count", plain_name(self.of), label)

    def multi(self) -> bool:
        return True

    def notes(self) -> list[str]:
        return [COUNTS_NOTE]

    def label_phrase(self) -> str:
        return f"the value of {self.of.text()}"

    def value_phrase(self) -> str:
        return "share of the non-missing values" if self.normalize else "number of rows"


@dataclass(frozen=True)
class ValueShares(Statistic):
    """`s.value_counts(normalize=True)` or `s.value_counts() / len(df)`: the share of each value."""

    frame: Frame
    of: Expr
    of_rows: bool = False  # divided by the number of rows (missing values count) rather than of values
    kind = "value_shares"

    def text(self) -> str:
        x = self.of.text()
        if self.of_rows:
            return (f"for each value of {x}, the fraction (0 to 1) of all rows where {x} equals it "
                    f"(the rows where {x} is missing count in the whole)")
        return f"for each value of {x}, the fraction (0 to 1) of the non-missing values of {x} that equal it"

    def expression(self, var_of: VarOf) -> str:
        var = var_of(self.frame)
        if self.of_rows:
            return f"{self.of.code(var)}.value_counts() / len({var})"
        return f"{self.of.code(var)}.value_counts(normalize=True)"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("shares", plain_name(self.of))

    def entry_name(self, label: str) -> str | None:
        return answer_name("share", plain_name(self.of), label)

    def multi(self) -> bool:
        return True
