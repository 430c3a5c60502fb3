"""Statistics of a whole table: its shape, one value per column (missing values, distinct values,
an aggregate), totals over every cell, the strongest correlation, and cells named by their labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Col, Frame, column, quote
from nbqa_builder.extract.statistics.base import AGGREGATIONS, MISSING_NOTE, Statistic, VarOf, answer_name


@dataclass(frozen=True)
class TableStatistic(Statistic):
    """The base of every statistic of this module: one table (`frame`), of which it reads every
    column (`columns()` None) unless a subclass names the ones it reads."""

    frame: Frame

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None


@dataclass(frozen=True)
class ColumnCount(TableStatistic):
    kind = "column_count"

    def text(self) -> str:
        return "the number of columns"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.shape[1]"

    def name(self) -> str:
        return "column_count"


@dataclass(frozen=True)
class Shape(TableStatistic):
    """`df.shape`: the number of rows and of columns."""

    kind = "shape"

    def text(self) -> str:
        return "the number of rows and the number of columns"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.shape"

    def name(self) -> str:
        return "shape"


@dataclass(frozen=True)
class NonNullCounts(TableStatistic):
    """What `df.info()` prints that is an answer: the rows, and the non-null count of the columns
    that have missing values (a complete column's count is the row count again)."""

    of: tuple  # column labels
    kind = "non_null_counts"

    def text(self) -> str:
        counts = ", ".join(f"of {column(name)}" for name in self.of)
        return f"the number of rows, and the number of non-missing values {counts}"

    def expression(self, var_of: VarOf) -> str:
        return var_of(self.frame)

    def name(self) -> str:
        return "non_null_counts"


@dataclass(frozen=True)
class MissingPerColumn(TableStatistic):
    """`df.isna().sum()`: the number of missing values of each column."""

    kind = "missing_count"

    def text(self) -> str:
        return "the number of missing values in each column"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.isna().sum()"

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
class FrameNunique(TableStatistic):
    """`df.nunique()`: the number of distinct values of each column."""

    kind = "nunique"

    def text(self) -> str:
        return "the number of distinct values of each column"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.nunique()"

    def name(self) -> str:
        return "nunique"

    def entry_name(self, label: str) -> str | None:
        return answer_name("nunique", label)

    def multi(self) -> bool:
        return True

    def notes(self) -> list[str]:
        return ["Missing values are not counted as a distinct value."]

    def label_phrase(self) -> str:
        return "the column"

    def value_phrase(self) -> str:
        return "number of distinct values"


FRAME_AGGREGATIONS = ("mean", "median", "sum", "min", "max", "std", "count")


@dataclass(frozen=True)
class FrameAgg(TableStatistic):
    """`df.mean()`, `df.count()`...: one aggregate per column (per numeric column, except for
    `count`: old pandas left the other columns out silently, pandas 2 needs `numeric_only`)."""

    method: str  # one of FRAME_AGGREGATIONS

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"{self.method}_per_column"

    def phrase(self) -> str:
        phrase = AGGREGATIONS[self.method][0].format(x="", q=None).removeprefix("the ").removesuffix(" of ")
        return phrase + (" (sample, denominator n - 1)" if self.method == "std" else "")

    def text(self) -> str:
        if self.method == "count":
            return "the number of non-missing values of each column"
        return f"the {self.phrase()} of each numeric column"

    def expression(self, var_of: VarOf) -> str:
        numeric = "" if self.method == "count" else "numeric_only=True"
        return f"{var_of(self.frame)}.{self.method}({numeric})"

    def name(self) -> str:
        return answer_name(self.method, "per_column")

    def entry_name(self, label: str) -> str | None:
        return answer_name("non_missing" if self.method == "count" else self.method, label)

    def multi(self) -> bool:
        return True

    def notes(self) -> list[str]:
        note = AGGREGATIONS[self.method][2]
        return [note] if note else []

    def label_phrase(self) -> str:
        return "the column" if self.method == "count" else "the numeric column"

    def value_phrase(self) -> str:
        return "number of non-missing values" if self.method == "count" else self.phrase()


@dataclass(frozen=True)
class TableTotal(TableStatistic):
    """`df.sum().sum()`, `df.notna().sum().sum()`: the sum of every value of the numeric columns,
    or the number of non-missing values of the whole table."""

    method: str  # "sum" or "count"

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"table_{self.method}"

    def text(self) -> str:
        if self.method == "count":
            return "the number of non-missing values in the whole table"
        return "the sum of every value of the numeric columns"

    def expression(self, var_of: VarOf) -> str:
        var = var_of(self.frame)
        return f"int({var}.count().sum())" if self.method == "count" else f"{var}.sum(numeric_only=True).sum()"

    def name(self) -> str:
        return "non_missing_values" if self.method == "count" else "table_sum"

    def notes(self) -> list[str]:
        return [MISSING_NOTE] if self.method == "sum" else []


PAIR_HELPER = '''def strongest_pair(corr):
    """The two columns whose correlation is the largest in absolute value (each pair once), and it."""
    pairs = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    strength = pairs.abs()
    assert (strength == strength.max()).sum() == 1, "several pairs share the strongest correlation"
    a, b = strength.idxmax()
    return a, b, pairs[(a, b)]
'''


@dataclass(frozen=True)
class StrongestCorrelation(TableStatistic):
    """`df.corr()` shown as a table: the two columns whose Pearson correlation is the largest in
    absolute value, and that correlation."""

    kind = "strongest_correlation"
    plural = True  # "what are the two numeric columns ..."

    def text(self) -> str:
        return ("the two numeric columns whose Pearson correlation coefficient is the largest in absolute value "
                "(each pair once, a column not paired with itself), and that coefficient")

    helper = PAIR_HELPER

    def expression(self, var_of: VarOf) -> str:
        return f"strongest_pair({var_of(self.frame)}.corr(numeric_only=True))"

    def name(self) -> str:
        return "strongest_correlation"

    def notes(self) -> list[str]:
        return ["Only numeric columns are correlated; for each pair, rows where either value is missing are left out.",
                "Name the two columns in the order they have in the file."]


@dataclass(frozen=True)
class CellValue(TableStatistic):
    """`df.loc["Maine", "deaths"]`: one cell, named by its row label and its column."""

    row: Any
    of: Col
    kind = "cell_value"

    def text(self) -> str:
        return f"the value of {self.of.text()} in the row whose label (index value) is {quote(self.row)}"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.loc[{quote(self.row)}, {quote(self.of.name)}]"

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name(self.of.name, self.row)


@dataclass(frozen=True)
class Cells(TableStatistic):
    """A few cells the notebook picked by their labels (`df.loc[["Maine", "Alaska"], ["deaths"]]`)
    and shows whole: each one is an answer. Its `frame` holds the rows and columns already picked
    (SelectRows, SelectColumns)."""

    kind = "cells"
    plural = True

    def text(self) -> str:
        return "the values of the cells of the resulting table"

    def expression(self, var_of: VarOf) -> str:
        return var_of(self.frame)

    def name(self) -> str:
        return "cells"
