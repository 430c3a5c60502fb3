"""Tables a notebook types in, written out as data files its tasks can ship.

Many notebooks analyse a table they build from literals rather than read from a file:

    raw_data = {"regiment": ["Nighthawks", "Dragoons"], "preTestScore": [4, 24]}
    regiment = pd.DataFrame(raw_data, columns=["regiment", "preTestScore"])

A task must stand alone (the solver sees the task text and its data files, never the notebook), so
such a table becomes a file: `regiment.csv`, written here, read by the task like any other data
file. The table is rebuilt from the literals alone: the cell's code is never run, only its
constants are read (`ast` nodes of literals, names bound to literals before, `np.nan`,
`pd.Series(...)` and `pd.DataFrame(...)` of them), and a table that does not come back the same
from its CSV file (column labels that are not text, digit strings read back as numbers with no
`dtype` that fixes them) gives no file.

A Series typed in (`obj = pd.Series([4, 7, -5], index=["d", "b", "a"])`) is a table of one
column, named by the Series (`value` when it has no name), its index the first column.

Each table is a `DataRef` of kind `inline`: `generated` is the file under the run's
`_work/inline/`, `sites` the place of the `pd.DataFrame(...)` call, which the spec reader
(extract/pandas_calls.py) reads as `pd.read_csv("regiment.csv")` (a Series: that file's column). Its origin in the `files`
config is the notebook's cell.
"""

from __future__ import annotations

import ast
import hashlib
import io
import math
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from nbqa_builder.extract.slicer import cell_names
from nbqa_builder.records import FOUND, INLINE, DataRef, Notebook, code_path

MAX_NODES = 50_000  # literal nodes one table may be built from
MAX_CSV_BYTES = 1_000_000
MIN_ROWS = 2  # a one-row table has nothing to analyse
NAN_NAMES = {"nan", "NaN", "NAN"}
SERIES_COLUMN = "value"  # the column of a Series typed in without a name
SIMPLE_DTYPES = {"float64", "float", "int64", "int", "str", "object", "bool", "float32", "int32"}


class NotLiteral(Exception):
    """The expression is not made of literals only."""


class Literals:
    """Evaluates the literal part of Python: constants, lists, tuples, dicts, names bound to such
    values, `np.nan`, and pandas' Series and DataFrame built from them. Nothing else runs."""

    def __init__(self, pandas: set[str] | None = None, numpy: set[str] | None = None) -> None:
        # the names pandas and numpy are imported as, and `from pandas import DataFrame, Series`
        self.pandas, self.numpy = set(pandas or ()), set(numpy or ())
        self.frame_names: set[str] = set()
        self.env: dict[str, Any] = {}
        self.nodes = 0

    def imports(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ("pandas", "numpy"):
                    (self.pandas if alias.name == "pandas" else self.numpy).add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module == "pandas":
            self.frame_names.update(a.name for a in node.names if a.name in ("DataFrame", "Series") and not a.asname)

    def value(self, node: ast.expr) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise NotLiteral("too large")
        if isinstance(node, ast.Constant) and not isinstance(node.value, bytes):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict) and None not in node.keys:
            return {self.value(k): self.value(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            number = self.value(node.operand)
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, ast.Name) and node.id in self.env:
            return self.env[node.id]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.numpy \
                and node.attr in NAN_NAMES:
            return math.nan
        if isinstance(node, ast.Call):
            return self.call(node)
        raise NotLiteral(type(node).__name__)

    def call(self, node: ast.Call) -> Any:
        function = node.func
        if isinstance(function, ast.Attribute) and function.attr == "keys" and not node.args and not node.keywords:
            owner = self.value(function.value)
            if isinstance(owner, dict):
                return list(owner)
        if isinstance(function, ast.Name) and function.id == "float" and len(node.args) == 1 and not node.keywords:
            text = self.value(node.args[0])
            if isinstance(text, str) and text.strip().lower() == "nan":
                return math.nan
        kind = self.pandas_class(function)
        if kind is None or len(node.args) > 1 or any(k.arg is None for k in node.keywords):
            raise NotLiteral("call")
        allowed = {"DataFrame": {"data", "columns", "index", "dtype"}, "Series": {"data", "index", "name", "dtype"}}[kind]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords}
        if set(kwargs) - allowed or kwargs.get("dtype", "float64") not in SIMPLE_DTYPES:
            raise NotLiteral(f"{kind} option")
        if node.args:
            if "data" in kwargs:
                raise NotLiteral("data twice")
            kwargs["data"] = self.value(node.args[0])
        if not isinstance(kwargs.get("data"), (dict, list, tuple)):
            raise NotLiteral("data")
        try:
            return (pd.DataFrame if kind == "DataFrame" else pd.Series)(**kwargs)
        except (ValueError, TypeError) as exc:  # lists of different lengths, say
            raise NotLiteral(str(exc)) from None

    def pandas_class(self, function: ast.expr) -> str | None:
        if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) \
                and function.value.id in self.pandas and function.attr in ("DataFrame", "Series"):
            return function.attr
        if isinstance(function, ast.Name) and function.id in self.frame_names:
            return function.id
        return None


def csv_of(frame: pd.DataFrame) -> tuple[bytes, tuple] | None:
    """The table as CSV bytes, and the read options that give it back exactly; None when no
    CSV file does (labels that are not text, values CSV cannot hold)."""
    if frame.shape[0] < MIN_ROWS or frame.shape[1] == 0 or not frame.columns.is_unique:
        return None
    if not all(isinstance(c, str) and c.strip() == c and c for c in frame.columns):
        return None
    for column in frame.columns:
        values = frame[column]
        if _textual(values) and not all(isinstance(v, (str, int, float, bool)) or v is None for v in values):
            return None  # lists, dicts, dates: no CSV cell holds them as they are
    empty = [c for c in frame.columns if _textual(frame[c]) and frame[c].isna().all()]
    if empty:  # a column named but given no values (`columns=[..., "debt"]`): a CSV file reads it as numbers
        frame = frame.astype({c: "float64" for c in empty})
    index = not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1
    if index and (frame.index.name in frame.columns or not frame.index.is_unique):
        return None
    text = frame.to_csv(index=index)
    options: list[tuple[str, Any]] = [("index_col", 0)] if index else []
    back = _read_back(text, options)
    if back is not None and not _same(frame, back):
        # digit strings ("1", "007") come back as numbers: say that they are text
        texts = {c: "str" for c in frame.columns if _textual(frame[c]) and not _textual(back[c])}
        if not texts:
            return None
        options.append(("dtype", texts))
        back = _read_back(text, options)
    if back is None or not _same(frame, back):
        return None
    data = text.encode("utf-8")
    return (data, tuple(options)) if len(data) <= MAX_CSV_BYTES else None


def _textual(values: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)


def _read_back(text: str, options: list[tuple[str, Any]]) -> pd.DataFrame | None:
    try:
        return pd.read_csv(io.StringIO(text), **dict(options))
    except (ValueError, pd.errors.ParserError):
        return None


def _same(frame: pd.DataFrame, back: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(frame, back, check_dtype=True, check_index_type=True, check_names=False)
    except AssertionError:
        return False
    return list(frame.index.names) == list(back.index.names) or list(frame.index.names) == [None]


def _file_name(variable: str, taken: set[str]) -> str:
    stem = re.sub(r"[^\w\-]", "_", variable).strip("_") or "table"
    name, n = f"{stem}.csv", 2
    while name in taken:
        name, n = f"{stem}_{n}.csv", n + 1
    taken.add(name)
    return name


def _frame_calls(statement: ast.stmt, literals: Literals) -> list[tuple[ast.Call, str | None]]:
    """The `pd.DataFrame(...)` calls of a statement, and the `pd.Series(...)` calls bound to a
    name, each with the name it is bound to (if any)."""
    target = statement.targets[0].id if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
        and isinstance(statement.targets[0], ast.Name) else None
    found = []
    for node in ast.walk(statement):
        if not isinstance(node, ast.Call):
            continue
        bound = node is getattr(statement, "value", None)
        kind = literals.pandas_class(node.func)
        if kind == "DataFrame" or (kind == "Series" and bound and target):
            found.append((node, target if bound else None))
    return found


def inline_tables(notebook: Notebook, trees: list[ast.Module | None], folder: Path | None) -> list[DataRef]:
    """The tables the notebook types in, each written into `folder` (by content) as a data ref of
    kind `inline`; [] when there is no folder to write into."""
    if folder is None:
        return []
    literals = Literals()
    taken = {PurePosixPath(code_path(ref.as_written) or ref.as_written).name for ref in notebook.data_refs}
    refs: list[DataRef] = []
    by_content: dict[bytes, str] = {}
    for index, tree in enumerate(trees):
        if tree is None or notebook.cells[index].cell_type != "code":
            continue
        for statement in tree.body:
            literals.imports(statement)
            if literals.pandas or literals.frame_names:
                for call, name in _frame_calls(statement, literals):
                    ref = _table_ref(call, name or f"table_cell{index}", index, literals, taken, by_content, folder)
                    if ref is not None:
                        refs.append(ref)
            _bind(statement, literals)
    return refs


def _table_ref(call: ast.Call, variable: str, index: int, literals: Literals, taken: set[str],
               by_content: dict[bytes, str], folder: Path) -> DataRef | None:
    literals.nodes = 0
    try:
        frame = literals.value(call)
    except (NotLiteral, RecursionError):
        return None
    column = None
    if isinstance(frame, pd.Series):  # a Series typed in: a table of one column
        column = frame.name if isinstance(frame.name, str) and frame.name else SERIES_COLUMN
        frame = frame.to_frame(name=column)
    made = csv_of(frame) if isinstance(frame, pd.DataFrame) else None
    if made is None:
        return None
    data, options = made
    digest = hashlib.sha256(data).hexdigest()
    path = folder / digest
    if not path.exists():  # by content: the workers that write the same table write the same bytes
        folder.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{digest}.{os.getpid()}.tmp")
        temp.write_bytes(data)
        temp.replace(path)
    name = by_content.get(data) or _file_name(variable, taken)
    by_content[data] = name
    return DataRef(as_written=name, cell=index, call="pd.Series" if column else "pd.DataFrame", status=FOUND, sha256=digest, size=len(data),
                   rows=data.count(b"\n"), sites=[(index, call.lineno, call.col_offset)], kind=INLINE,
                   generated=str(path), read_options=options, series_column=column)


def _bind(statement: ast.stmt, literals: Literals) -> None:
    """Names a statement binds to literals are known after it; every other name it sets is not."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        literals.nodes = 0
        try:
            value = literals.value(statement.value)
        except (NotLiteral, RecursionError):
            value = NotLiteral
        if value is not NotLiteral and not isinstance(value, (pd.DataFrame, pd.Series)):
            literals.env[statement.targets[0].id] = value
            return
    names = cell_names(ast.Module(body=[statement], type_ignores=[]))
    for name in names.defines if names else ():
        literals.env.pop(name, None)
