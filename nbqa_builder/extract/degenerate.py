"""Tasks that are right but teach nothing, dropped with a reason before they are built.

- a filter on the *text* 'NaN' (or 'None', 'N/A'...): pandas reads those words as missing values,
  so the filter keeps no row, whatever the notebook meant (`compares_with_missing_as_text`),
  unless the file was read with `keep_default_na=False`;
- a count of rows (or of a Series' entries) that is 0: the condition keeps nothing (`keeps_no_rows`);
- the non-missing count of a column whose missing values were filled: the row count again, and
  its missing count: 0 (`count_after_fillna`);
- the sum of a unit price, a rate, a ratio, a percentage or an average: a number with no meaning
  (`sum_of_a_rate`);
- the distinct count 1, or a spread of 0: a constant column (`constant_column`).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from nbqa_builder.extract import spec as S
from nbqa_builder.extract import statistics as T

# the words pandas' readers turn into missing values by default (`na_values`), lower-cased
MISSING_WORDS = {"", "nan", "-nan", "na", "n/a", "#n/a", "null", "none", "<na>", "-1.#ind", "1.#qnan", "#na", "nat"}
RATE_NAME = re.compile(r"unit[ _]?price|price[ _]?per|\brate\b|_rate\b|ratio|percent|pct|\bavg|average|\bmean",
                       re.IGNORECASE)


def degenerate_reason(stat: T.Statistic, values: list[str]) -> str | None:
    """Why a task asking `stat` with these label values is degenerate, or None."""
    inner = stat.inner if isinstance(stat, T.Round) else stat
    for frame in inner.frames():
        if _reads_missing_words(frame) and any(_missing_as_text(cond) for cond in _conditions(frame)):
            return "compares_with_missing_as_text"
    if isinstance(inner, T.CountWhere) and _reads_missing_words(inner.frame):
        if any(_missing_as_text(c) for c in _flat(inner.cond)):
            return "compares_with_missing_as_text"
    if (isinstance(inner, (T.RowCount, T.CountWhere, T.EntriesWhere)) and values == ["0"]) or (
            isinstance(inner, (T.Shape, T.NonNullCounts)) and values[:1] == ["0"]):
        return "keeps_no_rows"
    if isinstance(inner, (T.Agg, T.MissingCount)) and isinstance(inner.of, S.Col):
        filled = _filled(inner.frame, inner.of.name)
        if filled and (isinstance(inner, T.MissingCount) or inner.method == "count"):
            return "count_after_fillna"
    if isinstance(inner, T.Agg) and inner.method == "sum" and isinstance(inner.of, S.Col) \
            and RATE_NAME.search(str(inner.of.name)):
        return "sum_of_a_rate"
    if isinstance(inner, T.Agg) and len(values) == 1 and (
            (inner.method in ("nunique", "nunique_all") and values[0] == "1")
            or (inner.method in T.DEVIATIONS and _is_zero(values[0]))):
        return "constant_column"
    return None


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


def _conditions(frame: S.Frame) -> Iterator[S.Cond]:
    for op in frame.ops:
        if isinstance(op, S.FilterRows):
            yield from _flat(op.cond)
        if isinstance(op, S.Merge):
            yield from _conditions(op.right)


def _flat(cond: Any) -> Iterator[S.Cond]:
    if isinstance(cond, (S.AllOf, S.AnyOf)):
        for part in cond.parts:
            yield from _flat(part)
    elif isinstance(cond, S.Not):
        yield from _flat(cond.part)
    else:
        yield cond


def _reads_missing_words(frame: S.Frame) -> bool:
    """Whether the file was read with pandas' default missing words (`keep_default_na=False`
    keeps 'NA' and the empty field as text, which a filter may then compare with)."""
    return dict(frame.source.options).get("keep_default_na", True) is not False


def _missing_as_text(cond: S.Cond) -> bool:
    if isinstance(cond, S.Compare) and cond.op in ("==", "!="):
        return any(isinstance(side, S.Lit) and isinstance(side.value, str) and side.value.strip().lower() in MISSING_WORDS
                   for side in (cond.left, cond.right))
    if isinstance(cond, S.IsIn):
        return any(isinstance(v, str) and v.strip().lower() in MISSING_WORDS for v in cond.values)
    return False


def _filled(frame: S.Frame, name: Any) -> bool:
    """Whether the frame's missing values of column `name` were all replaced by a constant."""
    return any(isinstance(op, S.FillNA) and isinstance(op.value, S.Lit) and (op.columns is None or name in op.columns)
               for op in frame.ops)
