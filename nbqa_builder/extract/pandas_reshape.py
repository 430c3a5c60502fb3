"""More pandas calls read as the task spec (issue 25), a mixin of `pandas_calls.PandasCalls`:
binning with stated bins, cells of pivot tables and cross-tabulations, rows grouped by periods of
dates, tables stacked (`pd.concat`, files read over a glob pattern in a comprehension or a loop),
pieces of split strings, shares of values and whole Series whose entries are answers.
"""

from __future__ import annotations

import ast

from nbqa_builder.extract import spec as S
from nbqa_builder.extract import statistics as T
from nbqa_builder.extract.descriptions import (
    DATA_NOT_LOCAL, UNRENDERABLE_PREPROCESSING, UNRENDERABLE_STATISTIC, AccessorV, Const, CountsV, EmptyFrameV,
    FrameMissingV, FramesV, FrameV, GroupByV, GroupSeriesV, IndexerV, PivotCellsV, PivotV, SeriesV, StatV, Unknown,
    Value, is_label, label_tuple,
)
from nbqa_builder.records import FOUND, GLOB

READERS = {f"pandas.{name}": name for name in S.READERS}
ASTYPES = {"float": "float", "int": "int", "str": "str", "float64": "float64", "int64": "int64", "category": "category"}
BINNERS = {"cut": "bins", "qcut": "q"}  # pandas function -> its keyword for the bins


class ReshapeCalls:
    """The handlers of the module doc; `SliceReader` supplies the reader's state and `value`."""

    refs: list
    env: dict
    used_refs: dict
    cell: int

    def value(self, node: ast.AST) -> Value:
        raise NotImplementedError

    def const(self, node: ast.AST) -> Value:
        raise NotImplementedError

    def kwargs(self, node: ast.Call) -> dict[str, Value]:
        raise NotImplementedError

    def read_options(self, reader: str, args: list, kwargs: dict[str, Value]) -> tuple | None:
        raise NotImplementedError

    def file_name(self, ref) -> str:
        raise NotImplementedError

    def binned(self, series: SeriesV, function: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
        """`pd.cut(s, bins=[0, 10, 20], labels=["low", "high"])`, `pd.qcut(s, 4, labels=[...])`: only
        with the bins and the labels stated, so the text can name each bin."""
        bins = args[0] if args else kwargs.pop(BINNERS[function], None)
        labels = kwargs.pop("labels", None)
        if len(args) > 1 or kwargs or not isinstance(bins, Const) or not isinstance(labels, Const):
            return Unknown()
        edges, names = bins.value, labels.value
        if not (isinstance(names, (list, tuple)) and names and all(map(is_label, names))):
            return Unknown()
        if function == "cut" and not (isinstance(edges, (list, tuple)) and len(edges) == len(names) + 1
                                      and all(isinstance(e, (int, float)) and abs(e) != float("inf") for e in edges)):
            return Unknown()
        if function == "qcut" and not (isinstance(edges, int) and edges == len(names)):
            return Unknown()
        stated = S.ListLit(tuple(edges)) if function == "cut" else S.Lit(edges)
        return SeriesV(series.frame, S.Apply(function, series.expr, (stated, S.ListLit(tuple(names)))))

    def astype_columns(self, frame: S.Frame, kinds: dict) -> Value:
        """`df.astype({"a": "float"})`: each column converted, as `df["a"] = df["a"].astype("float")`."""
        converted = frame
        for name, kind in kinds.items():
            kind = kind if isinstance(kind, str) else None
            if not is_label(name) or kind not in ASTYPES:
                return Unknown()
            converted = converted.then(S.SetColumn(name, S.Apply("astype", S.Col(name), (S.Lit(ASTYPES[kind]),))))
        return FrameV(converted)

    def string_piece(self, accessor: AccessorV, position: object) -> Value:
        """`s.str.split(" ").str[0]`: one piece of each split value."""
        split = accessor.series.expr
        if isinstance(split, S.Apply) and split.func == "str.split" and isinstance(position, int) \
                and not isinstance(position, bool):
            return SeriesV(accessor.series.frame, S.Apply("str.split_part", split.operand, split.args + (S.Lit(position),)))
        return Unknown()

    def counts_over(self, counts: CountsV, divisor: Value) -> Value:
        """`s.value_counts() / len(df)`: the share of the rows each value takes."""
        if (not counts.normalize and isinstance(divisor, StatV) and isinstance(divisor.stat, T.RowCount)
                and divisor.stat.frame == counts.frame):
            return StatV(T.ValueShares(counts.frame, counts.of, of_rows=True))
        return Unknown()

    def other_attribute(self, owner: Value, name: str) -> Value:
        if isinstance(owner, PivotV) and name == "loc":
            return PivotCellsV(owner)
        if isinstance(owner, IndexerV) and owner.kind == "index" and name == "is_unique":
            return StatV(T.IndexUnique(owner.frame))
        if isinstance(owner, StatV) and name == "days" and isinstance(owner.stat, T.Combine) and owner.stat.op == "-" \
                and all(isinstance(side, T.Statistic) for side in (owner.stat.left, owner.stat.right)):
            return StatV(T.DaySpan(owner.stat))
        return Unknown()

    def whole_series(self, value: Value) -> Value:
        """A Series the answer cell shows whole, where each entry is an answer."""
        if isinstance(value, CountsV) and value.normalize:
            return StatV(T.ValueShares(value.frame, value.of))
        if isinstance(value, FrameMissingV) and value.summed:
            return StatV(T.MissingPerColumn(value.frame))
        return value

    def time_bins(self, frame: S.Frame, on: object, rule: object) -> Value:
        """`df.resample("M", on="date")`, `df.set_index("date").resample("M")`: rows by period."""
        if rule not in T.FREQUENCIES or not (on is None or is_label(on)):
            return Unknown()
        return GroupByV(frame, T.TimeBins(on, rule))

    def group_entry(self, owner: GroupSeriesV, key: object) -> Value:
        """`grouped["north"]`, or `grouped["north", 3]` after a groupby over two columns."""
        if is_label(owner.by) and is_label(key):
            return StatV(T.GroupValue(owner.frame, owner.by, owner.of, owner.method, key))
        if isinstance(owner.by, tuple) and isinstance(key, tuple) and len(key) == len(owner.by) and all(map(is_label, key)):
            return StatV(T.GroupValue(owner.frame, owner.by, owner.of, owner.method, key))
        return Unknown()

    def pivot_table(self, frame: S.Frame, options: dict) -> Value:
        """`pivot_table(values="x", index="a", columns="b", aggfunc="sum")`: one value column, one
        index column, at most one columns column, a named aggregation (pandas' default: the mean)."""
        values, index, columns = options.pop("values", None), options.pop("index", None), options.pop("columns", None)
        method = options.pop("aggfunc", "mean")
        labels = [label_tuple(v) for v in (values, index)] + ([label_tuple(columns)] if columns is not None else [])
        if options or not all(labels) or any(len(found) != 1 for found in labels) \
                or method not in T.GROUP_METHODS or method == "size":
            return Unknown()
        value, row = labels[0][0], labels[1][0]
        return PivotV(frame, row, labels[2][0] if len(labels) == 3 else None, S.Col(value), method)

    def other_subscript(self, owner: Value, key: Value) -> Value:
        """A cell of a pivot table or cross-tabulation: `pt.loc["north", "web"]`, `pt["web"]["north"]`."""
        if not isinstance(key, Const):
            return Unknown()
        if isinstance(owner, PivotV) and is_label(key.value):
            return PivotCellsV(owner, key.value)
        if isinstance(owner, PivotCellsV) and owner.part is not None and is_label(key.value):
            return self.pivot_cell(owner.pivot, key.value, owner.part)
        if isinstance(owner, PivotCellsV) and owner.part is None and isinstance(key.value, tuple) and len(key.value) == 2:
            return self.pivot_cell(owner.pivot, *key.value)
        return Unknown()

    def pivot_cell(self, pivot: PivotV, row: object, column: object) -> Value:
        if not (is_label(row) and is_label(column)):
            return Unknown()
        if pivot.columns is None:  # the one column is the value column
            if pivot.of is None or column != pivot.of.name:
                return Unknown()
            return StatV(T.GroupValue(pivot.frame, pivot.index, pivot.of, pivot.method, row))
        return StatV(T.GroupValue(pivot.frame, (pivot.index, pivot.columns), pivot.of, pivot.method, (row, column)))

    def concat(self, node: ast.Call) -> Value:
        """`pd.concat([df, other, ...])`, rows stacked in order; `ignore_index` numbers them again."""
        if len(node.args) != 1:
            return Unknown()
        if isinstance(node.args[0], (ast.List, ast.Tuple)):
            parts = [self.value(element) for element in node.args[0].elts]
        else:  # the tables read from the files a glob pattern matched
            listed = self.value(node.args[0])
            parts = [FrameV(frame) for frame in listed.frames] if isinstance(listed, FramesV) else [listed]
        if len(parts) < 2:
            return parts[0] if parts and isinstance(parts[0], Unknown) else Unknown()
        options = self.kwargs(node)
        unknown = next((v for v in [*parts, *options.values()] if isinstance(v, Unknown)), None)
        if unknown is not None:
            return unknown
        again = options.pop("ignore_index", Const(False))
        axis = options.pop("axis", Const(0))
        if options or not all(isinstance(p, FrameV) for p in parts) or not isinstance(again, Const) \
                or not isinstance(again.value, bool) or not isinstance(axis, Const) or axis.value not in (0, "index"):
            return Unknown()
        frame = parts[0].frame
        for part in parts[1:]:
            frame = frame.then(S.Concat(part.frame, again.value))
        return FrameV(frame)

    # -- files read in a loop or a comprehension over a glob pattern ------------------------------

    def glob_reads(self, call: ast.expr, variable: str) -> tuple | Unknown:
        """The tables `pd.read_csv(f)` reads, `f` running over the files a glob pattern matched
        (the deps step found them: one ref per file at the call's place), in file name order."""
        if not (isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Name)
                and call.args[0].id == variable):
            return Unknown()
        function = self.value(call.func)
        name = getattr(function, "name", "")
        reader = READERS.get(name) or READERS.get(f"pandas.{name.split('.', 1)[-1]}") if name.startswith(("pandas.", "pd.")) else None
        site = (self.cell, call.lineno, call.col_offset)
        refs = sorted((r for r in self.refs if site in r.sites and r.kind == GLOB), key=lambda r: r.resolved or "")
        if reader is None or not refs:
            return Unknown()
        if any(r.status != FOUND or not r.resolved for r in refs):
            return Unknown(DATA_NOT_LOCAL)
        options = self.read_options(reader, call.args, self.kwargs(call))
        if options is None:
            return Unknown()
        for ref in refs:
            self.used_refs[id(ref)] = ref
        return tuple(S.Frame(S.ReadFile(self.file_name(ref), reader, options)) for ref in refs)

    def files_read(self, node: ast.ListComp) -> Value:
        """`[pd.read_csv(f) for f in glob.glob("data/*.csv")]`."""
        (generator, *more) = node.generators
        if more or generator.ifs or generator.is_async or not isinstance(generator.target, ast.Name):
            return Unknown()
        frames = self.glob_reads(node.elt, generator.target.id)
        return frames if isinstance(frames, Unknown) else FramesV(frames)

    def files_loop(self, loop: ast.For) -> bool:
        """A loop that reads each file a glob pattern matched into a list (`frames.append(pd.read_csv(f))`)
        or onto a table started empty (`df = df.append(pd.read_csv(f))`, `df = pd.concat([df, ...])`):
        whether it was one (the names it binds now hold the tables)."""
        if loop.orelse or len(loop.body) != 1 or not isinstance(loop.target, ast.Name):
            return False
        (statement,), variable = loop.body, loop.target.id
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) \
                and isinstance(statement.value.func, ast.Attribute) and statement.value.func.attr == "append" \
                and isinstance(statement.value.func.value, ast.Name) and len(statement.value.args) == 1:
            target = statement.value.func.value.id
            if isinstance(self.env.get(target), Const) and self.env[target].value == []:
                frames = self.glob_reads(statement.value.args[0], variable)
                self.env[target] = _unknown_loop(frames, loop) if isinstance(frames, Unknown) else FramesV(frames)
                return True
            return False
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)
                and isinstance(self.env.get(statement.targets[0].id), EmptyFrameV) and isinstance(statement.value, ast.Call)):
            return False
        target, call = statement.targets[0].id, statement.value
        options = {k.arg: k.value for k in call.keywords}
        if isinstance(call.func, ast.Attribute) and call.func.attr == "append" and isinstance(call.func.value, ast.Name) \
                and call.func.value.id == target and len(call.args) == 1:
            read = call.args[0]
        elif (isinstance(call.func, ast.Attribute) and call.func.attr == "concat" and len(call.args) == 1
              and isinstance(call.args[0], (ast.List, ast.Tuple)) and len(call.args[0].elts) == 2
              and isinstance(call.args[0].elts[0], ast.Name) and call.args[0].elts[0].id == target):
            read = call.args[0].elts[1]
        else:
            return False
        again = self.const(options.pop("ignore_index")) if "ignore_index" in options else Const(False)
        frames = self.glob_reads(read, variable)
        if options or not isinstance(again, Const) or not isinstance(again.value, bool) or isinstance(frames, Unknown):
            self.env[target] = _unknown_loop(frames if isinstance(frames, Unknown) else Unknown(), loop)
            return True
        stacked = frames[0]
        for frame in frames[1:]:
            stacked = stacked.then(S.Concat(frame, again.value))
        self.env[target] = FrameV(stacked)
        return True


def _unknown_loop(unknown: Unknown, loop: ast.For) -> Unknown:
    """What a loop that read files the spec cannot state binds: its reason, the loop as the code."""
    reason = UNRENDERABLE_PREPROCESSING if unknown.reason == UNRENDERABLE_STATISTIC else unknown.reason
    return Unknown(reason, loop)
