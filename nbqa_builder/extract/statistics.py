"""What a heuristic task asks: a statistic of a prepared frame, rendered as a noun phrase for the
question and as a pandas expression for the reference program (see extract/spec.py).

Every statistic knows its frames (`frames()`), the columns it reads (`columns()`, for pruning the
preparation), a short answer name, its kind (counted in stats.json), and the notes that pin its
method down for a solver (`notes()`: sample or population deviation, ties, missing values).
Statistics whose answer is a label (`MostCommon`, `ArgExtreme`, `GroupArgExtreme`) refuse ties in
the reference program: a question with two right answers is not a question. The statistics of
more operations (several aggregations, value shares, the row labels, date spans) are in
extract/statistics_more.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from nbqa_builder.extract.spec import Col, Cond, Expr, Frame, Namer, column, columns_text, quote

VarOf = Callable[[Frame], str]  # the program variable that holds a frame

MISSING_NOTE = "Statistics leave out missing values, as pandas does by default."
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


def _plain(expr: Expr) -> str:
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
        return answer_name(self.method if self.q is None else f"quantile_{self.q}", _plain(self.of))

    def notes(self) -> list[str]:
        note = AGGREGATIONS[self.method][2]
        return [note] if note else []


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
class ColumnCount(Statistic):
    frame: Frame
    kind = "column_count"

    def text(self) -> str:
        return "the number of columns"

    def expression(self, var_of: VarOf) -> str:
        return f"{var_of(self.frame)}.shape[1]"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return None

    def name(self) -> str:
        return "column_count"


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
        return "missing_values" if self.of is None else answer_name("missing", _plain(self.of))


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
        return answer_name("cov" if self.method == "covariance" else "corr", _plain(self.left), _plain(self.right))

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
        return answer_name("least_common" if self.least else "most_common", _plain(self.of))

    def notes(self) -> list[str]:
        return ["Missing values are not counted as a value."]


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
        return answer_name("share" if self.normalize else "count", _plain(self.of), self.value)


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
        return answer_name("idxmax" if self.largest else "idxmin", _plain(self.of))


GROUP_METHODS = ("mean", "median", "sum", "min", "max", "count", "nunique", "std", "size")

# resample/Grouper frequencies a text can name -> (the period, the day that labels it, today's pandas alias)
FREQUENCIES = {
    "D": ("calendar day", "the day itself", "D"),
    "W": ("week (Monday to Sunday)", "its Sunday", "W"),
    **dict.fromkeys(("M", "ME"), ("calendar month", "its last day", "ME")),
    "MS": ("calendar month", "its first day", "MS"),
    **dict.fromkeys(("Q", "QE"), ("calendar quarter", "its last day", "QE")),
    "QS": ("calendar quarter", "its first day", "QS"),
    **dict.fromkeys(("A", "Y", "YE"), ("calendar year", "its last day", "YE")),
    **dict.fromkeys(("AS", "YS"), ("calendar year", "its first day", "YS")),
}


@dataclass(frozen=True)
class TimeBins:
    """Rows grouped by period of a date column (or of the dates in the index, `key` None):
    `resample("M", on="date")`, `groupby(pd.Grouper(key="date", freq="M"))`."""

    key: Any
    freq: str  # a key of FREQUENCIES

    def text(self) -> str:
        dates = "the dates in the index" if self.key is None else column(self.key)
        period, label, _ = FREQUENCIES[self.freq]
        return f"each {period} of {dates} (a period is labelled by {label})"

    def code(self) -> str:
        key = "" if self.key is None else f"key={quote(self.key)}, "
        return f"pd.Grouper({key}freq={quote(FREQUENCIES[self.freq][2])})"

    def columns(self) -> set[Any]:
        return set() if self.key is None else {self.key}


def _by_text(by: Any) -> str:
    """The grouping as the phrase "for each ..." ends: a column, several, or periods of dates."""
    if isinstance(by, TimeBins):
        return by.text()
    if isinstance(by, tuple):
        return f"each combination of values of {columns_text(by)}"
    return f"each value of {column(by)}"


def _by_columns(by: Any) -> set[Any]:
    return by.columns() if isinstance(by, TimeBins) else set(by) if isinstance(by, tuple) else {by}


def _by_notes(by: Any) -> list[str]:
    if isinstance(by, TimeBins):
        return ["Every period from the first date to the last is listed, even one with no rows."]
    return ["Rows are grouped by each distinct value; rows whose group value is missing are left out."]


def _group_phrase(method: str, of: Col | None) -> str:
    if method == "size":
        return "number of rows"
    return AGGREGATIONS[method][0].format(x=of.text() if of else "", q=None).removeprefix("the ")


def _group_code(var: str, by: Any, method: str, of: Col | None) -> str:
    key = by.code() if isinstance(by, TimeBins) else quote(list(by)) if isinstance(by, tuple) else quote(by)
    grouped = f"{var}.groupby({key})"
    if method == "size":
        return f"{grouped}.size()"
    if method == "single":  # a pivot's cell: the value of the one row of its group (item() refuses two)
        return f"{grouped}[{quote(of.name)}].agg(lambda values: values.item())"
    call = AGGREGATIONS[method][1].format(ddof=1, q=None)
    return f"{grouped}[{quote(of.name)}].{call}"


@dataclass(frozen=True)
class GroupArgExtreme(Statistic):
    frame: Frame
    by: Any
    of: Col | None  # None with method "size"
    method: str
    largest: bool = True
    kind = "group_extreme"
    uses_tie_helper = True

    def text(self) -> str:
        which = "highest" if self.largest else "lowest"
        return f"the value of {column(self.by)} whose rows have the {which} {_group_phrase(self.method, self.of)}"

    def expression(self, var_of: VarOf) -> str:
        return f"single_top({_group_code(var_of(self.frame), self.by, self.method, self.of)}, largest={self.largest})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return _by_columns(self.by) | ({self.of.name} if self.of else set())

    def name(self) -> str:
        return answer_name(self.by, "max" if self.largest else "min", self.method, self.of.name if self.of else "")

    def notes(self) -> list[str]:
        return ["Rows are grouped by each distinct value; rows whose group value is missing are left out."]


@dataclass(frozen=True)
class GroupValue(Statistic):
    frame: Frame
    by: Any
    of: Col | None
    method: str
    key: Any
    kind = "group_value"

    def text(self) -> str:
        pairs = zip(self.by, self.key) if isinstance(self.by, tuple) else [(self.by, self.key)]
        where = " and ".join(f"{column(b)} is {quote(k)}" for b, k in pairs)
        if self.method == "size":
            return f"the number of rows whose {where}"
        if self.method == "single":
            return f"the value of {self.of.text()} in the one row whose {where}"
        return f"the {_group_phrase(self.method, self.of)} over the rows whose {where}"

    def expression(self, var_of: VarOf) -> str:
        return f"{_group_code(var_of(self.frame), self.by, self.method, self.of)}[{quote(self.key)}]"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return _by_columns(self.by) | ({self.of.name} if self.of else set())

    def name(self) -> str:
        key = self.key if isinstance(self.key, tuple) else (self.key,)
        return answer_name(self.method, self.of.name if self.of else "", *key)


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


# -- several answers from one Series -------------------------------------------------------------

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


@dataclass(frozen=True)
class GroupAll(Statistic):
    frame: Frame
    by: Any
    of: Col | None
    method: str
    kind = "group_values"

    def text(self) -> str:
        return f"the {_group_phrase(self.method, self.of)} for {_by_text(self.by)}"

    def expression(self, var_of: VarOf) -> str:
        grouped = _group_code(var_of(self.frame), self.by, self.method, self.of)
        if isinstance(self.by, TimeBins):  # periods labelled as pandas shows them: the date alone
            return f"{grouped}.rename(index=lambda period: period.strftime('%Y-%m-%d'))"
        return grouped

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return _by_columns(self.by) | ({self.of.name} if self.of else set())

    def name(self) -> str:
        by = self.by.key or "index" if isinstance(self.by, TimeBins) else self.by
        return answer_name(self.method, self.of.name if self.of else "", "by", by)

    def entry_name(self, label: str) -> str | None:
        return answer_name(self.method, self.of.name if self.of else "rows", label)

    def multi(self) -> bool:
        return True

    def notes(self) -> list[str]:
        return _by_notes(self.by)


# -- the reference program -----------------------------------------------------------------------


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
