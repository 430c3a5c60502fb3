"""How pandas calls read as the task spec: reads, merges, and the methods of frames, columns,
conditions, groupings and value counts (a mixin of `interpret.SliceReader`, which supplies
`value`, `const`, `kwargs` and `column_expr`).

Each handler returns the description the call gives, or `Unknown` when the spec cannot state it:
only the methods and arguments listed here are understood, and an argument that is not a
constant (a lambda, a variable the reader cannot fold) makes the call unknown. Pivots, binning,
periods of dates and stacked tables are read in extract/pandas_reshape.py (a mixin of this one).
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Callable

from nbqa_builder.extract import spec as S
from nbqa_builder.extract import statistics as T
from nbqa_builder.extract import models
from nbqa_builder.extract.descriptions import (
    DATA_NOT_LOCAL, UNRENDERABLE_PREPROCESSING, UNRENDERABLE_STATISTIC, AccessorV, CondV, Const, CorrMatrixV, CountsV, EmptyFrameV, EntryCondV, FrameInfoV,
    FrameMissingV, FrameV, FunctionV, GroupByV, GroupSeriesV, GroupTableV, IndexerV, ModeV, PivotV, SeriesV, SortedGroupsV, StatV,
    UniqueV, Unknown, Value, frozen, is_label, label_tuple,
)
from nbqa_builder.extract.pandas_reshape import ASTYPES, BINNERS, READERS, ReshapeCalls
from nbqa_builder.notebooks.code import parse_python
from nbqa_builder.records import FOUND, INLINE, MISSING, URL, DataRef

NUMPY_AGGREGATIONS = {"mean": "mean", "sum": "sum", "min": "min", "max": "max", "amin": "min", "amax": "max",
                      "std": "std", "var": "var", "nanmean": "mean", "nansum": "sum", "nanstd": "std", "nanvar": "var"}
NUMPY_FUNCTIONS = {"log": "log", "log10": "log10", "log1p": "log1p", "sqrt": "sqrt", "exp": "exp", "abs": "abs"}
SERIES_AGGREGATIONS = ("mean", "median", "sum", "min", "max", "count", "nunique", "std", "var", "sem", "skew",
                       "kurt", "prod")
STR_METHODS = {"lower": "str.lower", "upper": "str.upper", "strip": "str.strip", "len": "str.len",
               "capitalize": "str.capitalize", "title": "str.title"}
# what a function of one value may hold to be read per column: the value, constants, arithmetic,
# one comparison (and `True if ... else False`)
ELEMENT_NODES = (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Load, ast.operator, ast.unaryop,
                 ast.cmpop)
DT_METHODS = {"day_name": "dt.day_name", "month_name": "dt.month_name"}
# (the file's ref, the reader, the read's options) -> the columns that read gives, or None
Header = Callable[[DataRef, str, tuple], "list[str] | None"]
COMPARE = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}


def type_name(node: ast.AST) -> str | None:
    """The type an `astype` argument names: a string ("float") or a builtin (`float`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in ("int", "float", "str"):
        return node.id
    return None


class PandasCalls(ReshapeCalls):
    """The call handlers of `SliceReader` (see the module doc); `value`, `const`, `kwargs` and the
    reader's state are declared in `ReshapeCalls`."""

    refs_by_site: dict
    header: "Header | None"

    def column_expr(self, value: Value, frame: S.Frame) -> S.Expr | None:
        raise NotImplementedError

    def arguments(self, node: ast.Call) -> tuple[list[Value], dict[str, Value], Unknown | None]:
        """(positional, keyword, the first Unknown among them): a call on something the spec
        cannot state cannot be stated either, for the same reason."""
        args = [self.value(a) for a in node.args]
        kwargs = self.kwargs(node)
        unknown = next((v for v in [*args, *kwargs.values()] if isinstance(v, Unknown)), None)
        return args, kwargs, unknown

    def top(self, owner: Value) -> Value:
        """The label at the top of value counts, sorted groups or a mode: the statistic that picks it."""
        if isinstance(owner, ModeV):
            return StatV(T.MostCommon(owner.frame, owner.expr))
        source = owner.source
        if isinstance(source, CountsV):
            return StatV(T.MostCommon(source.frame, source.of))
        group = source.group
        return StatV(T.GroupArgExtreme(group.frame, group.by, group.of, group.method, largest=not source.ascending))

    def builtin(self, name: str, node: ast.Call) -> Value:
        args, _, unknown = self.arguments(node)
        if unknown is not None:
            return unknown
        if name == "len" and len(args) == 1:
            target = args[0]
            if isinstance(target, EntryCondV) and target.kept:
                return StatV(T.EntriesWhere(target.series, target.op, target.value))
            if isinstance(target, FrameV):
                return StatV(T.RowCount(target.frame))
            if isinstance(target, SeriesV):
                return StatV(T.RowCount(target.frame))
            if isinstance(target, CountsV):
                return StatV(T.Agg(target.frame, target.of, "nunique"))
            if isinstance(target, IndexerV) and target.kind in ("index", "columns"):
                return StatV(T.RowCount(target.frame) if target.kind == "index" else T.ColumnCount(target.frame))
            if isinstance(target, UniqueV):
                return StatV(T.Agg(target.frame, target.expr, "nunique_all"))
            if isinstance(target, (GroupSeriesV, GroupTableV, GroupByV)) and is_label(target.by):
                # one row per group: the distinct values of the key (groupby leaves out a missing key)
                return StatV(T.Agg(target.frame, S.Col(target.by), "nunique"))
            return Unknown()
        if name == "round" and args and isinstance(args[0], StatV) and not args[0].stat.multi():
            digits = args[1] if len(args) > 1 else Const(None)
            if isinstance(digits, Const) and (digits.value is None or isinstance(digits.value, int)):
                return StatV(T.Round(args[0].stat, digits.value))
        if name in ("float", "int") and len(args) == 1 and isinstance(args[0], StatV) and name == "float":
            return args[0]
        if name == "abs" and len(args) == 1 and isinstance(args[0], SeriesV):
            return SeriesV(args[0].frame, S.Apply("abs", args[0].expr))
        return Unknown()

    def module_call(self, name: str, node: ast.Call) -> Value:
        short = name.split(".", 1)[1] if "." in name else name
        if name in READERS or (name.startswith("pd.") and f"pandas.{short}" in READERS):
            # the file read is found by the call's place (DataRef.sites), whatever its path argument
            return self.read(node, READERS.get(name) or READERS[f"pandas.{short}"], node.args, self.kwargs(node))
        if name in ("pandas.concat", "pd.concat"):
            return self.concat(node)
        if name in ("pandas.DataFrame", "pd.DataFrame", "pandas.Series", "pd.Series"):
            inline = self.refs_by_site.get((self.cell, node.lineno, node.col_offset))
            if inline is not None and inline.kind == INLINE:  # a table typed in, written out as a file
                self.used_refs[id(inline)] = inline
                frame = S.Frame(S.ReadFile(self.file_name(inline), "read_csv",
                                           tuple((k, frozen(v)) for k, v in inline.read_options)))
                return FrameV(frame) if inline.series_column is None else SeriesV(frame, S.Col(inline.series_column))
            if name.endswith("DataFrame") and not node.args and not node.keywords:
                return EmptyFrameV()
        args, kwargs, unknown = self.arguments(node)
        if unknown is not None:
            return unknown
        if name in ("pandas.merge", "pd.merge") and len(args) == 2:
            if isinstance(args[0], FrameV) and isinstance(args[1], FrameV):
                return self.merge(args[0].frame, args[1].frame, args[2:], kwargs)
            return Unknown()
        if name in ("pandas.to_datetime", "pd.to_datetime") and len(args) == 1 and isinstance(args[0], SeriesV):
            fmt = kwargs.pop("format", None)
            if kwargs or (fmt is not None and not isinstance(fmt, Const)):
                return Unknown()
            if fmt is None:
                return SeriesV(args[0].frame, S.Apply("to_datetime", args[0].expr))
            return SeriesV(args[0].frame, S.Apply("to_datetime_format", args[0].expr, (S.Lit(fmt.value),)))
        if name in ("pandas.to_numeric", "pd.to_numeric") and len(args) == 1 and isinstance(args[0], SeriesV):
            errors = kwargs.pop("errors", Const("raise"))
            if kwargs or not isinstance(errors, Const) or errors.value not in ("raise", "coerce"):
                return Unknown()
            return SeriesV(args[0].frame, S.Apply("to_numeric_coerce" if errors.value == "coerce" else "to_numeric", args[0].expr))
        module, _, function = name.rpartition(".")
        if module in ("pandas", "pd") and function == "pivot_table" and len(args) == 1 and isinstance(args[0], FrameV) \
                and all(isinstance(v, Const) for v in kwargs.values()):
            return self.pivot_table(args[0].frame, {k: v.value for k, v in kwargs.items()})
        if module in ("pandas", "pd") and function == "crosstab" and len(args) == 2 and not kwargs:
            rows, cols = args
            if isinstance(rows, SeriesV) and isinstance(cols, SeriesV) and rows.frame == cols.frame \
                    and isinstance(rows.expr, S.Col) and isinstance(cols.expr, S.Col):
                return PivotV(rows.frame, rows.expr.name, cols.expr.name, None, "size")
            return Unknown()
        if module in ("pandas", "pd") and function == "Grouper" and not args and set(kwargs) <= {"key", "freq"}:
            key, freq = kwargs.get("key", Const(None)), kwargs.get("freq")
            if isinstance(key, Const) and (key.value is None or is_label(key.value)) and isinstance(freq, Const) \
                    and freq.value in T.FREQUENCIES:
                return Const(T.TimeBins(key.value, freq.value))
            return Unknown()
        if module in ("pandas", "pd") and function in BINNERS and args and isinstance(args[0], SeriesV):
            return self.binned(args[0], function, args[1:], kwargs)
        if module.startswith("sklearn"):
            if function in models.MODEL_CLASSES and not args:
                return models.model_of(function, kwargs) or Unknown(UNRENDERABLE_PREPROCESSING, node)
            metric = models.metric_of(function, args) if not kwargs else None
            return StatV(metric) if metric is not None else Unknown(UNRENDERABLE_PREPROCESSING, node)
        if function == "zscore" and module.endswith("stats") and len(args) == 1 and isinstance(args[0], SeriesV) \
                and not kwargs:
            # scipy.stats.zscore(s): (s - its mean) / its standard deviation with denominator n
            series = args[0]
            mean = S.StatRef(T.Agg(series.frame, series.expr, "mean"))
            std = S.StatRef(T.Agg(series.frame, series.expr, "std", ddof=0))
            return SeriesV(series.frame, S.Arith("/", S.Arith("-", series.expr, mean), std))
        if module in ("numpy", "np") and len(args) == 1 and isinstance(args[0], SeriesV):
            series = args[0]
            if function in NUMPY_FUNCTIONS and not kwargs:
                return SeriesV(series.frame, S.Apply(NUMPY_FUNCTIONS[function], series.expr))
            if function in NUMPY_AGGREGATIONS:
                method = NUMPY_AGGREGATIONS[function]
                ddof = kwargs.pop("ddof", Const(0))
                if kwargs or not isinstance(ddof, Const) or not isinstance(ddof.value, int):
                    return Unknown()
                # numpy's functions hand a Series to its own method, with numpy's ddof=0
                return StatV(T.Agg(series.frame, series.expr, method, ddof=ddof.value if method in T.DEVIATIONS else 1))
        if module in ("numpy", "np") and function == "round" and args and isinstance(args[0], StatV):
            digits = args[1] if len(args) > 1 else kwargs.get("decimals", Const(0))
            if isinstance(digits, Const) and isinstance(digits.value, int):
                return StatV(T.Round(args[0].stat, digits.value))
        return Unknown()

    def read(self, node: ast.Call, reader: str, args: list[ast.expr], kwargs: dict[str, Value]) -> Value:
        ref = self.refs_by_site.get((self.cell, node.lineno, node.col_offset))
        if ref is None:
            return Unknown()
        if (ref.status != FOUND or not ref.resolved) and not (self.absent_files and ref.status in (MISSING, URL)):
            return Unknown(DATA_NOT_LOCAL)
        combined = date_parts(kwargs.get("parse_dates"))
        if combined is not None:  # columns read as one date: a step after a plain read
            kwargs = {k: v for k, v in kwargs.items() if k != "parse_dates"}
        options = self.read_options(reader, args, kwargs)
        if options is None:
            return Unknown()
        frame = S.Frame(S.ReadFile(self.file_name(ref), reader, options))
        if combined is not None:
            op = self.combined_dates(ref, reader, options, *combined)
            if op is None:
                return Unknown(UNRENDERABLE_PREPROCESSING, node)
            frame = frame.then(op)
        self.used_refs[id(ref)] = ref
        return FrameV(frame)

    def combined_dates(self, ref, reader: str, options: tuple, name: object, parts: tuple) -> S.CombineDates | None:
        """The step of `parse_dates=[[0, 1, 2]]` (or `{"date": ["d", "t"]}`): columns named, or
        placed, in the file's header (read from the file: the positions name no column by themselves)."""
        if any(key in ("index_col", "usecols", "names", "header") for key, _ in options):
            return None  # which columns the positions mean, and where the date goes, would change
        if all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
            header = self.header(ref, reader, options) if self.header is not None else None
            if header is None or any(p < 0 or p >= len(header) for p in parts):
                return None
            parts = tuple(header[p] for p in parts)
        elif not all(isinstance(p, str) for p in parts):
            return None
        return S.CombineDates(parts, name if name is not None else "_".join(parts))

    def read_options(self, reader: str, args: list, kwargs: dict[str, Value]) -> tuple | None:
        """The options of a read the text can state (those not at their default), or None."""
        if reader == "read_excel" and len(args) == 2 and "sheet_name" not in kwargs:
            args, kwargs = args[:1], {**kwargs, "sheet_name": self.const(args[1])}  # `read_excel(path, "Sheet 1")`
        if len(args) > 1:
            return None
        options = []
        for key, value in kwargs.items():
            if key not in S.READ_OPTIONS or not isinstance(value, Const) or key in ("filepath_or_buffer", "io", "path"):
                return None
            if key == "parse_dates" and (isinstance(value.value, dict) or isinstance(value.value, (list, tuple))
                                         and not all(map(is_label, value.value))):
                return None  # new date columns (`{"when": [...]}`, `[[0, 1], [2, 3]]`): pandas 3 removed them
            if S.READ_OPTIONS[key] is not None and not S.is_default(reader, key, value.value):
                stored = tuple(value.value) if isinstance(value.value, list) else value.value
                options.append((key, list(stored) if isinstance(stored, tuple) else stored))
        return tuple((k, frozen(v)) for k, v in options)

    def merge(self, left: S.Frame, right: S.Frame, extra: list[Value], kwargs: dict[str, Value]) -> Value:
        if extra:
            return Unknown()
        known = {"how", "on", "left_on", "right_on"}
        if set(kwargs) - known or not all(isinstance(v, Const) for v in kwargs.values()):
            return Unknown()
        how = kwargs.get("how", Const("inner")).value
        if how not in S.MERGE_HOW:
            return Unknown()
        keys = {k: label_tuple(kwargs[k].value) for k in ("on", "left_on", "right_on") if k in kwargs}
        if any(v is None for v in keys.values()) or (("left_on" in keys) != ("right_on" in keys)):
            return Unknown()
        return FrameV(left.then(S.Merge(right, how, keys.get("on"), keys.get("left_on"), keys.get("right_on"))))

    def method(self, owner: Value, name: str, node: ast.Call) -> Value:
        if isinstance(owner, (models.ModelV, models.FittedV)):
            args, kwargs, unknown = self.arguments(node)
            if unknown is not None:
                return unknown
            made = models.model_method(owner, name, args, kwargs)
            if isinstance(made, models.ModelMetric):
                return StatV(made)
            return made if made is not None else Unknown(UNRENDERABLE_PREPROCESSING, node)
        if isinstance(owner, FrameV):
            return self.frame_method(owner.frame, name, node)
        if isinstance(owner, SeriesV):
            return self.series_method(owner, name, node)
        if isinstance(owner, CondV):
            return self.cond_method(owner, name, node)
        if isinstance(owner, AccessorV):
            return self.accessor_method(owner, name, node)
        if isinstance(owner, GroupByV):
            return self.groupby_method(owner, name, node)
        if isinstance(owner, GroupTableV):
            return self.group_table_method(owner, name, node)
        if isinstance(owner, EntryCondV) and not node.args and not node.keywords and (
                (name == "sum" and not owner.kept) or (name == "count" and owner.kept)):
            return StatV(T.EntriesWhere(owner.series, owner.op, owner.value))  # (s > x).sum(), s[s > x].count()
        if isinstance(owner, GroupSeriesV) and is_label(owner.by):
            if name in ("idxmax", "idxmin") and not node.args and not node.keywords:
                return StatV(T.GroupArgExtreme(owner.frame, owner.by, owner.of, owner.method, name == "idxmax"))
            if name == "sort_values" and not node.args and {k.arg for k in node.keywords} <= {"ascending"}:
                ascending = self.kwargs(node).get("ascending", Const(True))
                if isinstance(ascending, Const) and isinstance(ascending.value, bool):
                    return SortedGroupsV(owner, ascending.value)
            return Unknown()
        if isinstance(owner, (SortedGroupsV, CountsV)) and name == "head" and _positive_count(self, node):
            return dataclasses.replace(owner, cut=True)  # the top entries, the same top
        if isinstance(owner, IndexerV) and owner.kind == "index" and name in ("max", "min") and not node.args \
                and not node.keywords:
            return StatV(T.IndexExtreme(owner.frame, largest=name == "max"))
        if isinstance(owner, FrameMissingV) and name == "sum" and not node.args and not node.keywords:
            if owner.present:  # per column, the values there: `count()`
                return StatV(T.FrameAgg(owner.frame, "count"))
            return StatV(T.MissingCount(owner.frame, None)) if owner.summed else FrameMissingV(owner.frame, summed=True)
        if isinstance(owner, StatV) and isinstance(owner.stat, T.FrameAgg) and owner.stat.method in ("sum", "count") \
                and name == "sum" and not node.args and not node.keywords:
            return StatV(T.TableTotal(owner.stat.frame, owner.stat.method))  # `df.sum().sum()`: the whole table
        if isinstance(owner, CountsV):
            if name in ("idxmax", "idxmin") and not node.args and not node.keywords and not owner.normalize:
                return StatV(T.MostCommon(owner.frame, owner.of, least=name == "idxmin"))
            return Unknown()
        if isinstance(owner, StatV) and name == "round" and len(node.args) <= 1 and not node.keywords:
            digits = self.const(node.args[0]) if node.args else Const(0)
            if isinstance(digits, Const) and isinstance(digits.value, int):
                return StatV(T.Round(owner.stat, digits.value))
        return Unknown()

    def frame_method(self, frame: S.Frame, name: str, node: ast.Call) -> Value:
        args, kwargs, unknown = self.arguments(node)
        if unknown is not None:
            return unknown
        consts = all(isinstance(v, Const) for v in [*args, *kwargs.values()])
        plain = {k: v.value for k, v in kwargs.items() if isinstance(v, Const)}
        if name == "copy" and not args:
            return FrameV(frame)
        if name == "dropna" and consts and not args:
            subset, how = plain.pop("subset", None), plain.pop("how", "any")
            axis = plain.pop("axis", 0)
            if plain or axis not in (0, "index") or how not in ("any", "all"):
                return Unknown()
            subset = label_tuple(subset) if subset is not None else None
            if subset is False:
                return Unknown()
            return FrameV(frame.then(S.DropNA(subset, how)))
        if name == "fillna" and len(args) == 1 and not kwargs:
            value = args[0]
            if isinstance(value, Const) and isinstance(value.value, (int, float, str)) and not isinstance(value.value, bool):
                return FrameV(frame.then(S.FillNA(S.Lit(value.value))))
            if isinstance(value, Const) and isinstance(value.value, dict) and all(map(is_label, value.value)):
                ops = frame
                for col, fill in value.value.items():
                    ops = ops.then(S.FillNA(S.Lit(fill), (col,)))
                return FrameV(ops)
            return Unknown()
        if name == "drop_duplicates" and consts and not args:
            subset, keep = plain.pop("subset", None), plain.pop("keep", "first")
            if plain or keep not in ("first", "last", False):
                return Unknown()
            subset = label_tuple(subset) if subset is not None else None
            return Unknown() if subset is False else FrameV(frame.then(S.DropDuplicates(subset, keep)))
        if name == "rename" and consts and not args and set(plain) == {"columns"} and isinstance(plain["columns"], dict):
            mapping = plain["columns"]
            if all(map(is_label, mapping)) and all(map(is_label, mapping.values())):
                return FrameV(frame.then(S.Rename(tuple(mapping.items()))))
            return Unknown()
        if name == "drop" and consts:
            columns = plain.pop("columns", None)
            axis = plain.pop("axis", 0)
            if columns is None and args and axis in (1, "columns"):
                columns = args[0].value
            if plain or columns is None or (args and axis not in (1, "columns")) or len(args) > 1:
                return Unknown()
            labels = label_tuple(columns)
            return Unknown() if labels is False else FrameV(frame.then(S.DropColumns(labels)))
        if name == "query" and len(node.args) == 1 and not node.keywords and isinstance(args[0], Const) and isinstance(args[0].value, str):
            return self.query(frame, args[0].value)
        if name == "append" and len(args) == 1 and isinstance(args[0], FrameV) and set(plain) <= {"ignore_index"} \
                and isinstance(plain.get("ignore_index", False), bool):
            return FrameV(frame.then(S.Concat(args[0].frame, plain.get("ignore_index", False))))
        if name == "merge" and len(args) == 1 and isinstance(args[0], FrameV):
            return self.merge(frame, args[0].frame, [], kwargs)
        if name == "sort_values" and consts:
            by = plain.pop("by", args[0].value if args else None)
            ascending = plain.pop("ascending", True)
            plain.pop("kind", None)
            labels = label_tuple(by)
            if plain or not labels or len(args) > 1:
                return Unknown()
            ascending = tuple(ascending) if isinstance(ascending, list) else (ascending,) * len(labels)
            if len(ascending) != len(labels) or not all(isinstance(a, bool) for a in ascending):
                return Unknown()
            return FrameV(frame.then(S.SortRows(labels, ascending)))
        if name in ("head", "tail") and consts and len(args) <= 1 and not plain:
            n = args[0].value if args else 5
            return FrameV(frame.then(S.HeadRows(n, last=name == "tail"))) if isinstance(n, int) and n > 0 else Unknown()
        if name in ("nlargest", "nsmallest") and consts and len(args) == 2 and not plain:
            n, by = args[0].value, label_tuple(args[1].value)
            if isinstance(n, int) and by:
                ordered = frame.then(S.SortRows(by, (name == "nsmallest",) * len(by)))
                return FrameV(ordered.then(S.HeadRows(n)))
            return Unknown()
        if name == "set_index" and consts and len(args) == 1 and label_tuple(args[0].value) and plain in ({}, {"drop": True}):
            labels = label_tuple(args[0].value)
            return FrameV(frame.then(S.SetIndex(labels[0] if len(labels) == 1 else labels)))
        if name == "astype" and consts and len(args) == 1 and isinstance(args[0].value, dict) and not plain:
            return self.astype_columns(frame, args[0].value)
        if name == "reset_index" and consts and not args and plain == {"drop": True}:
            return FrameV(frame.then(S.ResetIndex()))
        if name == "groupby" and len(args) == 1 and not kwargs and isinstance(args[0], SeriesV) \
                and isinstance(args[0].expr, S.Col) and args[0].frame == frame:
            return GroupByV(frame, args[0].expr.name)  # df.groupby(df.region): df.groupby('region')
        if name == "groupby" and consts and len(args) == 1 and not plain:
            by = args[0].value
            labels = label_tuple(by)
            if isinstance(by, T.TimeBins):
                return GroupByV(frame, by)
            return GroupByV(frame, labels[0] if len(labels) == 1 else labels) if labels else Unknown()
        if name == "pivot_table" and consts and not args:
            return self.pivot_table(frame, plain)
        if name == "pivot" and consts and not args and set(plain) == {"index", "columns", "values"} \
                and all(is_label(v) for v in plain.values()):  # one row per cell, or pandas refuses
            return PivotV(frame, plain["index"], plain["columns"], S.Col(plain["values"]), "single")
        if name == "resample" and consts and len(args) == 1 and set(plain) <= {"on"}:
            return self.time_bins(frame, plain.get("on"), args[0].value)
        if name == "describe" and not args and not kwargs:
            return Unknown(UNRENDERABLE_STATISTIC)  # a table of every column: too many answers
        if name in ("isnull", "isna", "notnull", "notna") and not args and not kwargs:
            return FrameMissingV(frame, present=name.startswith("not"))
        if name in T.FRAME_AGGREGATIONS and not args and (
                not kwargs or (plain == {"numeric_only": True} and name != "count")):
            return StatV(T.FrameAgg(frame, name))
        if name == "nunique" and not args and not kwargs:
            return StatV(T.FrameNunique(frame))
        if name == "info" and not args and not kwargs:
            return FrameInfoV(frame)
        if name == "corr" and not args and set(plain) <= {"numeric_only", "method"} and consts \
                and plain.get("method", "pearson") == "pearson" and plain.get("numeric_only", True) is True:
            return CorrMatrixV(frame)  # every pair of numeric columns (text columns are left out)
        return Unknown()

    def query(self, frame: S.Frame, text: str) -> Value:
        """`df.query("temp > 20 and region == 'north'")`: the expression, read as pandas reads it
        (`and`/`or`/`not`, column names as bare names, `@name` for the notebook's variables)."""
        if "@" in text or "`" in text:
            return Unknown()
        try:
            tree = parse_python(text.replace("&", " and ").replace("|", " or "), mode="eval")
        except SyntaxError:
            return Unknown()
        cond = self.query_cond(frame, tree.body)
        return FrameV(frame.then(S.FilterRows(cond))) if cond is not None else Unknown()

    def query_cond(self, frame: S.Frame, node: ast.AST) -> S.Cond | None:
        if isinstance(node, ast.BoolOp):
            parts = [self.query_cond(frame, v) for v in node.values]
            if any(p is None for p in parts):
                return None
            return (S.AllOf if isinstance(node.op, ast.And) else S.AnyOf)(tuple(parts))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.query_cond(frame, node.operand)
            return S.Not(inner) if inner is not None else None
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = node.left, node.comparators[0]
            if isinstance(node.ops[0], (ast.In, ast.NotIn)) and isinstance(left, ast.Name):
                try:
                    values = ast.literal_eval(right)
                except (ValueError, SyntaxError):
                    return None
                if not isinstance(values, (list, tuple)):
                    return None
                cond = S.IsIn(S.Col(left.id), tuple(values))
                return S.Not(cond) if isinstance(node.ops[0], ast.NotIn) else cond
            if type(node.ops[0]) not in COMPARE:
                return None
            op = COMPARE[type(node.ops[0])]
            if isinstance(left, ast.Constant) and isinstance(right, ast.Name):
                left, right, op = right, left, FLIPPED[op]
            if not isinstance(left, ast.Name):
                return None
            try:
                constant = ast.literal_eval(right)
            except (ValueError, SyntaxError):
                if isinstance(right, ast.Name):
                    return S.Compare(S.Col(left.id), op, S.Col(right.id))
                return None
            if not isinstance(constant, (int, float, str, bool)):
                return None
            return S.Compare(S.Col(left.id), op, S.Lit(constant))
        return None

    def series_method(self, series: SeriesV, name: str, node: ast.Call) -> Value:
        if name in ("apply", "map") and len(node.args) == 1 and not node.keywords:
            function = self.value(node.args[0])
            if isinstance(function, FunctionV):
                return self.element_apply(series, function)
        if name == "astype":  # its argument may be a builtin type: `astype(int)`
            kind = type_name(node.args[0]) if len(node.args) == 1 and not node.keywords else None
            return SeriesV(series.frame, S.Apply("astype", series.expr, (S.Lit(ASTYPES[kind]),))) if kind in ASTYPES else Unknown()
        args, kwargs, unknown = self.arguments(node)
        if unknown is not None:
            return unknown
        consts = all(isinstance(v, Const) for v in [*args, *kwargs.values()])
        plain = {k: v.value for k, v in kwargs.items() if isinstance(v, Const)}
        frame, expr = series.frame, series.expr
        if name in SERIES_AGGREGATIONS and consts and not args:
            ddof = plain.pop("ddof", 1)
            if plain.get("skipna") is True:
                del plain["skipna"]
            if plain or not isinstance(ddof, int):
                return Unknown()
            return StatV(T.Agg(frame, expr, name, ddof=ddof))
        if name in ("agg", "aggregate") and consts and len(args) == 1 and not plain:
            methods = args[0].value
            if isinstance(methods, str) and methods in SERIES_AGGREGATIONS:
                return StatV(T.Agg(frame, expr, methods))
            if isinstance(methods, list) and methods and all(m in T.AGGREGATIONS and m != "nunique_all" for m in methods) \
                    and len(set(methods)) == len(methods):
                return StatV(T.AggMany(frame, expr, tuple(methods)))
            return Unknown()
        if name == "kurtosis" and not args and not kwargs:
            return StatV(T.Agg(frame, expr, "kurt"))
        if name == "quantile" and consts and len(args) == 1 and not plain and isinstance(args[0].value, float):
            return StatV(T.Agg(frame, expr, "quantile", q=args[0].value))
        if name in ("idxmax", "idxmin") and not args and not kwargs:
            return StatV(T.ArgExtreme(frame, expr, largest=name == "idxmax"))
        if name == "value_counts" and consts and not args:
            normalize = plain.pop("normalize", False)
            if plain or not isinstance(normalize, bool):
                return Unknown()
            return CountsV(frame, expr, normalize)
        if name == "corr" and len(args) == 1 and isinstance(args[0], SeriesV) and args[0].frame == frame:
            method = plain.pop("method", "pearson")
            if plain or method not in ("pearson", "spearman", "kendall") or len(kwargs) > 1:
                return Unknown()
            return StatV(T.Corr(frame, expr, args[0].expr, method))
        if name == "cov" and len(args) == 1 and isinstance(args[0], SeriesV) and args[0].frame == frame and not kwargs:
            return StatV(T.Corr(frame, expr, args[0].expr, "covariance"))
        if name in ("isnull", "isna", "notnull", "notna") and not args and not kwargs:
            return CondV(frame, S.IsNull(expr, negated=name in ("notnull", "notna")))
        if name == "isin" and consts and len(args) == 1 and isinstance(args[0].value, (list, tuple, set)) and not plain:
            values = tuple(sorted(args[0].value, key=repr)) if isinstance(args[0].value, set) else tuple(args[0].value)
            return CondV(frame, S.IsIn(expr, values))
        if name == "between" and consts and len(args) == 2 and not plain:
            return CondV(frame, S.Between(expr, args[0].value, args[1].value))
        if name in ("fillna",) and len(args) == 1 and not kwargs:
            fill = self.column_expr(args[0], frame)
            return SeriesV(frame, S.Apply("fillna", expr, (fill,))) if fill is not None else Unknown()
        if name == "round" and consts and len(args) <= 1 and not plain:
            digits = args[0].value if args else 0
            return SeriesV(frame, S.Apply("round", expr, (S.Lit(digits),))) if isinstance(digits, int) else Unknown()
        if name == "abs" and not args and not kwargs:
            return SeriesV(frame, S.Apply("abs", expr))
        if name == "map" and consts and len(args) == 1 and isinstance(args[0].value, dict) and not plain:
            return SeriesV(frame, S.Apply("map", expr, (S.Lit(args[0].value),)))
        if name == "replace" and consts and len(args) == 2 and not plain:
            return SeriesV(frame, S.Apply("replace", expr, (S.Lit(args[0].value), S.Lit(args[1].value))))
        if name == "copy" and not args:
            return series
        if name == "describe" and not args and not kwargs and isinstance(expr, S.Col):
            return StatV(T.Describe(frame, expr))
        if name == "mode" and not args and not kwargs:
            return ModeV(frame, expr)
        if name == "unique" and not args and not kwargs:
            return UniqueV(frame, expr)
        return Unknown()

    def cond_method(self, cond: CondV, name: str, node: ast.Call) -> Value:
        if node.args or node.keywords:
            return Unknown()
        if name == "sum":
            if isinstance(cond.cond, S.IsNull) and not cond.cond.negated:
                return StatV(T.MissingCount(cond.frame, cond.cond.operand))
            return StatV(T.CountWhere(cond.frame, cond.cond))
        if name == "mean":
            return StatV(T.ShareWhere(cond.frame, cond.cond))
        return Unknown()

    def element_apply(self, series: SeriesV, function: FunctionV) -> Value:
        """`s.apply(f)`, `s.map(f)` with a function of one value: its body read over the whole column,
        where per value and per column agree (a string method of the value, arithmetic, one
        comparison, `True if <comparison> else False`)."""
        body, param = function.body, function.param
        if isinstance(body, ast.Call) and isinstance(body.func, ast.Attribute) and isinstance(body.func.value, ast.Name) \
                and body.func.value.id == param and body.func.attr in STR_METHODS and body.func.attr != "len" \
                and not body.args and not body.keywords:
            return SeriesV(series.frame, S.Apply(STR_METHODS[body.func.attr], series.expr))
        negated = False
        if isinstance(body, ast.IfExp):
            branches = (body.body, body.orelse)
            if not all(isinstance(b, ast.Constant) and isinstance(b.value, bool) for b in branches) \
                    or branches[0].value == branches[1].value:
                return Unknown()
            body, negated = body.test, branches[0].value is False
        nodes = list(ast.walk(body))
        if not all(isinstance(n, ELEMENT_NODES) for n in nodes) or any(isinstance(n, ast.Name) and n.id != param for n in nodes) \
                or any(isinstance(n, ast.UnaryOp) and not isinstance(n.op, ast.USub) for n in nodes):
            return Unknown()
        saved = self.env.get(param)
        self.env[param] = series
        try:
            result = self.value(body)
        finally:
            if saved is None:
                del self.env[param]
            else:
                self.env[param] = saved
        if isinstance(result, CondV) and result.frame == series.frame:
            return SeriesV(series.frame, S.Flag(S.Not(result.cond) if negated else result.cond))
        if isinstance(result, SeriesV) and not isinstance(function.body, ast.IfExp) and result.frame == series.frame:
            return result
        return Unknown()

    def accessor_method(self, accessor: AccessorV, name: str, node: ast.Call) -> Value:
        series = accessor.series
        args, kwargs, unknown = self.arguments(node)
        if unknown is not None:
            return unknown
        if accessor.kind == "str" and name in STR_METHODS and not args and not kwargs:
            return SeriesV(series.frame, S.Apply(STR_METHODS[name], series.expr))
        if accessor.kind == "dt" and name in DT_METHODS and not args and not kwargs:
            return SeriesV(series.frame, S.Apply(DT_METHODS[name], series.expr))
        if accessor.kind == "str" and name == "split" and len(args) == 1 and not kwargs and isinstance(args[0], Const) \
                and isinstance(args[0].value, str) and args[0].value:
            return SeriesV(series.frame, S.Apply("str.split", series.expr, (S.Lit(args[0].value),)))
        if accessor.kind == "str" and name in S.STRING_TESTS and len(args) == 1 and isinstance(args[0], Const) \
                and isinstance(args[0].value, str):
            options = {k: v.value for k, v in kwargs.items() if isinstance(v, Const)}
            if len(options) != len(kwargs):
                return Unknown()
            case, regex = options.pop("case", True), options.pop("regex", True)
            options.pop("na", None)
            if options or (name != "contains" and not regex is True):
                return Unknown()
            return CondV(series.frame, S.StrTest(series.expr, name, args[0].value, case=bool(case), regex=bool(regex)))
        return Unknown()

    def group_table_method(self, table: GroupTableV, name: str, node: ast.Call) -> Value:
        """`[[a, b]].mean()` aggregates; then `sort_values(a, ascending=...)` and `head(k)` choose
        which group is at the top."""
        if not table.method:
            if name in T.GROUP_METHODS and name != "size" and not node.args and not node.keywords:
                return dataclasses.replace(table, method=name)
            return Unknown()
        if name == "head" and _positive_count(self, node) and table.rank_by is not None:
            return table  # sorted first: the top group is still shown
        if name == "sort_values":
            args, kwargs, unknown = self.arguments(node)
            plain = {k: v.value for k, v in kwargs.items() if isinstance(v, Const)}
            by = plain.pop("by", args[0].value if args and isinstance(args[0], Const) else None)
            ascending = plain.pop("ascending", True)
            if unknown is None and not plain and len(args) <= 1 and by in (table.methods or table.columns) \
                    and isinstance(ascending, bool):
                return dataclasses.replace(table, rank_by=by, largest=not ascending)
        return Unknown()

    def groupby_method(self, grouped: GroupByV, name: str, node: ast.Call) -> Value:
        if name == "get_group" and len(node.args) == 1 and not node.keywords and grouped.of is None:
            key = self.const(node.args[0])
            if isinstance(key, Const) and isinstance(key.value, (str, int, float, bool)):
                return FrameV(grouped.frame.then(S.FilterRows(S.Compare(S.Col(grouped.by), "==", S.Lit(key.value)))))
            return Unknown()
        if name in ("agg", "aggregate") and len(node.args) == 1 and not node.keywords and grouped.of is not None:
            method = self.const(node.args[0])
            if isinstance(method, Const) and method.value in T.GROUP_METHODS and method.value != "size":
                return GroupSeriesV(grouped.frame, grouped.by, grouped.of, method.value)
            methods = method.value if isinstance(method, Const) else None
            if isinstance(methods, list) and len(methods) > 1 and len(set(methods)) == len(methods) \
                    and all(m in T.GROUP_METHODS and m != "size" for m in methods) \
                    and isinstance(grouped.of, S.Col) and is_label(grouped.by):
                # one row per group, one column per method: the top group's row is asked (tables.py)
                return GroupTableV(grouped.frame, grouped.by, (grouped.of.name,), "agg", methods=tuple(methods))
            return Unknown()
        if grouped.of is None and name in T.GROUP_METHODS and name != "size" and not node.args and is_label(grouped.by) \
                and _numeric_only_or_nothing(self.kwargs(node)):
            # df.groupby(by).mean(): every (numeric) column; the shown table says which (tables.py)
            return GroupTableV(grouped.frame, grouped.by, (), name)
        if node.args or node.keywords:
            return Unknown()
        if name == "size" and grouped.of is None:
            return GroupSeriesV(grouped.frame, grouped.by, None, "size")
        if name in T.GROUP_METHODS and name != "size" and grouped.of is not None:
            return GroupSeriesV(grouped.frame, grouped.by, grouped.of, name)
        return Unknown()


def _numeric_only_or_nothing(kwargs: dict[str, Value]) -> bool:
    """No keyword, or `numeric_only=True` (pandas 2 drops text columns only when told to)."""
    return not kwargs or (set(kwargs) == {"numeric_only"} and isinstance(kwargs["numeric_only"], Const)
                          and kwargs["numeric_only"].value is True)


def _positive_count(reader: PandasCalls, node: ast.Call) -> bool:
    """`.head()` or `.head(k)` with a constant k > 0."""
    if node.keywords or len(node.args) > 1:
        return False
    if not node.args:
        return True
    n = reader.const(node.args[0])
    return isinstance(n, Const) and isinstance(n.value, int) and not isinstance(n.value, bool) and n.value > 0


def date_parts(value: object) -> tuple | None:
    """(the new column's name or None, the columns) of a `parse_dates` that combines columns into
    one date (`[[0, 1, 2]]`, `{"when": ["day", "time"]}`); None for any other `parse_dates`."""
    if not isinstance(value, Const):
        return None
    found = value.value
    if isinstance(found, dict) and len(found) == 1:
        (name, parts), = found.items()
        return (name, tuple(parts)) if isinstance(name, str) and isinstance(parts, (list, tuple)) and len(parts) > 1 else None
    if isinstance(found, (list, tuple)) and len(found) == 1 and isinstance(found[0], (list, tuple)) and len(found[0]) > 1:
        return None, tuple(found[0])
    return None
