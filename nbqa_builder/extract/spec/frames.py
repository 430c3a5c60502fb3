"""Task-spec nodes, the frame: the file a frame starts from (`ReadFile`, with the read options a
text can state), and the `Frame` itself, a file as read and then operations in order
(extract/spec/operations.py), which prunes the steps a statistic cannot see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec.base import Namer, column, columns_text, quote
from nbqa_builder.extract.spec.operations import (
    CombineDates, Concat, DropColumns, DropDuplicates, DropNA, FillNA, FilterRows, HeadRows, Merge, NameIndex, Op,
    OpaqueColumn, Rename, ResetIndex, SelectColumns, SetColumn, SetIndex, SetIndexTo, SortRows,
)

# reader -> (how the text names the format, pandas function)
READERS = {
    "read_csv": ("a CSV file", "pd.read_csv"),
    "read_table": ("a tab-separated file", "pd.read_table"),
    "read_excel": ("an Excel file", "pd.read_excel"),
    "read_json": ("a JSON file", "pd.read_json"),
    "read_parquet": ("a Parquet file", "pd.read_parquet"),
    "read_feather": ("a Feather file", "pd.read_feather"),
}
# read options -> how the text states them; a read with another option gives no spec
READ_OPTIONS = {
    "sep": lambda v: f"with {quote(v)} as the separator",
    "delimiter": lambda v: f"with {quote(v)} as the separator",
    "header": lambda v: "with no header row" if v is None else f"with the header on line {v}",
    "names": lambda v: f"naming the columns {columns_text(tuple(v))}",
    "index_col": lambda v: ("using its first column as the index" if v == 0
                            else f"using {column(v)} as the index" if isinstance(v, str)
                            else f"using the columns at {quote(v)} as the index"),
    "usecols": lambda v: f"reading only the columns {quote(v)}",
    "parse_dates": lambda v: ("parsing the index as dates" if v is True
                              else f"parsing {columns_text(tuple(v))} as dates"),
    "na_values": lambda v: f"reading {quote(v)} as missing values",
    "skiprows": lambda v: f"skipping {quote(v)} rows at the start" if isinstance(v, int) else f"skipping the rows {quote(v)}",
    "encoding": lambda v: f"in the encoding {quote(v)}",
    "thousands": lambda v: f"with {quote(v)} as the thousands separator",
    "decimal": lambda v: f"with {quote(v)} as the decimal point",
    "sheet_name": lambda v: f"from the sheet {quote(v)}",
    "dtype": lambda v: (f"reading {columns_text(tuple(dict(v)))} as text (str)"
                        if isinstance(v, (dict, tuple)) and v and set(dict(v).values()) == {"str"}
                        else f"with the column types {quote(v)}"),
    "lines": lambda v: "as JSON Lines" if v else "as one JSON document",
    "orient": lambda v: f"in the orientation {quote(v)}",
    "keep_default_na": lambda v: ("with keep_default_na=False (the strings pandas reads as missing by default, "
                                  "such as 'NA', 'NaN' and the empty field, are kept as they are)" if v is False
                                  else "with keep_default_na=True"),
    "low_memory": None,  # how pandas reads, not what it gives
    "engine": None,
}


# options given at their default value say nothing (pandas' defaults; read_table reads tabs)
READ_DEFAULTS = {"sep": ",", "delimiter": None, "header": "infer", "names": None, "index_col": None, "usecols": None,
                 "parse_dates": None, "na_values": None, "skiprows": None, "encoding": None, "thousands": None,
                 "decimal": ".", "dtype": None, "keep_default_na": True}
READER_DEFAULTS = {"read_table": {"sep": "\t"}, "read_excel": {"sheet_name": 0, "header": 0},
                   "read_json": {"lines": False}}


def is_default(reader: str, option: str, value: Any) -> bool:
    defaults = {**READ_DEFAULTS, **READER_DEFAULTS.get(reader, {})}
    return option in defaults and defaults[option] == value and type(defaults[option]) is type(value)


@dataclass(frozen=True)
class ReadFile:
    name: str  # the file's name as the task gives it (it lies in the working folder)
    reader: str  # a key of READERS
    options: tuple = ()  # ((keyword, constant), ...), each a key of READ_OPTIONS

    def text(self) -> str:
        stated = [READ_OPTIONS[k](v) for k, v in self.options if READ_OPTIONS.get(k)]
        return f"Read {column(self.name)}" + (" " + ", ".join(stated) if stated else "")

    def code(self, var: str) -> list[str]:
        args = [quote(self.name)] + [f"{k}={quote(v)}" for k, v in self.options]
        return [f"{var} = {READERS[self.reader][1]}({', '.join(args)})"]


@dataclass(frozen=True)
class Frame:
    """A table: a file as read, then operations in order."""

    source: ReadFile
    ops: tuple = ()

    def then(self, op: Op) -> "Frame":
        return Frame(self.source, self.ops + (op,))

    def files(self) -> list[str]:
        names = [self.source.name]
        for op in self.ops:
            if isinstance(op, (Merge, Concat)):
                names += [n for n in (op.right if isinstance(op, Merge) else op.other).files() if n not in names]
        return names

    def steps(self) -> list[str]:
        """The sentences that prepare the frame, reading included when it has options."""
        first = [self.source.text()] if self.source.options else []
        if not first and self.ops and isinstance(self.ops[0], Concat):  # say which table the rows go below
            first = [f"Start from the table in {column(self.source.name)}"]
        return first + [op.text() for op in self.ops]

    def describe(self) -> str:
        """The frame in a phrase: the file, and its own steps when it has any."""
        if not self.ops and not self.source.options:
            return f"the table in {column(self.source.name)}"
        return f"the table in {column(self.source.name)} ({'; '.join(s[0].lower() + s[1:] for s in self.steps())})"

    def code(self, var: str, namer: Namer) -> list[str]:
        lines = self.source.code(var)
        for op in self.ops:
            lines += op.code(var, namer)
        return lines

    def pruned(self, needed: set[Any] | None, labels: bool = True) -> "Frame":
        """The frame without the steps that cannot change what a statistic of the `needed` columns
        sees (None: every column matters), such as a derived column nobody reads, or a column
        written and then dropped unread. Steps that change which rows there are, or their order
        or labels, always stay; except that for a statistic that never reads the row labels
        (`labels` False), an unstatable column made the index is only a column dropped."""
        ops = self.ops if labels else _opaque_index_dropped(self.ops)
        kept: list[Op] = []
        want = None if needed is None else set(needed)
        dropped: set[Any] = set()  # dropped further on, and not read before that
        for op in reversed(ops):
            writes = op.writes()
            if writes and writes <= dropped and not op.changes_rows():
                continue
            if isinstance(op, NameIndex) and (want is None or op.name not in want):
                continue  # only a step that reads the index by its name sees it
            if not (op.changes_rows() or want is None or writes is None or writes & want
                    or isinstance(op, (SortRows, SetIndex, SetIndexTo, ResetIndex))):
                continue
            kept.append(op)
            dropped = set() if op.reads() is None else dropped - op.reads()
            if isinstance(op, DropColumns):
                dropped |= set(op.names)
            reads = op.reads()
            if reads is None:
                want = None
            elif want is not None:
                if isinstance(op, Rename):
                    want -= {new for _, new in op.mapping}
                elif isinstance(op, SetColumn):
                    want.discard(op.name)
                want |= reads
        return Frame(self.source, _combined_then_dropped(tuple(reversed(kept))))


# the steps that never read the row labels: after them, an index nobody reads is only a column gone
_LABEL_FREE_STEPS = (FilterRows, DropNA, FillNA, DropDuplicates, SetColumn, Rename, SelectColumns, DropColumns,
                     SortRows, HeadRows)


def _opaque_index_dropped(ops: tuple) -> tuple:
    """`ops` where `set_index(c)` of a column set by unstatable code (`OpaqueColumn`) becomes
    `DropColumns((c,))`, when no later step reads the row labels: to a statistic that never reads
    them either, the two leave the same table (`Frame.pruned` then drops the unstatable step)."""
    opaque = set()
    for position, op in enumerate(ops):
        if isinstance(op, OpaqueColumn):
            opaque.add(op.name)
        elif isinstance(op, SetIndex) and op.name in opaque \
                and all(isinstance(o, _LABEL_FREE_STEPS) for o in ops[position + 1:]):
            return ops[:position] + (DropColumns((op.name,)),) + ops[position + 1:]
    return ops


def _combined_then_dropped(ops: tuple) -> tuple:
    """Date columns combined (`CombineDates`) and the combined column dropped before any step reads
    it: only the parts are dropped (what is left is the same table, stated plainly)."""
    for position, op in enumerate(ops):
        if not isinstance(op, CombineDates):
            continue
        for later, other in enumerate(ops[position + 1:], start=position + 1):
            if isinstance(other, DropColumns) and op.name in other.names:
                rest = tuple(n for n in other.names if n != op.name)
                tail = ((DropColumns(rest),) if rest else ()) + ops[later + 1:]
                return ops[:position] + (DropColumns(op.parts),) + ops[position + 1:later] + _combined_then_dropped(tail)
            if isinstance(other, DropColumns):
                continue  # other columns dropped
            reads, writes = other.reads(), other.writes()
            if not isinstance(other, _LABEL_FREE_STEPS) or reads is None or writes is None or op.name in reads | writes:
                break  # a step that may see the combined column
    return ops
