"""What names hold while extract/interpret.py follows a slice: descriptions of values, not data.

A name holds a frame as the spec describes it (`FrameV`), a column of one (`SeriesV`), a row
condition (`CondV`), a grouping, value counts, a statistic (`StatV`), a constant, a module, or
`Unknown`: something the spec cannot state, with the reason and the code that made it so.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract import spec as S
from nbqa_builder.extract import statistics as T

UNRENDERABLE_PREPROCESSING = "unrenderable_preprocessing"
UNRENDERABLE_STATISTIC = "unrenderable_statistic"
DATA_NOT_LOCAL = "data_file_not_local"


# -- the values --------------------------------------------------------------------


@dataclass(eq=False)
class Unknown:
    # a value the spec cannot state: a statistic it cannot phrase, unless a statement before the
    # answer made it so (then `unrenderable_preprocessing`)
    reason: str = UNRENDERABLE_STATISTIC
    # the code the spec could not state, for the task's reject record: text, or the AST node,
    # written out only when the reason is reported (ast.unparse is costly, and most unknowns
    # never reach a report)
    where: str | ast.AST = ""

    @property
    def detail(self) -> str:
        return self.where if isinstance(self.where, str) else snippet(self.where)


@dataclass(eq=False)
class Const:
    value: Any


@dataclass(eq=False)
class Module:
    name: str  # "pandas", "numpy", "os", "os.path", "pathlib.Path"...


@dataclass(eq=False)
class FrameV:
    frame: S.Frame


@dataclass(eq=False)
class SeriesV:
    """A column (or an expression over columns) of a frame."""

    frame: S.Frame
    expr: S.Expr


@dataclass(eq=False)
class CondV:
    frame: S.Frame
    cond: S.Cond


@dataclass(eq=False)
class AccessorV:
    series: SeriesV
    kind: str  # "str" | "dt"


@dataclass(eq=False)
class GroupByV:
    frame: S.Frame
    by: Any
    of: S.Col | None = None


@dataclass(eq=False)
class GroupSeriesV:
    frame: S.Frame
    by: Any
    of: S.Col | None
    method: str


@dataclass(eq=False)
class GroupTableV:
    """`df.groupby(by)[[a, b]].mean()`: one row per group, one column per selected column; the
    row asked of it is the group at the top of `rank_by` (`sort_values` chooses it)."""

    frame: S.Frame
    by: Any
    columns: tuple  # the selected columns, in order
    method: str  # None until aggregated
    rank_by: Any = None  # None: the first selected column (of `methods`, the first method)
    largest: bool = True
    methods: tuple = ()  # `[x].agg(["mean", "max"])`: one selected column, a table column per method


@dataclass(eq=False)
class EntryCondV:
    """`s > 1000` where `s` is a grouped result or value counts: a condition on its entries;
    `s[s > 1000]` keeps the entries that meet it (`kept`), `len()` or `.sum()` counts them."""

    series: T.Statistic  # GroupAll | ValueCounts
    op: str
    value: Any
    kept: bool = False


@dataclass(eq=False)
class CountsV:
    """`series.value_counts()`: counts (or shares) per value, largest first."""

    frame: S.Frame
    of: S.Expr
    normalize: bool = False
    cut: bool = False  # `.head(k)`: only the top entries are shown


@dataclass(eq=False)
class CorrMatrixV:
    """`df.corr()`: the Pearson correlation of every two numeric columns, as a square table."""

    frame: S.Frame


@dataclass(eq=False)
class FrameInfoV:
    """`df.info()`: it prints the row count and each column's non-null count."""

    frame: S.Frame


@dataclass(eq=False)
class FunctionV:
    """A function of one value the notebook defines (`lambda x: x.capitalize()`, or a `def` that
    returns one expression): `apply` and `map` read its body per column (PandasCalls.element_apply)."""

    param: str
    body: ast.expr


@dataclass(eq=False)
class StatV:
    stat: T.Statistic


@dataclass(eq=False)
class IndexerV:
    frame: S.Frame
    kind: str  # "loc" | "iloc" | "shape" | "index" | "columns"


@dataclass(eq=False)
class ModeV:
    """`s.mode()`: the most frequent values, sorted; `s.mode()[0]` is the most frequent one."""

    frame: S.Frame
    expr: S.Expr


@dataclass(eq=False)
class UniqueV:
    """`s.unique()`: `len()` of it counts the distinct values, a missing value among them."""

    frame: S.Frame
    expr: S.Expr


@dataclass(eq=False)
class FrameMissingV:
    """`df.isna()`, then `.sum()` per column, then `.sum()` again: missing values in the table
    (`present`: `df.notna()`, the values there)."""

    frame: S.Frame
    summed: bool = False
    present: bool = False


@dataclass(eq=False)
class SortedGroupsV:
    """A grouped result sorted by value: `.index[0]` is the group at the top."""

    group: GroupSeriesV
    ascending: bool
    cut: bool = False  # `.head(k)`: only the top entries are shown


@dataclass(eq=False)
class IndexOfV:
    """`.index` of value counts or of sorted groups: `[0]` is the label at the top."""

    source: Any  # CountsV | SortedGroupsV


Value = Any


def snippet(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except (ValueError, RecursionError, AttributeError):
        return type(node).__name__
    first = text.splitlines()[0] if text else ""
    return first[:117] + "..." if len(first) > 120 else first


def is_label(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def label_tuple(value: Any) -> tuple | None | bool:
    """Column labels as a tuple; False when they are not labels."""
    if is_label(value):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(map(is_label, value)):
        return tuple(value)
    return False


class FrozenDict(tuple):
    """A dict as a hashable tuple of its items, written back as the dict (`dtype={"id": "str"}`)."""

    def __repr__(self) -> str:
        return repr(dict(self))


def frozen(value: Any) -> Any:
    """Read options as hashable constants (a frozen spec is a dict key)."""
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return FrozenDict((k, frozen(v)) for k, v in value.items())
    return value


def thawed(value: Any) -> Any:
    """A frozen read option as pandas takes it (the inverse of `frozen`)."""
    if isinstance(value, FrozenDict):
        return {k: thawed(v) for k, v in value}
    if isinstance(value, tuple):
        return [thawed(v) for v in value]
    return value


@dataclass(eq=False)
class PivotV:
    """`df.pivot_table(values="x", index="a", columns="b", aggfunc="sum")` or `pd.crosstab(df.a, df.b)`
    (method "size"): a table whose one cell is a group's statistic, the groups those of `a` and `b`."""

    frame: S.Frame
    index: Any
    columns: Any  # None: a pivot table without `columns`, whose one column is `of`
    of: S.Col | None
    method: str  # a key of statistics.GROUP_METHODS


@dataclass(eq=False)
class PivotCellsV:
    """`pivot.loc` (`part` None) or one column of a pivot (`part` its label): a cell is one step away."""

    pivot: PivotV
    part: Any = None


@dataclass(eq=False)
class FramesV:
    """Tables read one per file a glob pattern matches (`[pd.read_csv(f) for f in glob(...)]`, a
    loop that appends them to a list), in file name order: `pd.concat` stacks them."""

    frames: tuple


@dataclass(eq=False)
class EmptyFrameV:
    """`pd.DataFrame()`: nothing yet, the start of a loop that appends tables to it."""
