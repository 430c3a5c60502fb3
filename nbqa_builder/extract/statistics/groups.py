"""Statistics of grouped rows (`groupby`, `resample`): the group with the highest aggregate, one
group's value, every group's value, and the top row of a grouped table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Col, Frame, column, columns_text, quote
from nbqa_builder.extract.statistics.base import AGGREGATIONS, MISSING_NOTE, Statistic, VarOf, answer_name

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


def group_phrase(method: str, of: Col | None) -> str:
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
        return f"the value of {column(self.by)} whose rows have the {which} {group_phrase(self.method, self.of)}"

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
        return f"the {group_phrase(self.method, self.of)} over the rows whose {where}"

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
class GroupAll(Statistic):
    frame: Frame
    by: Any
    of: Col | None
    method: str
    kind = "group_values"

    def text(self) -> str:
        return f"the {group_phrase(self.method, self.of)} for {_by_text(self.by)}"

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
            return group_phrase(name, Col(self.aggregated))
        return group_phrase(self.method, Col(name))

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
