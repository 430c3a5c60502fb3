"""The `@name[value]` answer format: render, parse and compare, in two modes.

An answer is one or more items such as `@mean_fare[34.65] @median_age[28.0]`. Labels in the
dataset, responses of agents and the rewards of the search all go through this module, so that
one definition of "the same answer" holds everywhere. Standard library only (numpy is never
imported: its printed forms are read as text).

Two modes (`STRICT`, `LENIENT`); each function that takes a mode documents what each accepts.

- `strict` is the official InfiAgent-DABench scorer, nothing more: items are found with the
  regex `@(\\w+)\\[(.*?)\\]` (a value ends at the first `]` and never spans a line break), a later
  item with the same name replaces an earlier one, and a sub-answer is right when the two strings
  are equal or both convert with Python's `float()` and differ by less than 1e-6.
- `lenient` is what the JUPITER reward checker accepts, plus printed forms a scorer should not
  punish; see `parse_answers` and `values_match`.
"""

from __future__ import annotations

import ast
import cmath
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STRICT, LENIENT = "strict", "lenient"
MODES = (STRICT, LENIENT)

# The official scorer's pattern; `.` stops at a newline, `.*?` at the first `]`.
STRICT_ITEM = re.compile(r"@(\w+)\[(.*?)\]")
# Where a lenient item starts; its value runs to the last `]` before the next start.
LENIENT_ITEM_START = re.compile(r"@(\w+)\[")
NAME = re.compile(r"\w+")

STRICT_TOLERANCE = 1e-6  # official: abs(float(a) - float(b)) < 1e-6
LENIENT_ABS_TOLERANCE = 1e-3  # JUPITER: numbers equal within 1e-3 absolute ...
LENIENT_REL_TOLERANCE = 1e-3  # ... or 0.1 % relative

# numpy scalars as Python >= 3.11 with numpy 2 prints them: np.float64(3.5), np.int64(2),
# np.str_('a'), np.True_, np.bool_(True). The wrapper is dropped and the inner literal kept.
NUMPY_SCALAR_CALL = re.compile(
    r"\b(?:np|numpy)\.(?:float|int|uint|complex|bool_|str_|bytes_|longdouble|double|half|single)"
    r"\d*\(((?:[^()'\"]|'[^']*'|\"[^\"]*\")*)\)"
)
NUMPY_BOOL_CONSTANT = re.compile(r"\b(?:np|numpy)\.(True|False)_")
LOWERCASE_CONSTANTS = {"true": True, "false": False, "none": None, "null": None}


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown answer mode {mode!r}; expected one of {', '.join(MODES)}")


def render_answers(pairs: Iterable[tuple[str, str]]) -> str:
    """`[(name, value), ...]` -> `"@name[value] @name[value]"`.

    Only pairs that both modes read back unchanged are accepted: a name is one or more word
    characters (`\\w+`), a value is a string without `]`, without a line break and without an
    `@name[` of its own. Anything else raises ValueError, so a label never reads differently
    under the official scorer than it was written.
    """
    items = []
    for name, value in pairs:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValueError(f"answer name {name!r} is not one or more word characters")
        if not isinstance(value, str):
            raise ValueError(f"value of @{name} must be a string, got {type(value).__name__}")
        if "]" in value or "\n" in value or "\r" in value or LENIENT_ITEM_START.search(value):
            raise ValueError(f"value of @{name} cannot be written as @{name}[...]: {value!r}")
        items.append(f"@{name}[{value}]")
    return " ".join(items)


def parse_answers(text: str, mode: str = STRICT) -> list[tuple[str, str]]:
    """Every `@name[value]` item in `text`, in order, duplicates kept, values as written.

    strict: the matches of `@(\\w+)\\[(.*?)\\]`, exactly as the official scorer finds them. A
    value ends at the first `]` and cannot contain a line break.

    lenient: an item starts at each `@name[`; its value is everything up to the last `]` before
    the next item's `@name[` (or the end of the text), so `@a[[1, 2]] @b[x]` gives `[1, 2]` and
    `x`. Values may span lines. Prose with a `]` between two items becomes part of the first
    value; an item with no `]` before the next one is not an item.
    """
    _check_mode(mode)
    if mode == STRICT:
        return STRICT_ITEM.findall(text)
    starts = list(LENIENT_ITEM_START.finditer(text))
    pairs = []
    for i, start in enumerate(starts):
        segment_end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        close = text.rfind("]", start.end(), segment_end)
        if close != -1:
            pairs.append((start.group(1), text[start.end() : close]))
    return pairs


def answer_dict(text: str, mode: str = STRICT) -> dict[str, str]:
    """Name -> value of the items in `text`; a later item with the same name wins (both modes)."""
    return dict(parse_answers(text, mode))


def values_match(response_value: str | None, label_value: str, mode: str = STRICT) -> bool:
    """Whether a response's value for a name counts as the label's value.

    A missing value (None) is wrong in both modes.

    strict: the strings are equal, or both convert with Python's `float()` (which itself allows
    surrounding whitespace, `1e3`, `inf`, `nan`) and differ by less than 1e-6. No other
    normalisation: `"Male"` is not `"male"`, `"True"` is not `"true"`, `"'a'"` is not `"a"`.

    lenient: both values are read by `lenient_value` and then compared by `lenient_equal`:
    - surrounding spaces and one pair of surrounding quotes are ignored;
    - `np.float64(3.5)`, `np.int64(2)`, `np.str_('a')`, `np.True_` read as `3.5`, `2`, `'a'`, `True`;
    - `True`/`true`, `False`/`false` are booleans (and never equal a number);
    - numbers are equal within 1e-3 absolute or 0.1 % relative (`3.50` is `3.5`); NaN equals NaN;
    - lists, tuples and sets match element by element in any order (same length);
    - dicts match when they have the same keys and each value matches;
    - anything else must be equal as read (strings are case-sensitive).
    """
    _check_mode(mode)
    if response_value is None:
        return False
    if mode == STRICT:
        if response_value == label_value:
            return True
        try:
            return abs(float(response_value) - float(label_value)) < STRICT_TOLERANCE
        except (TypeError, ValueError, OverflowError):
            return False
    return lenient_equal(lenient_value(response_value), lenient_value(label_value))


def lenient_value(text: str) -> Any:
    """A value as the lenient mode reads it: a Python literal where possible, else the text.

    Order: strip spaces; drop numpy wrappers; `ast.literal_eval` (a quoted string is read again
    from what is inside its quotes); then `float()` (inf, nan); then lower-case `true/false/none/null`; then a value in
    quotes that are not a Python literal (backticks, unbalanced content) is read again from inside
    them; else the stripped text.
    """
    text = text.strip()
    text = NUMPY_BOOL_CONSTANT.sub(r"\1", text)
    # repeated so that nested wrappers (a list of np.float64) are all dropped
    previous = None
    while previous != text:
        previous, text = text, NUMPY_SCALAR_CALL.sub(r"\1", text)
    try:
        # literal_eval only builds literals; it cannot run code
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    else:
        # a quoted literal: read what is inside the quotes the same way ('3.5' is 3.5)
        return lenient_value(value) if isinstance(value, str) else value
    try:
        return float(text)  # what literal_eval does not read: inf, nan, Infinity
    except ValueError:
        pass
    if text.lower() in LOWERCASE_CONSTANTS:
        return LOWERCASE_CONSTANTS[text.lower()]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return lenient_value(text[1:-1])
    return text


def lenient_equal(a: Any, b: Any) -> bool:
    """Structural equality with number tolerance; see `values_match` (lenient) for the rules."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return _numbers_close(a, b)
    if isinstance(a, (list, tuple, set, frozenset)) and isinstance(b, (list, tuple, set, frozenset)):
        return _match_in_any_order(list(a), list(b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        keys_b = list(b)
        for key_a, value_a in a.items():
            key_b = next((k for k in keys_b if lenient_equal(key_a, k)), _MISSING)
            if key_b is _MISSING or not lenient_equal(value_a, b[key_b]):
                return False
            keys_b.remove(key_b)
        return True
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    try:
        return bool(a == b)
    except Exception:  # odd literal types (e.g. Ellipsis, bytes vs str) are simply unequal
        return False


_MISSING = object()


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, complex)) and not isinstance(x, bool)


def _numbers_close(a: complex, b: complex) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if not (cmath.isfinite(a) and cmath.isfinite(b)):
        return a == b  # a relative tolerance of an infinity would accept anything
    try:
        return abs(a - b) <= max(LENIENT_ABS_TOLERANCE, LENIENT_REL_TOLERANCE * max(abs(a), abs(b)))
    except OverflowError:
        return False


def _match_in_any_order(left: list[Any], right: list[Any]) -> bool:
    """A perfect matching between the two lists under `lenient_equal` (Kuhn's algorithm).

    Greedy pairing is not enough with a tolerance: 1.0 may match 1.0005 and 1.001, and taking the
    wrong one first would fail a list that does match.
    """
    if len(left) != len(right):
        return False
    edges = [[j for j, r in enumerate(right) if lenient_equal(l_item, r)] for l_item in left]
    matched_right: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in matched_right or augment(matched_right[j], seen):
                matched_right[j] = i
                return True
        return False

    return all(augment(i, set()) for i in range(len(left)))


def score_response(
    response: str, label: Iterable[tuple[str, str]] | Mapping[str, str], mode: str = STRICT
) -> dict[str, bool]:
    """Per label name, whether the response got it right.

    Both modes: the label's names are what is scored (a later duplicate in the label wins, as in
    the official scorer); names in the response that the label lacks are ignored; a name the
    response lacks is wrong; a later item in the response replaces an earlier one.
    """
    label_answers = dict(label.items() if isinstance(label, Mapping) else label)
    given = answer_dict(response, mode)
    return {name: values_match(given.get(name), value, mode) for name, value in label_answers.items()}


# ---------------------------------------------------------------------------------------------
# Rounding: how a task's `format` asks each value to be written. The format is English (it is what
# a solver reads), so the rule is read back from it; the heuristic extractor writes its formats
# with `Rounding.describe`, which this reads back exactly.

_NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10}
_COUNT = r"(\d+|" + "|".join(_NUMBER_WORDS) + r")"
_DECIMALS_PHRASE = re.compile(_COUNT + r"[\s-]*(?:decimal(?:\s+(?:places?|digits?|points?))?s?\b|d\.p\.|dp\b)", re.I)
_SIGNIFICANT_PHRASE = re.compile(_COUNT + r"\s+significant\s+(?:digits?|figures?)", re.I)
_INTEGER_PHRASE = re.compile(r"\b(?:an?\s+integer|whole\s+number|nearest\s+integer|no\s+decimals?(?:\s+places)?)\b", re.I)


@dataclass(frozen=True)
class Rounding:
    """How a number is written in a label: `decimals` places, `significant` digits, or `exact`
    (as computed: the format states no rounding)."""

    kind: str  # "decimals" | "significant" | "exact"
    digits: int = 0

    def apply(self, number: float) -> str:
        if self.kind == "decimals":
            return f"{number:.{self.digits}f}"
        if self.kind == "significant":
            return f"{number:.{self.digits}g}"
        return repr(number) if isinstance(number, float) else str(number)

    def describe(self) -> str:
        """The phrase a format uses for it (read back by `roundings_in_format`)."""
        if self.kind == "decimals":
            if self.digits == 0:
                return "an integer"
            return f"a number rounded to {self.digits} decimal place{'s' if self.digits != 1 else ''}"
        if self.kind == "significant":
            return f"a number rounded to {self.digits} significant digits"
        return "a number, not rounded"


EXACT = Rounding("exact")


def _rounding_at(match: re.Match, kind: str) -> Rounding:
    count = match.group(1).lower()
    return Rounding(kind, int(count) if count.isdigit() else _NUMBER_WORDS[count])


def roundings_in_format(format_text: str, names: Iterable[str]) -> dict[str, Rounding]:
    """Name -> the rounding the format asks for that answer (`EXACT` where it states none).

    One stated rounding applies to every answer. Several: each answer takes the first rounding
    stated after its own `@name[...]` item, or after its name in the text; when the names cannot
    be placed but there are as many roundings as answers, they go in order.
    """
    names = list(names)
    found: list[tuple[int, Rounding]] = []
    for pattern, kind in ((_DECIMALS_PHRASE, "decimals"), (_SIGNIFICANT_PHRASE, "significant")):
        found += [(m.start(), _rounding_at(m, kind)) for m in pattern.finditer(format_text)]
    found += [(m.start(), Rounding("decimals", 0)) for m in _INTEGER_PHRASE.finditer(format_text)]
    found.sort(key=lambda item: item[0])
    distinct = {rounding for _, rounding in found}
    if not found:
        return {name: EXACT for name in names}
    if len(distinct) == 1:
        return {name: found[0][1] for name in names}
    items = list(STRICT_ITEM.finditer(format_text))
    items_end = items[-1].end() if items else 0
    by_mention: dict[str, Rounding] = {}  # "... where `a` is rounded to 2 decimals and `b` ..."
    by_item: dict[str, Rounding] = {}  # "@a[x] (2 decimals), @b[y] (an integer)"
    for name in names:
        mention = re.compile(rf"\b{re.escape(name)}\b").search(format_text, items_end)
        if mention:
            after = [rounding for position, rounding in found if position > mention.start()]
            if after:
                by_mention[name] = after[0]
        item = next((i for i, m in enumerate(items) if m.group(1) == name), None)
        if item is not None:
            end = items[item + 1].start() if item + 1 < len(items) else len(format_text)
            inside = [rounding for position, rounding in found if items[item].end() <= position < end]
            if inside and (item + 1 < len(items) or len(items) == 1):
                by_item[name] = inside[0]
    for placed in (by_mention, by_item):
        if len(placed) == len(names):
            return placed
    if len(found) == len(names):
        return {name: rounding for name, (_, rounding) in zip(names, found)}
    return {name: EXACT for name in names}
