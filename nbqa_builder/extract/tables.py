"""Tasks from what a cell shows that is not one value or a short Series: a long Series, a sorted
table, `df.shape`, `df.info()`.

The whole table is never the answer. A few values are picked out of it, each named in the task
text and each shown by the answer cell at a place extract/grounding.py names:
- a long Series (a `groupby` result, `value_counts()`, `df.nunique()`, sorted or cut with
  `head`): the label of its largest entry (smallest, for a Series sorted ascending) and that entry
  (`result.index[<i>]`, `result[<label>]`); a tie at the top gives no task. Of a long `df.count()`,
  the column with the fewest values; of other aggregates per column (`df.mean()`), nothing: the
  largest mean among unlike columns means nothing;
- rows sorted by a column and cut (`sort_values(x).head(k)`, `nlargest(k, x)`): the k values of
  that column, in order (`result.loc[<row>, <x>]`);
- a grouped table (`df.groupby(by)[[a, b]].mean()`, perhaps sorted by one of its columns): the
  group at the top of its first (or sorted) column, and that group's values
  (`result.index[<i>]`, `result.loc[<group>, <column>]`);
- `df.shape`: the rows and the columns (`result[0]`, `result[1]`), and so for a table pandas cut,
  from the size it writes under it (`result.shape[0]`, `result.shape[1]`);
- `df.info()`: the rows, and the non-null count of each column that has missing values
  (`info.entries`, `info[<column>]`).

`table_plan` gives the statistic (extract/statistics/), its picks, or the reason there is
no task; extract/heuristic.py builds the task from them like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract import spec as S
from nbqa_builder.extract import statistics as T
from nbqa_builder.extract.descriptions import CorrMatrixV, CountsV, FrameInfoV, FrameV, GroupTableV, IndexerV, SortedGroupsV, StatV
from nbqa_builder.extract.grounding import RESULT, printed, read_scalar, series_entries, shown_values, table_cut
from nbqa_builder.extract.shown_tables import info_counts, shown_table

MAX_TOP_ROWS = 10  # a sorted table cut to more rows is a listing, not a few answers
MAX_COUNTED_COLUMNS = 8  # info(): at most this many non-null counts are asked
SORTED_FIRST_ROWS = 3  # a sorted table shown whole: the values of its first rows that are asked


@dataclass(frozen=True)
class Pick:
    name: str  # the answer's name
    code: str  # the expression over `value` (the statistic) the reference program prints
    place: str  # where the answer cell shows it
    shown: str  # the text shown there


@dataclass(frozen=True)
class Plan:
    stat: T.Statistic
    picks: tuple[Pick, ...]


def table_plan(shown: Any, outputs: list[dict[str, Any]]) -> Plan | str | None:
    """The plan for what the answer cell shows, the reason it gives no task, or None when it is
    none of the kinds this module reads."""
    result = _result_data(outputs)
    if isinstance(shown, StatV) and isinstance(shown.stat, T.FrameAgg):
        if shown.stat.method != "count":
            return "per_column_series_too_long"  # the largest mean among unlike columns means nothing
        return _extreme(T.EntryExtreme(shown.stat, largest=False), result)  # the column missing most
    if isinstance(shown, StatV) and isinstance(shown.stat, T.Describe) and isinstance(shown.stat.of, S.Col):
        return _text_summary(shown.stat, result)
    if isinstance(shown, StatV) and shown.stat.multi() and not isinstance(shown.stat, T.Describe):
        return _extreme(T.EntryExtreme(shown.stat), result)
    if isinstance(shown, SortedGroupsV):
        group = shown.group
        series = T.GroupAll(group.frame, group.by, group.of, group.method)
        return _extreme(T.EntryExtreme(series, largest=not shown.ascending), result)
    if isinstance(shown, CountsV):
        return _extreme(T.EntryExtreme(T.ValueCounts(shown.frame, shown.of, shown.normalize)), result)
    if isinstance(shown, IndexerV) and shown.kind == "shape":
        return _shape(shown.frame, outputs)
    if isinstance(shown, FrameInfoV):
        return _info(shown.frame, outputs)
    if isinstance(shown, FrameV):
        return _top_rows(shown.frame, result)
    if isinstance(shown, GroupTableV) and shown.method:
        return _group_row(shown, result)
    if isinstance(shown, CorrMatrixV):
        return _strongest_pair(shown.frame, result)
    return None


def _result_data(outputs: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((o.get("data") or {} for o in outputs if o.get("output_type") == "execute_result"), None)


def _text(data: dict[str, Any]) -> str:
    value = data.get("text/plain") or ""
    return "".join(value) if isinstance(value, list) else value


def _extreme(stat: T.EntryExtreme, result: dict[str, Any] | None) -> Plan | str:
    if result is None:
        return "series_not_displayed"  # printed, or shown with display(): no place to read it
    entries = series_entries(_text(result))
    if entries is None:
        return "series_not_readable"  # cut with `...`, a MultiIndex, over 50 entries
    position = _single_top(list(entries.values()), stat.largest)
    if isinstance(position, str):
        return position
    label = list(entries)[position]
    label_place = f"{RESULT}.index[{position}]"
    if label_place not in shown_values([{"output_type": "execute_result", "data": result}]):
        return "label_not_a_value"  # a position, not a value of the data
    label_name, value_name = stat.names()
    return Plan(stat, (
        Pick(label_name, f"single_top(value, largest={stat.largest})", label_place, label),
        Pick(value_name, f"value.{'max' if stat.largest else 'min'}()", f"{RESULT}[{label}]", entries[label]),
    ))


TEXT_DESCRIBE = ("count", "unique", "top", "freq")


def _text_summary(describe: T.Describe, result: dict[str, Any] | None) -> Plan | str:
    """`describe()` of a text column shows its count, distinct values, top value and its count."""
    if result is None:
        return "series_not_displayed"
    entries = series_entries(_text(result))
    if entries is None or tuple(entries) != TEXT_DESCRIBE:
        return "long_series_output"
    stat = T.TextSummary(describe.frame, describe.of)
    names = [T.answer_name(key, describe.of.name) for key in TEXT_DESCRIBE]
    return Plan(stat, tuple(Pick(name, f"value[{i}]", f"{RESULT}[{key}]", entries[key])
                            for i, (name, key) in enumerate(zip(names, TEXT_DESCRIBE))))


def _single_top(shown: list[str], largest: bool) -> int | str:
    """The position of the one largest (smallest) of these shown numbers, or why there is none."""
    values = [read_scalar(text) for text in shown]
    if any(v is None or v.kind not in ("int", "float") for v in values):
        return "not_a_value"
    best = (max if largest else min)(v.value for v in values)
    winners = [position for position, v in enumerate(values) if v.value == best]
    return winners[0] if len(winners) == 1 else "tied_top_entry"  # two right answers: not a question


def _shape(frame: S.Frame, outputs: list[dict[str, Any]]) -> Plan | str:
    places = shown_values(outputs)
    if f"{RESULT}[0]" not in places or f"{RESULT}[1]" not in places:
        return "shape_not_displayed"
    return Plan(T.Shape(frame), (Pick("row_count", "value[0]", f"{RESULT}[0]", places[f"{RESULT}[0]"]),
                                 Pick("column_count", "value[1]", f"{RESULT}[1]", places[f"{RESULT}[1]"])))


def _info(frame: S.Frame, outputs: list[dict[str, Any]]) -> Plan | str:
    info = info_counts(printed(outputs))
    if info is None:
        return "info_not_readable"
    incomplete = [name for name, count in info.non_null.items() if count < info.entries][:MAX_COUNTED_COLUMNS]
    if not incomplete:
        return "non_missing_equals_row_count"  # every count is the row count again
    picks = [Pick("row_count", "len(value)", "info.entries", str(info.entries))]
    picks += [Pick(T.answer_name("non_missing", name), f"value[{S.quote(name)}].count()", f"info[{name}]",
                   str(info.non_null[name])) for name in incomplete]
    return Plan(T.NonNullCounts(frame, tuple(incomplete)), tuple(picks))


def _top_rows(frame: S.Frame, result: dict[str, Any] | None) -> Plan | str:
    ops = frame.ops
    if ops and isinstance(ops[-1], S.SortRows) and result is not None and not table_cut(_text(result)):
        # sorted and shown whole: its first rows hold the largest (smallest) values of the first key,
        # whatever the later keys do with ties
        return _first_rows(S.Frame(frame.source, ops[:-1]), ops[-1], result, SORTED_FIRST_ROWS)
    if len(ops) > 1 and isinstance(ops[-1], S.SelectColumns) and isinstance(ops[-2], S.SelectRows):
        return _picked_cells(frame, result)  # rows and columns picked by label (never a whole table)
    if ops and isinstance(ops[-1], S.HeadRows) and any(isinstance(op, S.SetColumn) for op in ops):
        return _row_values(frame, result)  # a derived column, shown in the first rows
    if len(ops) < 2 or not isinstance(ops[-1], S.HeadRows) or not isinstance(ops[-2], S.SortRows):
        return _size(frame, result)  # rows of a table, not sorted and cut: only its size is asked
    head, order = ops[-1], ops[-2]
    if head.last or len(order.by) != 1 or head.n > MAX_TOP_ROWS:
        return "table_output"
    if result is None:
        return "table_not_displayed"
    return _first_rows(S.Frame(frame.source, ops[:-2]), order, result, head.n, whole=True)


def _first_rows(before: S.Frame, order: S.SortRows, result: dict[str, Any], k: int, whole: bool = False) -> Plan | str:
    """The first `k` values of the first sort key, as the shown table has them (`whole`: the table
    is those k rows)."""
    table = shown_table(result)
    name = order.by[0]
    if table is None or str(name) not in table.columns or (len(table.index) != k if whole else len(table.index) < k):
        return "table_not_readable"
    stat = T.TopValues(before, S.Col(name), k, largest=not order.ascending[0])
    picks = []
    for position, (row, cell) in enumerate(list(zip(table.index, table.column(str(name))))[:k]):
        if read_scalar(cell) is None:
            return "not_a_value"  # a missing value among the first rows
        picks.append(Pick(T.answer_name(stat.name(), position + 1), f"value[{position}]",
                          f"{RESULT}.loc[{row}, {name}]", cell))
    return Plan(stat, tuple(picks))


def _row_values(frame: S.Frame, result: dict[str, Any] | None) -> Plan | str:
    """The first (last) rows of a table after the notebook set a column: that column's values
    there, read off the shown table (the column set last that the table shows)."""
    head = frame.ops[-1]
    if head.n > MAX_TOP_ROWS:
        return "table_output"
    table = shown_table(result) if result is not None else None
    if table is None:
        return "table_not_readable"
    set_columns = [op.name for op in frame.ops[:-1] if isinstance(op, S.SetColumn)]
    name = next((c for c in reversed(set_columns) if str(c) in table.columns), None)
    if name is None:
        return _size(frame, result)  # the columns set are not shown (made the index, cut out)
    if len(table.index) != head.n:
        return "table_not_readable"
    stat = T.RowValues(S.Frame(frame.source, frame.ops[:-1]), S.Col(name), head.n, head.last)
    picks = []
    for position, (row, cell) in enumerate(zip(table.index, table.column(str(name)))):
        if read_scalar(cell) is None:
            return "not_a_value"  # a missing value among the rows
        picks.append(Pick(T.answer_name(stat.name(), position + 1), f"value[{position}]", f"{RESULT}.loc[{row}, {name}]", cell))
    return Plan(stat, tuple(picks))


ROW_CHOOSERS = (S.FilterRows, S.DropNA, S.DropDuplicates, S.Merge, S.Concat)


MAX_PICKED_CELLS = 9  # a table picked by labels: at most this many cells are asked


def _picked_cells(frame: S.Frame, result: dict[str, Any] | None) -> Plan | str:
    """Rows the notebook picked by their labels (and perhaps some columns), shown whole: the value of
    each cell, named by its column and row."""
    table = shown_table(result) if result is not None else None
    if table is None:
        return "table_not_readable"
    if len(table.index) * len(table.columns) > MAX_PICKED_CELLS:
        return "table_output"
    stat = T.Cells(frame)
    picks = []
    for row, cells in zip(table.index, table.rows):
        if read_scalar(row) is None or read_scalar(row).kind != "str":
            return "label_not_a_value"  # (a numbered row: its label is a position)
        for name, cell in zip(table.columns, cells):
            if read_scalar(cell) is None:
                return "not_a_value"
            picks.append(Pick(T.answer_name(name, row), f"value.loc[{row!r}, {name!r}]", f"{RESULT}.loc[{row}, {name}]", cell))
    return Plan(stat, tuple(picks))


def _size(frame: S.Frame, result: dict[str, Any] | None) -> Plan | str:
    """The rows and columns of a table pandas cut, as it writes them under the table; of a table
    shown whole, the rows it kept when its last step chose rows (a filter, a merge)."""
    places = shown_values([{"output_type": "execute_result", "data": result}]) if result is not None else {}
    rows, columns = f"{RESULT}.shape[0]", f"{RESULT}.shape[1]"
    if rows not in places or any(isinstance(op, S.HeadRows) for op in frame.ops):
        return "table_output"
    if not table_cut(_text(result or {})):  # shown whole
        if not (frame.ops and isinstance(frame.ops[-1], ROW_CHOOSERS)):
            return "table_output"  # its values are rows of data, not answers
        return Plan(T.RowCount(frame), (Pick("row_count", "value", rows, places[rows]),))
    return Plan(T.Shape(frame), (Pick("row_count", "value[0]", rows, places[rows]),
                                 Pick("column_count", "value[1]", columns, places[columns])))


def _strongest_pair(frame: S.Frame, result: dict[str, Any] | None) -> Plan | str:
    """A correlation matrix shown whole: the pair of columns it correlates most strongly (largest
    absolute value above the diagonal), read off the table, and that correlation."""
    if result is None:
        return "table_not_displayed"
    table = shown_table(result)
    if table is None or table.columns != table.index or len(table.index) < 3:
        return "table_not_readable"
    pairs = []
    for i in range(len(table.index)):
        for j in range(i + 1, len(table.columns)):
            value = read_scalar(table.rows[i][j])
            if value is None or value.kind not in ("int", "float"):
                return "not_a_value"
            pairs.append((abs(float(value.value)), i, j))
    strongest = max(pairs)
    if sum(1 for pair in pairs if pair[0] == strongest[0]) > 1:
        return "tied_top_entry"
    _, i, j = strongest
    a, b = table.index[i], table.index[j]
    if read_scalar(a) is None or read_scalar(a).kind != "str" or read_scalar(b).kind != "str":
        return "label_not_a_value"
    return Plan(T.StrongestCorrelation(frame), (
        Pick("column_a", "value[0]", f"{RESULT}.index[{i}]", a),
        Pick("column_b", "value[1]", f"{RESULT}.index[{j}]", b),
        Pick("correlation", "value[2]", f"{RESULT}.loc[{a}, {b}]", table.rows[i][j]),
    ))


def _group_row(shown: GroupTableV, result: dict[str, Any] | None) -> Plan | str:
    if result is None:
        return "table_not_displayed"
    table = shown_table(result)
    if table is None:
        return "table_not_readable"
    # `[x].agg([...])`: a column per method; `groupby(by).mean()` of every numeric column: those the table shows
    columns = shown.methods or shown.columns or table.columns
    rank_by = columns[0] if shown.rank_by is None else shown.rank_by
    stat = T.GroupRow(shown.frame, shown.by, columns, shown.method, rank_by, shown.largest,
                      aggregated=shown.columns[0] if shown.methods else None)
    names = [str(name) for name in stat.of]
    if table.columns != tuple(names) or len(names) > MAX_COUNTED_COLUMNS:
        return "table_not_readable"
    position = _single_top(table.column(str(stat.rank_by)), stat.largest)
    if isinstance(position, str):
        return position
    label = table.index[position]
    label_place = f"{RESULT}.index[{position}]"
    if read_scalar(label) is None or (read_scalar(label).kind != "str" and not table.index_name):
        return "label_not_a_value"
    top = stat.top_code()
    picks = [Pick(T.answer_name(stat.by), top, label_place, label)]
    for name, original in zip(names, stat.of):
        picks.append(Pick(stat.value_name(name), f"value.loc[{top}, {S.quote(original)}]",
                          f"{RESULT}.loc[{label}, {name}]", table.cell(label, name)))
    return Plan(stat, tuple(picks))

