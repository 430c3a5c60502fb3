"""Questions about the entries of a Series a cell shows whole (`GroupAll`, `ValueCounts`,
`FrameNunique` ...): the label with the largest value, and how many entries meet a condition. A
Series source says in words what its labels and its values are (`label_phrase`, `value_phrase`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Frame, column, quote
from nbqa_builder.extract.statistics.base import Statistic, VarOf, answer_name
from nbqa_builder.extract.statistics.groups import GroupAll, group_phrase


def label_phrase(series: Statistic) -> str:
    if isinstance(series, GroupAll):
        return f"the value of {column(series.by)}"
    return series.label_phrase()  # type: ignore[attr-defined]


def value_phrase(series: Statistic) -> str:
    if isinstance(series, GroupAll):
        return group_phrase(series.method, series.of)
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
