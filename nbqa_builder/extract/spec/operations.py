"""Task-spec nodes, operations on a frame: one preparation step each (`FilterRows`, `DropNA`,
`SetColumn`, `Merge` ...), with its English (`text()`) and its program lines (`code()`) side by
side, and the columns it reads and writes for `Frame.pruned` (extract/spec/frames.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec.base import Namer, column, columns_text, quote
from nbqa_builder.extract.spec.columns import Expr
from nbqa_builder.extract.spec.conditions import Cond

ALL = None  # "every column", for the operations that read all columns (dropna() without subset)


class Op:
    """One preparation step. `text()` is an imperative sentence; `code(var, namer)` the lines that
    do it to the frame in `var`. `reads()` are the columns it needs (ALL: every column),
    `writes()` the columns it changes, for `Frame.pruned`."""

    def text(self) -> str:
        raise NotImplementedError

    def code(self, var: str, namer: Namer) -> list[str]:
        raise NotImplementedError

    def reads(self) -> set[Any] | None:
        return set()

    def writes(self) -> set[Any] | None:
        return set()

    def changes_rows(self) -> bool:
        return True


@dataclass(frozen=True)
class FilterRows(Op):
    cond: Cond

    def text(self) -> str:
        return f"Keep only the rows where {self.cond.text()}"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}[{self.cond.code(var)}]"]

    def reads(self) -> set[Any] | None:
        return self.cond.columns()


@dataclass(frozen=True)
class DropNA(Op):
    subset: tuple | None = None  # None: every column
    how: str = "any"

    def text(self) -> str:
        if self.subset is None:
            which = "any column" if self.how == "any" else "every column"
            return f"Drop the rows that have a missing value in {which}"
        if len(self.subset) == 1:
            return f"Drop the rows where {column(self.subset[0])} is missing"
        which = "any" if self.how == "any" else "all"
        return f"Drop the rows where {which} of {columns_text(self.subset)} are missing"

    def code(self, var: str, namer: Namer) -> list[str]:
        args = [] if self.subset is None else [f"subset={quote(list(self.subset))}"]
        if self.how != "any":
            args.append(f"how={quote(self.how)}")
        return [f"{var} = {var}.dropna({', '.join(args)})"]

    def reads(self) -> set[Any] | None:
        return None if self.subset is None else set(self.subset)


@dataclass(frozen=True)
class FillNA(Op):
    value: Expr  # a Lit, or a StatRef
    columns: tuple | None = None  # None: every column

    def text(self) -> str:
        if self.columns is None:
            return f"Replace every missing value with {self.value.text()}"
        return f"Replace the missing values of {columns_text(self.columns)} with {self.value.text()}"

    def code(self, var: str, namer: Namer) -> list[str]:
        if self.columns is None:
            return [f"{var} = {var}.fillna({self.value.code(var)})"]
        return [f"{var}[{quote(c)}] = {var}[{quote(c)}].fillna({self.value.code(var)})" for c in self.columns]

    def reads(self) -> set[Any] | None:
        return None if self.columns is None else set(self.columns) | self.value.columns()

    def writes(self) -> set[Any] | None:
        return None if self.columns is None else set(self.columns)

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class DropDuplicates(Op):
    subset: tuple | None = None
    keep: str = "first"

    def text(self) -> str:
        rows = "duplicate rows" if self.subset is None else f"rows that repeat the values of {columns_text(self.subset)}"
        kept = {"first": "keeping the first of each", "last": "keeping the last of each"}.get(self.keep, "keeping none of them")
        return f"Drop the {rows}, {kept}"

    def code(self, var: str, namer: Namer) -> list[str]:
        args = [] if self.subset is None else [f"subset={quote(list(self.subset))}"]
        if self.keep != "first":
            args.append(f"keep={quote(self.keep)}")
        return [f"{var} = {var}.drop_duplicates({', '.join(args)})"]

    def reads(self) -> set[Any] | None:
        return None if self.subset is None else set(self.subset)


@dataclass(frozen=True)
class SetColumn(Op):
    name: Any
    value: Expr

    def text(self) -> str:
        return f"Set the column {column(self.name)} to {self.value.text()}"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var}[{quote(self.name)}] = {self.value.code(var)}"]

    def reads(self) -> set[Any] | None:
        return self.value.columns()

    def writes(self) -> set[Any] | None:
        return {self.name}

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class Rename(Op):
    mapping: tuple  # ((old, new), ...)

    def text(self) -> str:
        return "Rename " + ", ".join(f"the column {column(old)} to {column(new)}" for old, new in self.mapping)

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}.rename(columns={quote(dict(self.mapping))})"]

    def reads(self) -> set[Any] | None:
        return {old for old, _ in self.mapping}

    def writes(self) -> set[Any] | None:
        return {old for old, _ in self.mapping} | {new for _, new in self.mapping}

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class SetColumns(Op):
    names: tuple

    def text(self) -> str:
        return f"Name the columns, in order, {columns_text(self.names)}"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var}.columns = {quote(list(self.names))}"]

    def reads(self) -> set[Any] | None:
        return None

    def writes(self) -> set[Any] | None:
        return None

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class SelectColumns(Op):
    names: tuple

    def text(self) -> str:
        return f"Keep only the columns {columns_text(self.names)}"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}[{quote(list(self.names))}]"]

    def reads(self) -> set[Any] | None:
        return set(self.names)

    def writes(self) -> set[Any] | None:
        return None

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class SelectRows(Op):
    """`df.loc[["Maine", "Alaska"]]`: the rows with these labels (index values), in this order."""

    labels: tuple

    def text(self) -> str:
        return f"Keep only the rows whose label (index value) is {' or '.join(map(quote, self.labels))}, in that order"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}.loc[{quote(list(self.labels))}]"]


@dataclass(frozen=True)
class SelectColumnRange(Op):
    """`df.loc[:, 'a':'b']`: the columns from `first` to `last`, both included, in the table's order."""

    first: Any
    last: Any

    def text(self) -> str:
        return (f"Keep only the columns from {column(self.first)} to {column(self.last)}, both included, "
                "in the order the table has them")

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}.loc[:, {quote(self.first)}:{quote(self.last)}]"]

    def reads(self) -> set[Any] | None:
        return None  # which columns lie between the two depends on every column before it

    def writes(self) -> set[Any] | None:
        return None

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class DropColumns(Op):
    names: tuple

    def text(self) -> str:
        return f"Drop the column{'s' if len(self.names) > 1 else ''} {columns_text(self.names)}"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}.drop(columns={quote(list(self.names))})"]

    def writes(self) -> set[Any] | None:
        return None

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class SortRows(Op):
    by: tuple
    ascending: tuple  # one bool per column

    def text(self) -> str:
        keys = [f"{column(c)} ({'ascending' if a else 'descending'})" for c, a in zip(self.by, self.ascending)]
        return "Sort the rows by " + ", then ".join(keys) + " (a stable sort)"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}.sort_values({quote(list(self.by))}, ascending={quote(list(self.ascending))}, kind='stable')"]

    def reads(self) -> set[Any] | None:
        return set(self.by)

    def changes_rows(self) -> bool:
        return False  # the same rows, in another order: only positions change


@dataclass(frozen=True)
class OpaqueColumn(Op):
    """A column set by code the spec cannot state (`df["year"] = df["year"].apply(fix_century)`).
    A question that never reads that column is not changed by it (`Frame.pruned` drops it); a
    question that does gives no task (`opaque_step`), so it is never rendered."""

    name: Any
    statement: str  # the code, for the drop reason

    def text(self) -> str:
        raise ValueError(f"{self.statement}: no sentence states it")

    def code(self, var: str, namer: Namer) -> list[str]:
        raise ValueError(f"{self.statement}: no program states it")

    def reads(self) -> set[Any] | None:
        return None

    def writes(self) -> set[Any] | None:
        return {self.name}

    def changes_rows(self) -> bool:
        return False  # a column assignment aligns on the row labels: the rows stay


def opaque_step(frames: list["Frame"]) -> str | None:
    """The code of the first step of these frames (or of the tables they merge) that no text can
    state, or None."""
    for frame in frames:
        for op in frame.ops:
            if isinstance(op, OpaqueColumn):
                return op.statement
            inner = op.right if isinstance(op, Merge) else op.other if isinstance(op, Concat) else None
            found = opaque_step([inner]) if inner is not None else None
            if found:
                return found
    return None


@dataclass(frozen=True)
class HeadRows(Op):
    n: int
    last: bool = False

    def text(self) -> str:
        return f"Keep only the {'last' if self.last else 'first'} {self.n} rows"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}.{'tail' if self.last else 'head'}({self.n})"]


@dataclass(frozen=True)
class SetIndex(Op):
    name: Any  # a column, or a tuple of columns (a multi-level index)

    def names(self) -> tuple:
        return self.name if isinstance(self.name, tuple) else (self.name,)

    def text(self) -> str:
        if isinstance(self.name, tuple):
            return f"Use the columns {columns_text(self.name)} as the index (row labels), in that order"
        return f"Use the column {column(self.name)} as the index (row labels)"

    def code(self, var: str, namer: Namer) -> list[str]:
        key = quote(list(self.name)) if isinstance(self.name, tuple) else quote(self.name)
        return [f"{var} = {var}.set_index({key})"]

    def reads(self) -> set[Any] | None:
        return set(self.names())

    def writes(self) -> set[Any] | None:
        return set(self.names())

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class SetIndexTo(Op):
    """`df.index = expr`: new row labels computed per row; unlike set_index, every column stays."""

    value: Expr

    def text(self) -> str:
        return f"Replace the row labels (the index) by {self.value.text()}, keeping every column"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var}.index = {self.value.code(var)}"]

    def reads(self) -> set[Any] | None:
        return self.value.columns()

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class CombineDates(Op):
    """`read_csv(..., parse_dates=[["y", "m", "d"]])` as old pandas did it (pandas 3 removed it): the
    columns' values joined with spaces and read as one date column, placed first, in their stead."""

    parts: tuple
    name: Any

    def text(self) -> str:
        return (f"Replace the columns {columns_text(self.parts)} by one column {column(self.name)}, placed first: "
                "the values of each row joined with spaces, read as a date")

    def code(self, var: str, namer: Namer) -> list[str]:
        parts = quote(list(self.parts))
        return [f"{var}.insert(0, {quote(self.name)}, pd.to_datetime({var}[{parts}].astype(str).agg(' '.join, axis=1)))",
                f"{var} = {var}.drop(columns={parts})"]

    def reads(self) -> set[Any] | None:
        return set(self.parts)

    def writes(self) -> set[Any] | None:
        return None  # it removes columns too: always kept, as a drop is (`_combined_then_dropped`)

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class NameIndex(Op):
    """`df.index.name = "taxon"`: the row labels keep their values and take a name."""

    name: Any

    def text(self) -> str:
        return f"Name the index (the row labels) {quote(self.name)}"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var}.index.name = {quote(self.name)}"]

    def writes(self) -> set[Any] | None:
        return {self.name}  # (`Frame.pruned` keeps it only for a step that reads that name, as groupby may)

    def changes_rows(self) -> bool:
        return False


@dataclass(frozen=True)
class ResetIndex(Op):
    def text(self) -> str:
        return "Number the rows again from 0, dropping the old row labels"

    def code(self, var: str, namer: Namer) -> list[str]:
        return [f"{var} = {var}.reset_index(drop=True)"]

    def changes_rows(self) -> bool:
        return False


MERGE_HOW = {"inner": "keeping only keys found in both", "left": "keeping every row of the first table",
             "right": "keeping every row of the second table", "outer": "keeping the keys of either table"}


@dataclass(frozen=True)
class Merge(Op):
    right: "Frame"
    how: str = "inner"
    on: tuple | None = None
    left_on: tuple | None = None
    right_on: tuple | None = None

    def text(self) -> str:
        if self.on is not None:
            keys = f"on {columns_text(self.on)}"
        elif self.left_on is not None and self.right_on is not None:
            keys = f"matching {columns_text(self.left_on)} with {columns_text(self.right_on)}"
        else:
            keys = "on the columns both tables share"
        other = self.right.describe()
        return f"Merge with {other} {keys} ({self.how} join, {MERGE_HOW[self.how]})"

    def code(self, var: str, namer: Namer) -> list[str]:
        other = namer.next()
        lines = self.right.code(other, namer)
        args = [other, f"how={quote(self.how)}"]
        if self.on is not None:
            args.append(f"on={quote(list(self.on))}")
        if self.left_on is not None:
            args += [f"left_on={quote(list(self.left_on))}", f"right_on={quote(list(self.right_on or ()))}"]
        return lines + [f"{var} = {var}.merge({', '.join(args)})"]

    def reads(self) -> set[Any] | None:
        return None

    def writes(self) -> set[Any] | None:
        return None


@dataclass(frozen=True)
class Concat(Op):
    """`pd.concat([df, other])`, `df.append(other)`: the rows of another table below these."""

    other: "Frame"
    ignore_index: bool = False

    def text(self) -> str:
        labels = "numbering all rows again from 0" if self.ignore_index else "each row keeping its row label"
        return f"Append the rows of {self.other.describe()} below the rows so far ({labels})"

    def code(self, var: str, namer: Namer) -> list[str]:
        other = namer.next()
        again = ", ignore_index=True" if self.ignore_index else ""
        return self.other.code(other, namer) + [f"{var} = pd.concat([{var}, {other}]{again})"]

    def reads(self) -> set[Any] | None:
        return None

    def writes(self) -> set[Any] | None:
        return None
