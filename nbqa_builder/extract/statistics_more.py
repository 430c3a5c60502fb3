"""Statistics of more spec operations (issue 25): several aggregations of one column, the share
of each value, missing values per column, the row labels (unique? the largest?), and date spans in
days. Each renders its question phrase and its pandas expression together, like those of
extract/statistics.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Expr, Frame, quote
from nbqa_builder.extract.statistics import Agg, Combine, Statistic, VarOf, _phrase, _plain, answer_name


@dataclass(frozen=True)
class AggMany(Statistic):
    """`s.agg(["mean", "max"])`: several aggregations of one column, one answer each."""

    frame: Frame
    of: Expr
    methods: tuple  # keys of AGGREGATIONS
    kind = "aggregations"

    def text(self) -> str:
        phrases = [Agg(self.frame, self.of, m).text().replace(f" of {self.of.text()}", "") for m in self.methods]
        listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        return f"{listed} of {self.of.text()}"

    def expression(self, var_of: VarOf) -> str:
        return f"{self.of.code(var_of(self.frame))}.agg({quote(list(self.methods))})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("agg", _plain(self.of))

    def entry_name(self, label: str) -> str | None:
        return answer_name(label, _plain(self.of)) if label in self.methods else None

    def multi(self) -> bool:
        return True

    def notes(self) -> list[str]:
        return list(dict.fromkeys(n for m in self.methods for n in Agg(self.frame, self.of, m).notes()))



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
        return answer_name("shares", _plain(self.of))

    def entry_name(self, label: str) -> str | None:
        return answer_name("share", _plain(self.of), label)

    def multi(self) -> bool:
        return True



@dataclass(frozen=True)
class MissingPerColumn(Statistic):
    """`df.isna().sum()`: the number of missing values of each column."""

    frame: Frame
    kind = "missing_count"

    def text(self) -> str:
        return "the number of missing values in each column"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.isna().sum()"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

    def name(self) -> str:
        return "missing_per_column"

    def entry_name(self, label: str) -> str | None:
        return answer_name("missing", label)

    def multi(self) -> bool:
        return True

    def label_phrase(self) -> str:
        return "the column"

    def value_phrase(self) -> str:
        return "number of missing values"



@dataclass(frozen=True)
class IndexUnique(Statistic):
    """`df.index.is_unique`: whether no row label repeats."""

    frame: Frame
    kind = "index_unique"

    def text(self) -> str:
        return "the truth value (True or False) of the statement that no row label (index value) repeats"

    def expression(self, var_of: VarOf) -> str:
        return f"bool({var_of(self.frame)}.index.is_unique)"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def name(self) -> str:
        return "index_is_unique"



@dataclass(frozen=True)
class IndexExtreme(Statistic):
    """`df.index.max()`: the largest (or smallest) row label, such as the last date of a dated index."""

    frame: Frame
    largest: bool = True
    kind = "index_extreme"

    def text(self) -> str:
        return f"the {'largest' if self.largest else 'smallest'} row label (index value)"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.index.{'max' if self.largest else 'min'}()"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def name(self) -> str:
        return "index_max" if self.largest else "index_min"



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


@dataclass(frozen=True)
class Plotted(Statistic):
    """A column (or an expression over columns) as a chart draws it: one bar or point per row,
    labelled by the row labels, or the values a histogram counts (extract/charts.py)."""

    frame: Frame
    of: Expr
    kind = "plotted"

    def text(self) -> str:
        return self.of.text()

    def expression(self, var_of: VarOf) -> str:
        return self.of.code(var_of(self.frame))

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("values", _plain(self.of))


@dataclass(frozen=True)
class PlottedPairs(Statistic):
    """Two columns of one frame as a scatter plot draws them: one point per row where both are
    present (extract/charts.py)."""

    frame: Frame
    x: Expr
    y: Expr
    kind = "plotted_pairs"

    def text(self) -> str:
        return f"{self.y.text()} against {self.x.text()}"

    def expression(self, var_of: VarOf) -> str:
        var = var_of(self.frame)
        return f"pd.DataFrame({{'x': {self.x.code(var)}, 'y': {self.y.code(var)}}})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.x.columns() | self.y.columns()

    def name(self) -> str:
        return answer_name("points", _plain(self.y), "by", _plain(self.x))
