"""What a task asks of a table or a long Series a cell shows (see extract/tables.py): statistics
whose answers are *picked* out of one computed value.

Each one renders its question phrase and the pandas expression of that value, as the statistics of
extract/statistics.py do; extract/tables.py pairs it with its picks: for each answer, a name, the
Python expression over `value` that the reference program prints, and the place of the answer
cell's output that shows it. A Series source (`GroupAll`, `ValueCounts`, `FrameNunique`) also
says, in words, what its labels and its values are, so that "the label with the largest value"
can be asked of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Col, Expr, Frame, column, quote
from nbqa_builder.extract.statistics import (
    AGGREGATIONS, MISSING_NOTE, TIE_MESSAGE, GroupAll, Statistic, VarOf, _group_phrase, _plain, answer_name,
)

COUNTS_NOTE = "Missing values are not counted as a value."
PAIR_HELPER = '''def strongest_pair(corr):
    """The two columns whose correlation is the largest in absolute value (each pair once), and it."""
    pairs = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    strength = pairs.abs()
    assert (strength == strength.max()).sum() == 1, "several pairs share the strongest correlation"
    a, b = strength.idxmax()
    return a, b, pairs[(a, b)]
'''


@dataclass(frozen=True)
class Shape(Statistic):
    """`df.shape`: the number of rows and of columns."""

    frame: Frame
    kind = "shape"

    def text(self) -> str:
        return "the number of rows and the number of columns"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.shape"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

    def name(self) -> str:
        return "shape"


@dataclass(frozen=True)
class NonNullCounts(Statistic):
    """What `df.info()` prints that is an answer: the rows, and the non-null count of the columns
    that have missing values (a complete column's count is the row count again)."""

    frame: Frame
    of: tuple  # column labels
    kind = "non_null_counts"

    def text(self) -> str:
        counts = ", ".join(f"of {column(name)}" for name in self.of)
        return f"the number of rows, and the number of non-missing values {counts}"

    def expression(self, var_of: VarOf) -> str:
        return var_of(self.frame)

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

    def name(self) -> str:
        return "non_null_counts"


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
        return answer_name("share" if self.normalize else "count", _plain(self.of))

    def entry_name(self, label: str) -> str | None:
        return answer_name("share" if self.normalize else "count", _plain(self.of), label)

    def multi(self) -> bool:
        return True

    def notes(self) -> list[str]:
        return [COUNTS_NOTE]

    def label_phrase(self) -> str:
        return f"the value of {self.of.text()}"

    def value_phrase(self) -> str:
        return "share of the non-missing values" if self.normalize else "number of rows"


@dataclass(frozen=True)
class FrameNunique(Statistic):
    """`df.nunique()`: the number of distinct values of each column."""

    frame: Frame
    kind = "nunique"

    def text(self) -> str:
        return "the number of distinct values of each column"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.nunique()"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

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
class FrameAgg(Statistic):
    """`df.mean()`, `df.count()`...: one aggregate per column (per numeric column, except for
    `count`: old pandas left the other columns out silently, pandas 2 needs `numeric_only`)."""

    frame: Frame
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

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

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
class TableTotal(Statistic):
    """`df.sum().sum()`, `df.notna().sum().sum()`: the sum of every value of the numeric columns,
    or the number of non-missing values of the whole table."""

    frame: Frame
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

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

    def name(self) -> str:
        return "non_missing_values" if self.method == "count" else "table_sum"

    def notes(self) -> list[str]:
        return [MISSING_NOTE] if self.method == "sum" else []


def label_phrase(series: Statistic) -> str:
    if isinstance(series, GroupAll):
        return f"the value of {column(series.by)}"
    return series.label_phrase()  # type: ignore[attr-defined]


def value_phrase(series: Statistic) -> str:
    if isinstance(series, GroupAll):
        return _group_phrase(series.method, series.of)
    return series.value_phrase()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EntryExtreme(Statistic):
    """The label of a Series' largest (or smallest) entry, and that entry: never the whole Series."""

    series: Statistic  # GroupAll | ValueCounts | FrameNunique
    largest: bool = True
    kind = "series_extreme"
    uses_tie_helper = True

    def text(self) -> str:
        which = "largest" if self.largest else "smallest"
        value = value_phrase(self.series)
        return f"{label_phrase(self.series)} with the {which} {value}, and that {value}"

    def expression(self, var_of: VarOf) -> str:
        return self.series.expression(var_of)

    def frames(self) -> list[Frame]:
        return self.series.frames()

    def columns(self) -> set[Any] | None:
        return self.series.columns()

    def name(self) -> str:
        return self.series.name()

    def names(self) -> tuple[str, str]:
        """The answer names of the label and of its value."""
        top = "top" if self.largest else "bottom"
        return answer_name(top, "label", self.series.name()), answer_name(top, "value", self.series.name())

    def notes(self) -> list[str]:
        notes = self.series.notes()
        return [*notes, "A tie for the top has no single answer."]


@dataclass(frozen=True)
class RowValues(Statistic):
    """The values of a column the notebook derived or changed, in the first (last) k rows, as
    `df.head(k)` shows them: what checks the new column was computed right."""

    frame: Frame  # before the cut
    of: Col
    k: int
    last: bool = False
    kind = "row_values"
    plural = True

    def text(self) -> str:
        return f"the values of {self.of.text()} in the {'last' if self.last else 'first'} {self.k} rows, in row order"

    def expression(self, var_of: VarOf) -> str:
        return f"{self.of.code(var_of(self.frame))}.{'tail' if self.last else 'head'}({self.k}).tolist()"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("last" if self.last else "first", _plain(self.of))


@dataclass(frozen=True)
class TopValues(Statistic):
    """The k first values of a column once the rows are sorted by it: `sort_values(x).head(k)`,
    `nlargest(k, x)`."""

    frame: Frame  # before the sort
    of: Col
    k: int
    largest: bool = True
    kind = "top_values"
    plural = True  # "what are the 3 largest values"

    def text(self) -> str:
        which = "largest" if self.largest else "smallest"
        order = "largest" if self.largest else "smallest"
        return f"the {self.k} {which} values of {self.of.text()} (repeated values count each time), {order} first"

    def expression(self, var_of: VarOf) -> str:
        ordered = f"{self.of.code(var_of(self.frame))}.dropna().sort_values(ascending={not self.largest})"
        return f"{ordered}.head({self.k}).tolist()"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("largest" if self.largest else "smallest", _plain(self.of))

    def notes(self) -> list[str]:
        return [MISSING_NOTE]



@dataclass(frozen=True)
class GroupRow(Statistic):
    """The row of a grouped table (`df.groupby(by)[[a, b]].mean()`, or `df.groupby(by)[x].agg(["mean",
    "max"])`) whose `rank_by` is the largest (or smallest): its group, and each of its values."""

    frame: Frame
    by: Any
    of: tuple  # the table's columns: the selected columns, or with `aggregated` the methods
    method: str  # a GROUP_METHODS entry other than size ("agg" with `aggregated`)
    rank_by: Any  # one of `of`
    largest: bool = True
    aggregated: Any = None  # `[x].agg([...])`: the one column every method aggregates
    kind = "group_row"
    uses_tie_helper = True

    def phrase(self, name: Any) -> str:
        if self.aggregated is not None:
            return _group_phrase(name, Col(self.aggregated))
        return _group_phrase(self.method, Col(name))

    def value_name(self, name: Any) -> str:
        """The answer name of the top group's value in the table's column `name`."""
        return answer_name(name, self.aggregated) if self.aggregated is not None else answer_name(self.method, name)

    def text(self) -> str:
        which = "largest" if self.largest else "smallest"
        values = [f"its {self.phrase(name)}" for name in self.of]
        listed = values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]
        return f"the value of {column(self.by)} with the {which} {self.phrase(self.rank_by)}, and {listed}"

    def expression(self, var_of: VarOf) -> str:
        grouped = f"{var_of(self.frame)}.groupby({quote(self.by)})"
        if self.aggregated is not None:
            return f"{grouped}[{quote(self.aggregated)}].agg({quote(list(self.of))})"
        return f"{grouped}[{quote(list(self.of))}].{self.method}()"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return {self.by, self.aggregated} if self.aggregated is not None else {self.by, *self.of}

    def name(self) -> str:
        top = "top" if self.largest else "bottom"
        if self.aggregated is not None:
            return answer_name(self.by, top, self.rank_by, self.aggregated)
        return answer_name(self.by, top, self.method, self.rank_by)

    def top_code(self) -> str:
        return f"single_top(value[{quote(self.rank_by)}], largest={self.largest})"

    def notes(self) -> list[str]:
        return ["Rows are grouped by each distinct value; rows whose group value is missing are left out.",
                MISSING_NOTE, "A tie for the top has no single answer."]


OP_WORDS = {">": "greater than", ">=": "at least", "<": "less than", "<=": "at most", "==": "equal to",
            "!=": "not equal to"}


@dataclass(frozen=True)
class EntriesWhere(Statistic):
    """How many entries of a grouped result or of value counts meet a condition the notebook
    states: `(s > 1000).sum()`, `len(s[s > 1000])`."""

    series: Statistic  # GroupAll | ValueCounts
    op: str  # a key of OP_WORDS
    value: Any
    kind = "entries_where"

    def text(self) -> str:
        labels = label_phrase(self.series).replace("the value of", "the distinct values of", 1)
        if labels == "the column":
            labels = "the columns"
        return f"the number of {labels.removeprefix('the ')} whose {value_phrase(self.series)} is {OP_WORDS[self.op]} {quote(self.value)}"

    def expression(self, var_of: VarOf) -> str:
        return f"int(({self.series.expression(var_of)} {self.op} {quote(self.value)}).sum())"

    def frames(self) -> list[Frame]:
        return self.series.frames()

    def columns(self) -> set[Any] | None:
        return self.series.columns()

    def name(self) -> str:
        return answer_name("entries", self.series.name())

    def notes(self) -> list[str]:
        return self.series.notes()


@dataclass(frozen=True)
class StrongestCorrelation(Statistic):
    """`df.corr()` shown as a table: the two columns whose Pearson correlation is the largest in
    absolute value, and that correlation."""

    frame: Frame
    kind = "strongest_correlation"
    plural = True  # "what are the two numeric columns ..."

    def text(self) -> str:
        return ("the two numeric columns whose Pearson correlation coefficient is the largest in absolute value "
                "(each pair once, a column not paired with itself), and that coefficient")

    helper = PAIR_HELPER

    def expression(self, var_of: VarOf) -> str:
        return f"strongest_pair({var_of(self.frame)}.corr(numeric_only=True))"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

    def name(self) -> str:
        return "strongest_correlation"

    def notes(self) -> list[str]:
        return ["Only numeric columns are correlated; for each pair, rows where either value is missing are left out.",
                "Name the two columns in the order they have in the file."]


TEXT_SUMMARY_HELPER = f'''def text_summary(values):
    """What describe() shows of a text column: values, distinct values, the most frequent one, its count."""
    counts = values.value_counts()
    assert (counts == counts.max()).sum() == 1, {TIE_MESSAGE!r}
    return int(values.count()), int(values.nunique()), counts.index[0], int(counts.iloc[0])
'''


@dataclass(frozen=True)
class TextSummary(Statistic):
    """`s.describe()` of a text column: count, unique, top and freq."""

    frame: Frame
    of: Col
    kind = "text_describe"
    helper = TEXT_SUMMARY_HELPER

    def text(self) -> str:
        return (f"the number of non-missing values of {self.of.text()}, its number of distinct values, its most "
                f"frequent value and how many rows have that value")

    def expression(self, var_of: VarOf) -> str:
        return f"text_summary({self.of.code(var_of(self.frame))})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("summary", self.of.name)

    def notes(self) -> list[str]:
        return [COUNTS_NOTE]


@dataclass(frozen=True)
class CellValue(Statistic):
    """`df.loc["Maine", "deaths"]`: one cell, named by its row label and its column."""

    frame: Frame
    row: Any
    of: Col
    kind = "cell_value"

    def text(self) -> str:
        return f"the value of {self.of.text()} in the row whose label (index value) is {quote(self.row)}"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.loc[{quote(self.row)}, {quote(self.of.name)}]"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name(self.of.name, self.row)


@dataclass(frozen=True)
class Cells(Statistic):
    """A few cells the notebook picked by their labels (`df.loc[["Maine", "Alaska"], ["deaths"]]`)
    and shows whole: each one is an answer."""

    frame: Frame  # the rows and columns already picked (SelectRows, SelectColumns)
    kind = "cells"
    plural = True

    def text(self) -> str:
        return "the values of the cells of the resulting table"

    def expression(self, var_of: VarOf) -> str:
        return var_of(self.frame)

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

    def name(self) -> str:
        return "cells"
