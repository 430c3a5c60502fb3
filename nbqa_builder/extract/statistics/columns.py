"""Statistics of a column's values (or of two columns, or of the row labels): aggregates (`Agg`,
`AggMany`, `Describe`, `TextSummary`), the most frequent value, the label of the largest value,
a correlation, the values of the first rows or the largest values, the index's extremes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Col, Expr, Frame, quote
from nbqa_builder.extract.statistics.base import (
    AGGREGATIONS, COUNTS_NOTE, DEVIATIONS, MISSING_NOTE, TIE_MESSAGE, Statistic, VarOf, answer_name, plain_name,
)


@dataclass(frozen=True)
class Agg(Statistic):
    frame: Frame
    of: Expr
    method: str  # a key of AGGREGATIONS
    ddof: int = 1  # std, var, sem: 1 is pandas' default, numpy's functions use 0
    q: float | None = None

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.method

    def text(self) -> str:
        phrase = AGGREGATIONS[self.method][0].format(x=self.of.text(), q=self.q)
        if self.method in DEVIATIONS:
            phrase += " (sample, denominator n - 1)" if self.ddof == 1 else f" (denominator n - {self.ddof})" if self.ddof else " (population, denominator n)"
        return phrase

    def expression(self, var_of: VarOf) -> str:
        call = AGGREGATIONS[self.method][1].format(ddof=self.ddof, q=self.q)
        return f"{self.of.code(var_of(self.frame))}.{call}"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name(self.method if self.q is None else f"quantile_{self.q}", plain_name(self.of))

    def notes(self) -> list[str]:
        note = AGGREGATIONS[self.method][2]
        return [note] if note else []


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
        return answer_name("agg", plain_name(self.of))

    def entry_name(self, label: str) -> str | None:
        return answer_name(label, plain_name(self.of)) if label in self.methods else None

    def multi(self) -> bool:
        return True

    def notes(self) -> list[str]:
        return list(dict.fromkeys(n for m in self.methods for n in Agg(self.frame, self.of, m).notes()))


DESCRIBE_KEYS = {"count": "count", "mean": "mean", "std": "std", "min": "min", "25%": "p25", "50%": "median",
                 "75%": "p75", "max": "max"}


@dataclass(frozen=True)
class Describe(Statistic):
    frame: Frame
    of: Col
    kind = "describe"

    def text(self) -> str:
        return (f"the count, mean, standard deviation (sample), minimum, 25th percentile, median, "
                f"75th percentile and maximum of {self.of.text()}")

    def expression(self, var_of: VarOf) -> str:
        return f"{self.of.code(var_of(self.frame))}.describe()"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("describe", self.of.name)

    def entry_name(self, label: str) -> str | None:
        key = DESCRIBE_KEYS.get(label)
        return answer_name(key, self.of.name) if key else None

    def multi(self) -> bool:
        return True

    def notes(self) -> list[str]:
        return [MISSING_NOTE, "Percentiles interpolate linearly between values (pandas' default)."]


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
class Corr(Statistic):
    frame: Frame
    left: Expr
    right: Expr
    method: str = "pearson"  # or "spearman", "kendall"; "covariance": the sample covariance instead
    kind = "correlation"

    def text(self) -> str:
        if self.method == "covariance":
            return f"the sample covariance (divided by n - 1) of {self.left.text()} and {self.right.text()}"
        return f"the {self.method.capitalize()} correlation coefficient between {self.left.text()} and {self.right.text()}"

    def expression(self, var_of: VarOf) -> str:
        var = var_of(self.frame)
        if self.method == "covariance":
            return f"{self.left.code(var)}.cov({self.right.code(var)})"
        return f"{self.left.code(var)}.corr({self.right.code(var)}, method={quote(self.method)})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.left.columns() | self.right.columns()

    def name(self) -> str:
        return answer_name("cov" if self.method == "covariance" else "corr", plain_name(self.left), plain_name(self.right))

    def notes(self) -> list[str]:
        return ["Rows where either value is missing are left out of the "
                f"{'covariance' if self.method == 'covariance' else 'correlation'}."]


@dataclass(frozen=True)
class MostCommon(Statistic):
    frame: Frame
    of: Expr
    least: bool = False
    kind = "most_common"
    uses_tie_helper = True

    def text(self) -> str:
        return f"the {'least' if self.least else 'most'} frequent value of {self.of.text()}"

    def expression(self, var_of: VarOf) -> str:
        return f"single_top({self.of.code(var_of(self.frame))}.value_counts(), largest={not self.least})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("least_common" if self.least else "most_common", plain_name(self.of))

    def notes(self) -> list[str]:
        return ["Missing values are not counted as a value."]


@dataclass(frozen=True)
class ArgExtreme(Statistic):
    frame: Frame
    of: Expr
    largest: bool = True
    kind = "arg_extreme"
    uses_tie_helper = True

    def text(self) -> str:
        return f"the row label (index) of the {'largest' if self.largest else 'smallest'} value of {self.of.text()}"

    def expression(self, var_of: VarOf) -> str:
        return f"single_top({self.of.code(var_of(self.frame))}, largest={self.largest})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("idxmax" if self.largest else "idxmin", plain_name(self.of))


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
        return answer_name("last" if self.last else "first", plain_name(self.of))


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
        return answer_name("largest" if self.largest else "smallest", plain_name(self.of))

    def notes(self) -> list[str]:
        return [MISSING_NOTE]


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
