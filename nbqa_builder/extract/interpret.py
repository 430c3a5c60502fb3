"""Read a task spec off a notebook's code: what a cell's displayed value computes, from which file,
after which preparation.

The cells of the answer's backward slice are followed statement by statement, like a kernel
running them, but over *descriptions* instead of data: `df = pd.read_csv("sales.csv")` binds `df`
to a `Frame` reading that file; `df = df.dropna(subset=["x"])` appends a `DropNA`;
`df["r"] = df["a"] * df["b"]` a `SetColumn`; the answer cell's final expression
`df[df["t"] > 20]["rain"].mean()` becomes `Agg(Frame(..., FilterRows(t > 20)), Col("rain"), "mean")`.

Anything the spec cannot say exactly makes the names it touches `Unknown`: a loop, a function
call, an `apply`, a method we do not model. A statistic that reads an `Unknown` gives no task
(`unrenderable_preprocessing`), and a final expression that is not a statistic we can phrase
gives none either (`unrenderable_statistic`). Whatever slips through is caught by `verify`, which
runs the reference program written from the spec and compares it with the notebook's own value.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable
from urllib.parse import urlsplit

from nbqa_builder.deps.paths import is_url
from nbqa_builder.extract import spec as S
from nbqa_builder.extract import statistics as T
from nbqa_builder.extract import models
from nbqa_builder.extract.descriptions import (
    UNRENDERABLE_PREPROCESSING, UNRENDERABLE_STATISTIC, AccessorV, CondV, Const, CountsV, EntryCondV, FrameV, FunctionV,
    GroupByV, GroupTableV,
    GroupSeriesV, IndexerV, IndexOfV, Module, ModeV, SeriesV, SortedGroupsV, StatV, Unknown, Value, is_label, snippet,
)
from nbqa_builder.extract.pandas_calls import COMPARE, FLIPPED, Header, PandasCalls
from nbqa_builder.extract.slicer import cell_names
from nbqa_builder.records import DataRef

# what `df.groupby(by).<name>` means when it is not a column
GROUPBY_ATTRIBUTES = {"groups", "indices", "ngroups", "ndim", "obj", "keys", "dtypes", "plot", "grouper"}
MAX_GROUPS = 8  # a grouped result with more entries is a table, not a few answers


@dataclass
class Reading:
    """What the answer cell's displayed value is: a statistic, or why none could be read."""

    stat: T.Statistic | None = None
    reason: str | None = None
    detail: str = ""  # the code that could not be stated
    refs: tuple[DataRef, ...] = ()
    # what the answer cell's last expression is (its description, and the node): extract/tables.py
    # reads tables and long Series from the one, drop reasons name the other
    shown: Any = None
    last: ast.expr | None = None


DT_FIELDS = {"year": "dt.year", "month": "dt.month", "day": "dt.day", "hour": "dt.hour", "dayofweek": "dt.dayofweek",
             "weekday": "dt.dayofweek", "quarter": "dt.quarter", "dayofyear": "dt.dayofyear"}
BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
# methods that change their receiver when called with inplace=True
INPLACE_METHODS = {"dropna", "fillna", "drop_duplicates", "drop", "rename", "sort_values", "reset_index",
                   "set_index", "query", "replace"}
# methods that change their receiver whatever their arguments
MUTATORS = {"insert", "pop", "update", "set_axis", "clip", "interpolate", "where", "mask", "eval", "append"}


class SliceReader(PandasCalls):
    """Follows the cells of a slice over descriptions (see the module doc). One per task."""

    def __init__(self, refs: list[DataRef], file_name: Callable[[DataRef], str],
                 defined: dict[int, Any] | None = None, absent_files: bool = False,
                 header: Header | None = None) -> None:
        self.env: dict[str, Value] = {}
        self.header = header  # the columns a read gives, from its file: what names columns given by position
        # id(statement) -> the names it defines: the slices of one notebook share their cells'
        # statements, and reading what a statement defines costs more than the rest of a taint
        self.defined = {} if defined is None else defined
        # a read of a file the repository lacks, or of a URL, still names its file (a notebook
        # kept for `sft`: its tasks are grounded in the stored outputs)
        self.absent_files = absent_files
        self.refs_by_site = {site: ref for ref in refs for site in ref.sites}
        self.refs = refs  # a read in a loop over a glob pattern has one ref per file it matches
        self.file_name = file_name
        self.used_refs: dict[int, DataRef] = {}
        self.cell = 0
        self.last: ast.expr | None = None  # the answer cell's last expression

    # -- statements ------------------------------------------------------------------------------

    def run_cell(self, index: int, tree: ast.Module, final: bool = False) -> Value:
        """Run a cell's statements; with `final`, return the value its last expression shows."""
        self.cell = index
        body = tree.body
        if final:
            if not body or not isinstance(body[-1], ast.Expr):
                return Unknown(UNRENDERABLE_STATISTIC)
            body, last = body[:-1], body[-1].value
            self.last = last
        for statement in body:
            try:
                self.statement(statement)
            except RecursionError:
                self.taint(statement)
        if final:
            return self.shown(last)
        return None

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self.imports(node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            self.assign(node.targets[0], node.value, node)
        elif isinstance(node, ast.Assign) and isinstance(self.const(node.value), Const):
            for target in node.targets:  # `a.columns = b.columns = ["n"]`: one constant, each target
                self.assign(target, node.value, node)
        elif isinstance(node, ast.AugAssign):
            target = node.target
            current = ast.Subscript(value=target.value, slice=target.slice, ctx=ast.Load()) if isinstance(target, ast.Subscript) else target
            grown = ast.BinOp(left=current, op=node.op, right=node.value)
            ast.copy_location(grown, node)
            self.assign(target, grown, node)
        elif isinstance(node, ast.Expr):
            self.expression_statement(node.value)
        elif isinstance(node, ast.Pass):
            pass
        elif isinstance(node, ast.FunctionDef) and isinstance(function := element_function(node), FunctionV):
            self.env[node.name] = function
        elif not (isinstance(node, ast.For) and self.files_loop(node)):
            self.taint(node)

    def taint(self, node: ast.AST) -> None:
        """Every name a statement we do not follow binds or changes becomes Unknown."""
        key = id(node)
        if key not in self.defined:
            self.defined[key] = (node, cell_names(ast.Module(body=[node], type_ignores=[])))
        names = self.defined[key][1]  # (the node is kept so that its id is not reused)
        unknown = Unknown(UNRENDERABLE_PREPROCESSING, node)
        for name in names.defines if names else ():
            self.env[name] = unknown

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.env[alias.asname] = Module(alias.name)
                else:
                    head = alias.name.split(".")[0]
                    self.env[head] = Module(head)
            return
        module = node.module or ""
        for alias in node.names:
            if alias.name != "*":
                self.env[alias.asname or alias.name] = Module(f"{module}.{alias.name}")

    def assign(self, target: ast.expr, value_node: ast.expr, statement: ast.stmt) -> None:
        if isinstance(target, ast.Tuple) and self.split_assign(target, value_node):
            return
        if isinstance(target, ast.Name):
            value = self.value(value_node)
            if isinstance(value, Unknown):
                value = Unknown(UNRENDERABLE_PREPROCESSING if value.reason == UNRENDERABLE_STATISTIC else value.reason,
                                value.where)
            self.env[target.id] = value
            return
        column = _column_target(target)
        if column is not None:
            name, key_node = column
            owner = self.env.get(name)
            if isinstance(owner, Unknown):
                return  # already unknown: keep the first reason
            key = self.const(key_node) if isinstance(key_node, ast.AST) else Const(key_node)
            if isinstance(owner, FrameV) and isinstance(key, Const) and is_label(key.value):
                expr = self.column_expr(self.value(value_node), owner.frame)
                op = _set_column(key.value, expr) if expr is not None else S.OpaqueColumn(key.value, snippet(statement))
                # (a column set by code we cannot state only stops the questions that read it)
                self.rebind(name, owner, FrameV(owner.frame.then(op)))
                return
            self.env[name] = Unknown(UNRENDERABLE_PREPROCESSING, statement)
            return
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                and isinstance(self.env.get(target.value.id), Unknown):
            return  # already unknown: keep the first reason
        if isinstance(target, ast.Attribute) and ".options.display." in f"{_module_name(self.value(target.value))}.":
            return  # pd.options.display.max_rows = 10: how pandas shows a table, not what it holds
        if (isinstance(target, ast.Attribute) and target.attr == "columns" and isinstance(target.value, ast.Name)
                and isinstance(self.env.get(target.value.id), FrameV)):
            names = self.const(value_node)
            owner = self.env[target.value.id]
            if isinstance(names, Const) and isinstance(names.value, (list, tuple)) and all(map(is_label, names.value)):
                self.rebind(target.value.id, owner, FrameV(owner.frame.then(S.SetColumns(tuple(names.value)))))
                return
        if (isinstance(target, ast.Attribute) and target.attr == "name" and isinstance(target.value, ast.Attribute)
                and target.value.attr == "index" and isinstance(target.value.value, ast.Name)
                and isinstance(self.env.get(target.value.value.id), FrameV) and isinstance(value_node, ast.Constant)
                and is_label(value_node.value)):
            owner = self.env[target.value.value.id]
            self.rebind(target.value.value.id, owner, FrameV(owner.frame.then(S.NameIndex(value_node.value))))
            return
        if (isinstance(target, ast.Attribute) and target.attr == "index" and isinstance(target.value, ast.Name)
                and isinstance(self.env.get(target.value.id), FrameV)):
            owner = self.env[target.value.id]
            labels = self.column_expr(self.value(value_node), owner.frame)
            if labels is not None and not isinstance(labels, (S.Lit, S.StatRef)):  # one label per row
                self.rebind(target.value.id, owner, FrameV(owner.frame.then(S.SetIndexTo(labels))))
                return
        self.taint(statement)

    def split_assign(self, target: ast.Tuple, value_node: ast.expr) -> bool:
        """`X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=..., random_state=...)`
        (extract/models.py); False for any other unpacking."""
        names = [n.id for n in target.elts if isinstance(n, ast.Name)]
        if len(names) != 4 or len(target.elts) != 4 or not isinstance(value_node, ast.Call):
            return False
        callee = self.value(value_node.func)
        if not (isinstance(callee, Module) and callee.name.endswith("train_test_split")):
            return False
        args, kwargs, unknown = self.arguments(value_node)
        split = models.split_of(*args, kwargs) if unknown is None and len(args) == 2 else None
        if split is None:
            for name in names:
                self.env[name] = Unknown(UNRENDERABLE_PREPROCESSING, value_node)
            return True
        for name, (role, part) in zip(names, [("X", "train"), ("X", "test"), ("y", "train"), ("y", "test")]):
            self.env[name] = models.SplitPartV(split, role, part)
        return True

    def rebind(self, name: str, old: Value, new: Value) -> None:
        """A frame changed in place: other names bound to the same object now hold something else."""
        for other, value in list(self.env.items()):
            if value is old and other != name:
                self.env[other] = Unknown(UNRENDERABLE_PREPROCESSING, f"{name} (changed in place, also named {other})")
        self.env[name] = new

    def expression_statement(self, node: ast.expr) -> None:
        """`df.dropna(inplace=True)`, `df["x"].fillna(0, inplace=True)`: changes in place; other
        expressions (`df.head()`, `print(...)`) change nothing."""
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            return
        method = node.func.attr
        inplace = any(k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True for k in node.keywords)
        receiver = node.func.value
        if method == "fit" and isinstance(receiver, ast.Name) and isinstance(self.env.get(receiver.id), models.ModelV):
            self.env[receiver.id] = self.value(node)  # model.fit(X_train, y_train): the model is fitted
            return
        if not inplace and method not in MUTATORS:
            return
        base = receiver
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        if not isinstance(base, ast.Name):
            return
        owner = self.env.get(base.id)
        if isinstance(owner, Unknown):
            return  # already unknown: keep the first reason
        if inplace and method in INPLACE_METHODS and isinstance(owner, FrameV):
            if receiver is base:  # df.method(..., inplace=True) is df = df.method(...)
                plain = ast.Call(func=node.func, args=node.args, keywords=[k for k in node.keywords if k.arg != "inplace"])
                result = self.value(ast.copy_location(plain, node))
                self.rebind(base.id, owner, result if isinstance(result, FrameV)
                            else Unknown(UNRENDERABLE_PREPROCESSING, node))
                return
            column = _column_target(receiver)
            key = Const(column[1]) if column and not isinstance(column[1], ast.AST) else (
                self.const(column[1]) if column else None)
            if method == "fillna" and column and column[0] == base.id and isinstance(key, Const) \
                    and is_label(key.value) and len(node.args) == 1 and len(node.keywords) == 1:
                fill = self.column_expr(self.value(node.args[0]), owner.frame)
                if fill is not None:
                    self.rebind(base.id, owner, FrameV(owner.frame.then(S.FillNA(fill, (key.value,)))))
                    return
        self.env[base.id] = Unknown(UNRENDERABLE_PREPROCESSING, node)

    # -- expressions ----------------------------------------------------------------------------

    def const(self, node: ast.AST) -> Value:
        try:
            return Const(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = self.value(node) if isinstance(node, ast.Name) else None
            return value if isinstance(value, Const) else Unknown()

    def value(self, node: ast.AST) -> Value:
        """The description of an expression; an Unknown names the code it could not state."""
        found = self._value(node)
        if isinstance(found, Unknown) and not found.where:
            found.where = node
        return found

    def _value(self, node: ast.AST) -> Value:
        kind = type(node)
        if kind is ast.Constant:
            return Const(node.value)
        if kind in (ast.List, ast.Tuple, ast.Dict, ast.Set) or (kind is ast.UnaryOp and isinstance(node.op, ast.USub)
                                                                 and isinstance(node.operand, ast.Constant)):
            literal = self.const(node)
            if isinstance(literal, Const):
                return literal
            if kind is ast.UnaryOp:
                return literal
        if kind is ast.Name:
            return self.env.get(node.id) or Unknown(UNRENDERABLE_PREPROCESSING, f"{node.id} (not defined by the cells before)")
        if kind is ast.Attribute:
            return self.attribute(node)
        if kind is ast.Subscript:
            return self.subscript(node)
        if kind is ast.Call:
            return self.call(node)
        if kind is ast.Compare:
            return self.compare(node)
        if kind is ast.BinOp:
            return self.binop(node)
        if kind is ast.UnaryOp:
            return self.unary(node)
        if kind is ast.ListComp:
            return self.files_read(node)
        if kind is ast.Lambda:
            return element_function(node) or Unknown()
        return Unknown()

    def attribute(self, node: ast.Attribute) -> Value:
        owner = self.value(node.value)
        if isinstance(owner, Unknown):
            return owner
        name = node.attr
        if isinstance(owner, Module):
            return Module(f"{owner.name}.{name}")
        if isinstance(owner, FrameV):
            if name in ("loc", "iloc", "shape", "index", "columns"):
                return IndexerV(owner.frame, name)
            if name not in FRAME_ATTRIBUTES:
                return SeriesV(owner.frame, S.Col(name))
            return Unknown()
        if isinstance(owner, SeriesV):
            if name in ("str", "dt"):
                return AccessorV(owner, name)
            return Unknown()
        if isinstance(owner, AccessorV) and owner.kind == "dt" and name in DT_FIELDS:
            return SeriesV(owner.series.frame, S.Apply(DT_FIELDS[name], owner.series.expr))
        if isinstance(owner, (CountsV, SortedGroupsV)) and name == "index":
            return IndexOfV(owner)
        if isinstance(owner, GroupByV) and owner.of is None and name not in GROUPBY_ATTRIBUTES:
            return GroupByV(owner.frame, owner.by, S.Col(name))  # df.groupby("a").price
        return self.other_attribute(owner, name)

    def subscript(self, node: ast.Subscript) -> Value:
        owner = self.value(node.value)
        if isinstance(owner, Unknown):
            return owner
        if isinstance(owner, IndexerV):
            return self.indexer(owner, node)
        key = self.value(node.slice)
        if isinstance(owner, FrameV):
            if isinstance(key, Const) and is_label(key.value):
                return SeriesV(owner.frame, S.Col(key.value))
            if isinstance(key, Const) and isinstance(key.value, list) and key.value and all(map(is_label, key.value)):
                return FrameV(owner.frame.then(S.SelectColumns(tuple(key.value))))
            if isinstance(key, CondV) and key.frame == owner.frame:
                return FrameV(owner.frame.then(S.FilterRows(key.cond)))
            return Unknown()
        if isinstance(owner, SeriesV) and isinstance(key, CondV) and key.frame == owner.frame:
            return SeriesV(owner.frame.then(S.FilterRows(key.cond)), owner.expr)
        if isinstance(key, EntryCondV) and not key.kept and _entries(owner) == key.series:
            return dataclasses.replace(key, kept=True)  # s[s > 1000]
        if isinstance(owner, GroupByV) and isinstance(key, Const) and is_label(key.value):
            return GroupByV(owner.frame, owner.by, S.Col(key.value))
        if isinstance(owner, GroupByV) and owner.of is None and isinstance(key, Const) \
                and isinstance(key.value, list) and key.value and all(map(is_label, key.value)):
            return GroupTableV(owner.frame, owner.by, tuple(key.value), "")
        if isinstance(owner, GroupSeriesV) and isinstance(key, Const):
            return self.group_entry(owner, key.value)
        if isinstance(owner, CountsV) and isinstance(key, Const) and is_label(key.value):
            return StatV(T.ValueCount(owner.frame, owner.of, key.value, owner.normalize))
        if isinstance(owner, AccessorV) and owner.kind == "str" and isinstance(key, Const):
            return self.string_piece(owner, key.value)
        if isinstance(owner, (IndexOfV, ModeV)) and isinstance(key, Const) and key.value == 0:
            return self.top(owner)
        if isinstance(owner, Const) and isinstance(key, Const):
            try:
                return Const(owner.value[key.value])
            except (TypeError, KeyError, IndexError):
                return Unknown()
        return self.other_subscript(owner, key)

    def indexer(self, indexer: IndexerV, node: ast.Subscript) -> Value:
        frame = indexer.frame
        if indexer.kind in ("index", "columns"):
            return Unknown()  # a row or column label by position: not a statistic
        if indexer.kind == "shape":
            key = self.const(node.slice)
            if isinstance(key, Const) and key.value in (0, 1):
                return StatV(T.RowCount(frame) if key.value == 0 else T.ColumnCount(frame))
            return Unknown()
        if indexer.kind == "iloc":
            bounds = node.slice
            if isinstance(bounds, ast.Slice) and bounds.lower is None and bounds.step is None and bounds.upper is not None:
                n = self.const(bounds.upper)
                if isinstance(n, Const) and isinstance(n.value, int) and n.value > 0:
                    return FrameV(frame.then(S.HeadRows(n.value)))
            return Unknown()
        # loc: rows by condition, optionally one column or a list of columns
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        rows, columns = parts[0], parts[1] if len(parts) == 2 else None
        if len(parts) > 2:
            return Unknown()
        labels = self.const(rows) if not isinstance(rows, ast.Slice) else None
        if isinstance(labels, Const) and is_label(labels.value) and columns is not None:
            key = self.const(columns)  # df.loc["Maine", "deaths"]: one cell, by its row and column labels
            if isinstance(key, Const) and is_label(key.value):
                return StatV(T.CellValue(frame, labels.value, S.Col(key.value)))
            return Unknown()
        if isinstance(rows, ast.Slice) and rows.lower is rows.upper is rows.step is None:
            selected = frame
        elif isinstance(labels, Const) and isinstance(labels.value, list) and labels.value \
                and all(map(is_label, labels.value)):
            selected = frame.then(S.SelectRows(tuple(labels.value)))  # df.loc[["Maine", "Alaska"], ...]
        else:
            cond = self.value(rows)
            if not (isinstance(cond, CondV) and cond.frame == frame):
                return Unknown()
            selected = frame.then(S.FilterRows(cond.cond))
        if columns is None:
            return FrameV(selected)
        if isinstance(columns, ast.Slice) and columns.step is None and columns.lower and columns.upper:
            first, last = self.const(columns.lower), self.const(columns.upper)
            if isinstance(first, Const) and isinstance(last, Const) and all(
                    isinstance(end.value, str) for end in (first, last)):
                return FrameV(selected.then(S.SelectColumnRange(first.value, last.value)))
            return Unknown()
        key = self.const(columns)
        if isinstance(key, Const) and is_label(key.value):
            return SeriesV(selected, S.Col(key.value))
        if isinstance(key, Const) and isinstance(key.value, list) and all(map(is_label, key.value)):
            return FrameV(selected.then(S.SelectColumns(tuple(key.value))))
        return Unknown()

    def compare(self, node: ast.Compare) -> Value:
        if len(node.ops) != 1 or type(node.ops[0]) not in COMPARE:
            return Unknown()
        op = COMPARE[type(node.ops[0])]
        left, right = self.value(node.left), self.value(node.comparators[0])
        if isinstance(left, Const) and isinstance(right, SeriesV):
            left, right, op = right, left, FLIPPED[op]
        if isinstance(left, SeriesV):
            other = self.column_expr(right, left.frame)
            if other is not None and _comparable(right):
                return CondV(left.frame, S.Compare(left.expr, op, other))
        series = _entries(left)
        if series is not None and isinstance(right, Const) and isinstance(right.value, (int, float)) \
                and not isinstance(right.value, bool):
            return EntryCondV(series, op, right.value)
        return Unknown()

    def binop(self, node: ast.BinOp) -> Value:
        left, right = self.value(node.left), self.value(node.right)
        op = type(node.op)
        if op in (ast.BitAnd, ast.BitOr) and isinstance(left, CondV) and isinstance(right, CondV) and left.frame == right.frame:
            joined = S.AllOf if op is ast.BitAnd else S.AnyOf
            return CondV(left.frame, joined(_flatten(joined, left.cond) + _flatten(joined, right.cond)))
        if op not in BINOPS:
            return Unknown()
        symbol = BINOPS[op]
        if symbol == "/" and isinstance(left, CountsV):
            return self.counts_over(left, right)
        if isinstance(left, Const) and isinstance(right, Const):
            try:
                return Const(eval(compile(ast.Expression(body=ast.BinOp(  # constants only: no names, no calls
                    left=ast.Constant(left.value), op=node.op, right=ast.Constant(right.value))), "<const>", "eval")))
            except Exception:  # noqa: BLE001 - whatever the constants do, it is simply not a value we can use
                return Unknown()
        frame = next((v.frame for v in (left, right) if isinstance(v, SeriesV)), None)
        if frame is not None:
            a, b = self.column_expr(left, frame), self.column_expr(right, frame)
            if a is not None and b is not None:
                return SeriesV(frame, S.Arith(symbol, a, b))
            return Unknown()
        if symbol == "*" and {type(left), type(right)} == {StatV, Const}:
            share, factor = (left, right) if isinstance(left, StatV) else (right, left)
            if isinstance(share.stat, T.ShareWhere) and not share.stat.percent and factor.value == 100:
                return StatV(dataclasses.replace(share.stat, percent=True))  # 100 * (cond).mean()
        if symbol in ("+", "-", "*", "/") and _statistic_or_number(left) and _statistic_or_number(right):
            if isinstance(left, StatV) or isinstance(right, StatV):
                return StatV(T.Combine(symbol, _side(left), _side(right)))
        return Unknown()

    def unary(self, node: ast.UnaryOp) -> Value:
        operand = self.value(node.operand)
        if isinstance(node.op, ast.Invert) and isinstance(operand, CondV):
            return CondV(operand.frame, S.Not(operand.cond))
        if isinstance(node.op, ast.USub):
            if isinstance(operand, Const) and isinstance(operand.value, (int, float)):
                return Const(-operand.value)
            if isinstance(operand, SeriesV):
                return SeriesV(operand.frame, S.Neg(operand.expr))
        return Unknown()

    def column_expr(self, value: Value, frame: S.Frame) -> S.Expr | None:
        """A per-row expression of `frame` (or a constant, or a statistic of it), or None."""
        if isinstance(value, SeriesV) and value.frame == frame:
            return value.expr
        if isinstance(value, Const) and (value.value is None or isinstance(value.value, (int, float, str, bool))):
            return S.Lit(value.value)
        if isinstance(value, StatV) and all(f == frame for f in value.stat.frames()) and not value.stat.multi():
            return S.StatRef(value.stat)
        return None

    # -- calls ----------------------------------------------------------------------------------

    def call(self, node: ast.Call) -> Value:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return Unknown()
        func = node.func
        if isinstance(func, ast.Name) and func.id not in self.env:
            return self.builtin(func.id, node)
        if isinstance(func, ast.Attribute):
            owner = self.value(func.value)
            if isinstance(owner, Unknown):
                return owner
            if isinstance(owner, Module):
                return self.module_call(f"{owner.name}.{func.attr}", node)
            return self.method(owner, func.attr, node)
        callee = self.value(func)
        if isinstance(callee, Module):
            return self.module_call(callee.name, node)
        return Unknown()

    def kwargs(self, node: ast.Call) -> dict[str, Value]:
        return {k.arg: self.value(k.value) for k in node.keywords}

    # -- what the answer cell shows -----------------------------------------------------------

    def shown(self, node: ast.expr) -> Value:
        """The value the cell's last expression displays: the expression itself, or the one
        non-constant argument of a `print(...)` (also inside an f-string)."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print" and "print" not in self.env:
            if node.keywords:
                return Unknown(UNRENDERABLE_STATISTIC)
            shown = [a for a in node.args if not isinstance(a, ast.Constant)]
            if len(shown) != 1:
                return Unknown(UNRENDERABLE_STATISTIC)
            node = shown[0]
            if isinstance(node, ast.JoinedStr):
                values = [v for v in node.values if isinstance(v, ast.FormattedValue)]
                if len(values) != 1 or values[0].conversion not in (-1,):
                    return Unknown(UNRENDERABLE_STATISTIC)
                node = values[0].value
        value = self.value(node)
        if isinstance(value, GroupSeriesV):
            return StatV(T.GroupAll(value.frame, value.by, value.of, value.method))
        if isinstance(value, CountsV) and value.cut:
            return value  # the top entries only: no whole Series to answer from
        if isinstance(value, CountsV) and not value.normalize:
            return StatV(T.ValueCounts(value.frame, value.of, value.normalize))
        return self.whole_series(value)  # shares of every value, missing values per column


# DataFrame attributes and methods: `df.shape` is not a column named "shape"
FRAME_ATTRIBUTES = frozenset((
    "shape", "columns", "index", "values", "dtypes", "size", "ndim", "empty", "T", "loc", "iloc", "at", "iat",
    "axes", "attrs", "style", "plot", "info", "head", "tail", "describe", "mean", "sum", "count", "max", "min",
    "median", "std", "var", "corr", "groupby", "apply", "copy", "drop", "query", "sample", "sort_values", "dropna",
    "fillna", "isnull", "isna", "merge", "join", "pivot", "melt", "rename", "nunique", "mode", "quantile", "cov",
    "memory_usage", "to_csv", "hist", "boxplot", "agg", "aggregate", "transform", "where", "mask", "all", "any",
))


def _module_name(value: Value) -> str:
    return value.name if isinstance(value, Module) else ""


def _column_target(node: ast.AST) -> tuple[str, Any] | None:
    """(frame name, column key node or name) of `df["x"]` or `df.x` (a column, not an attribute)."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return node.value.id, node.slice
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr not in FRAME_ATTRIBUTES:
        return node.value.id, node.attr
    return None


def _set_column(name: Any, expr: S.Expr) -> S.Op:
    """`df["x"] = df["x"].fillna(v)` reads best as filling `x`; anything else sets the column."""
    if isinstance(expr, S.Apply) and expr.func == "fillna" and expr.operand == S.Col(name):
        return S.FillNA(expr.args[0], (name,))
    return S.SetColumn(name, expr)


def _entries(value: Value) -> T.Statistic | None:
    """The Series statistic of a grouped result or value counts, whose entries a condition tests."""
    if isinstance(value, GroupSeriesV):
        return T.GroupAll(value.frame, value.by, value.of, value.method)
    if isinstance(value, CountsV) and not value.cut:
        return T.ValueCounts(value.frame, value.of, value.normalize)
    return None


def _comparable(value: Value) -> bool:
    return isinstance(value, (SeriesV, StatV)) or (isinstance(value, Const) and isinstance(value.value, (int, float, str, bool)))


def _flatten(kind: type, cond: S.Cond) -> tuple:
    return cond.parts if isinstance(cond, kind) else (cond,)


def _statistic_or_number(value: Value) -> bool:
    return (isinstance(value, StatV) and not value.stat.multi()) or (
        isinstance(value, Const) and isinstance(value.value, (int, float)) and not isinstance(value.value, bool))


def _side(value: Value) -> Any:
    return value.stat if isinstance(value, StatV) else value.value


def read_slice(cells: list[int], trees: Any, refs: list[DataRef], defined: dict[int, Any] | None = None,
               absent_files: bool = False, header: Header | None = None) -> Reading:
    """The statistic the last cell of `cells` shows, read off the cells in order (`defined`: a
    cache shared by the slices of one notebook, see `SliceReader`). `absent_files`: reads of
    missing files and URLs count too, by their file's name (a notebook kept for `sft`).
    `header`: the columns a read of a file gives (extract/heuristic.py reads them from the file), for
    a read that names columns by position."""

    def file_name(ref: DataRef) -> str:
        if ref.resolved:
            return PurePosixPath(ref.resolved).name
        return PurePosixPath(urlsplit(ref.as_written).path if is_url(ref.as_written) else ref.as_written).name

    reader = SliceReader(refs, file_name, defined, absent_files, header)
    shown: Value = Unknown(UNRENDERABLE_STATISTIC)
    for position, index in enumerate(cells):
        tree = trees[index]
        if tree is None:
            return Reading(reason=UNRENDERABLE_PREPROCESSING, detail=f"cell {index} is not Python")
        result = reader.run_cell(index, tree, final=position == len(cells) - 1)
        if position == len(cells) - 1:
            shown = result
    used = tuple(reader.used_refs.values())
    seen = {"shown": shown, "last": reader.last}
    if isinstance(shown, StatV):
        return Reading(stat=shown.stat, refs=used, **seen)
    if isinstance(shown, Unknown):
        return Reading(reason=shown.reason, detail=shown.detail, refs=used, **seen)
    return Reading(reason=UNRENDERABLE_STATISTIC, refs=used, **seen)


def element_function(node: ast.Lambda | ast.FunctionDef) -> FunctionV | None:
    """A function of one value whose result is one expression: `lambda x: x.capitalize()`, a `def`
    that returns an expression, or one that returns one of two (`if x > 17: return True` then
    `return False`, read as `True if x > 17 else False`). None for any other function."""
    args = node.args
    if args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg or args.defaults or len(args.args) != 1:
        return None
    if isinstance(node, ast.Lambda):
        return FunctionV(args.args[0].arg, node.body)
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if node.decorator_list or not body:
        return None
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return FunctionV(args.args[0].arg, body[0].value)
    branch = body[0]
    if not isinstance(branch, ast.If) or len(branch.body) != 1 or not isinstance(branch.body[0], ast.Return):
        return None
    otherwise = branch.orelse if branch.orelse else body[1:]
    if len(body) != (1 if branch.orelse else 2) or len(otherwise) != 1 or not isinstance(otherwise[0], ast.Return):
        return None
    if branch.body[0].value is None or otherwise[0].value is None:
        return None
    return FunctionV(args.args[0].arg, ast.IfExp(test=branch.test, body=branch.body[0].value, orelse=otherwise[0].value))
