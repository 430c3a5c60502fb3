"""Is an answer a value the solution shows? One rule for extraction, verification and audit.

An answer is the value of a named place in the output of the task's *answer cell* (its last
solution cell), never a token found somewhere in the outputs:
- `result`: the cell's displayed result (its final expression), when that is one value;
- `result[<label>]`: one entry of a displayed Series (`describe()`, a `groupby` result);
- `result.index[<i>]`: a row label of a displayed Series or table that is a word (a group's name);
- `result.loc[<row>, <column>]`: one cell of a displayed DataFrame; `result.shape[0]`,
  `result.shape[1]`: its rows and columns, as pandas writes them under a table it cut
  (`[500 rows x 6 columns]`); `result[<i>]`: one item of a displayed tuple of numbers (`df.shape`); `info.entries`, `info[<column>]`: the row count and a
  column's non-null count that `DataFrame.info()` printed (extract/shown_tables.py);
- `line <n>`: the n-th line the cell printed, when that line is one value, or `<text>: <value>` /
  `<text> = <value>` (the value is what follows the last `:` or `=`), or words ending in a
  number (`mean price 5.41`).

A value is compared whole. Numbers are rounded only as the task's `format` states
(`answers.roundings_in_format`), then compared with the official (strict) scorer; strings and
booleans must be equal. Empty values, NaN, infinities, reprs of objects and containers are never
answers. At extraction the places are read from the *stored* outputs; `verify` and `audit` read
the same places from the *re-run* outputs.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

from nbqa_builder.answers import (
    EXACT, STRICT, Rounding, parse_answers, render_answers, roundings_in_format, score_response, values_match,
)
from nbqa_builder.extract.shown_tables import info_counts, shown_table, tuple_items
from nbqa_builder.extract.slicer import reads_data
from nbqa_builder.notebooks.code import notebook_trees
from nbqa_builder.records import Answer, Notebook, Task
from nbqa_builder.redact.secrets import find_secrets

RESULT = "result"
MAX_SERIES_ENTRIES = 50  # a displayed Series longer than this is a table, not a few answers

_NUMPY_WRAPPED = re.compile(r"^(?:np|numpy)\.(?:float|int|uint|bool_|str_|longdouble|double)\w*\((.*)\)$", re.S)
_NUMPY_BOOL = re.compile(r"^(?:np|numpy)\.(True|False)_$")
_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$")
_LABELLED = re.compile(r"^(?P<text>.*\S)\s*(?:[:=])\s*(?P<value>[^:=]*\S)$")
# text that is the repr of an object or a container, not one value
_NOT_A_VALUE = re.compile(r"^[<\[({]|^(?:Timestamp|Timedelta|Period|Interval|array|dtype|Index|datetime)\(|\bdtype:")


@dataclass(frozen=True)
class Scalar:
    kind: str  # "int" | "float" | "bool" | "str"
    value: Any


def unwrapped(text: str) -> str:
    """The value inside numpy 2's scalar reprs (`np.float64(5.41)` is `5.41`), stripped."""
    text = text.strip()
    wrapped = _NUMPY_WRAPPED.match(text)
    if wrapped:
        text = wrapped.group(1).strip()
    boolean = _NUMPY_BOOL.match(text)
    return boolean.group(1) if boolean else text


def read_scalar(text: str | None) -> Scalar | None:
    """One value as Python or a notebook shows it, or None (empty, NaN, a container, a repr)."""
    if text is None:
        return None
    text = unwrapped(text)
    if not text or "\n" in text:
        return None
    if text in ("True", "False"):
        return Scalar("bool", text == "True")
    if _INT.match(text):
        return Scalar("int", int(text))
    if _FLOAT.match(text):
        number = float(text)
        return Scalar("float", number) if math.isfinite(number) else None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            inner = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
        return Scalar("str", inner) if isinstance(inner, str) and inner.strip() else None
    if _NOT_A_VALUE.search(text) or text.lower() in ("nan", "none", "nat", "null", "<na>", "inf", "-inf"):
        return None
    return Scalar("str", text)


def same_value(label_value: str, shown: str | None, rounding: Rounding = EXACT) -> bool:
    """Whether `shown` (a value as a cell showed it) is the label's value, rounded as stated."""
    label = read_scalar(label_value)
    got = read_scalar(shown)
    if label is None or got is None or label_value != label_value.strip():
        return False
    if label.kind in ("int", "float") and got.kind in ("int", "float"):
        if rounding == EXACT:
            return values_match(str(got.value), label_value, STRICT)
        # the label itself must be written as the format says (5.003 is not "2 decimal places")
        return (values_match(rounding.apply(got.value), label_value, STRICT)
                and values_match(rounding.apply(label.value), label_value, STRICT))
    if label.kind == "bool" or got.kind == "bool":
        return label.kind == got.kind and label.value == got.value
    if label.kind == "str" and got.kind == "str":
        return label.value == got.value
    return False


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else value if isinstance(value, str) else ""


def series_entries(text: str) -> dict[str, str] | None:
    """label -> value of a pandas Series repr (`describe()`, `value_counts()`, a `groupby` result),
    or None when the text is not one (a DataFrame, a cut repr with `...`, a list)."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    # the footer: `Freq: QE-DEC, ` (a resampled Series), `Name: x, `, `Length: n, `, then the dtype
    if len(lines) < 2 or not re.match(r"^(?:Freq: [\w-]+, )?(?:Name: .*, )?(?:Length: \d+, )?dtype: \w+$", lines[-1]):
        return None
    body = lines[:-1]
    if body and len(body[0].split()) == 1 and len(body) > 1 and body[0] == body[0].lstrip():
        # the index's name on a line of its own (`region`), then the entries
        if not re.search(r"\s{2,}\S", body[0]):
            body = body[1:]
    entries: dict[str, str] = {}
    for line in body:
        if line.strip() == "..." or not line.strip():
            return None
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            return None
        label, value = parts[0].strip(), parts[1]
        if label in entries:
            return None  # a MultiIndex shown with blanks, or a repeated label: not addressable
        entries[label] = value
    return entries if 0 < len(entries) <= MAX_SERIES_ENTRIES else None


def shown_values(outputs: list[dict[str, Any]]) -> dict[str, str]:
    """Place -> value text, for every whole value a cell's outputs show (see the module doc)."""
    places: dict[str, str] = {}
    line_no = 0
    displays = 0
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stdout":
            for line in _text(output.get("text")).splitlines():
                value = line_value(line)
                if value is not None:
                    places[f"line {line_no}"] = value
                line_no += 1
        elif kind in ("execute_result", "display_data"):
            text = _text((output.get("data") or {}).get("text/plain"))
            key = RESULT if kind == "execute_result" else f"display {displays}"
            displays += kind == "display_data"
            if read_scalar(text) is not None:
                places[key] = text.strip()
            else:
                entries = series_entries(text)
                for label, value in (entries or {}).items():
                    places[f"{key}[{label}]"] = value
                if entries is None:
                    places.update(table_places(key, output.get("data") or {}, text))
                else:
                    places.update(label_places(key, list(entries), numbers=index_is_named(text)))
    places.update(info_places(printed(outputs)))
    return places


def label_places(key: str, labels: list[str], numbers: bool = False) -> dict[str, str]:
    """`<key>.index[<i>]`: the row labels of a shown Series or table that are words (the group a
    maximum belongs to); numbered rows are positions, never answers, unless the index has a name
    (`numbers`: a `groupby("year")` result is labelled by the values of `year`)."""
    places = {}
    for position, label in enumerate(labels):
        value = read_scalar(label)
        if value is not None and (value.kind == "str" or (numbers and value.kind == "int")):
            places[f"{key}.index[{position}]"] = label
    return places


def index_is_named(text: str) -> bool:
    """Whether a Series repr names its index on a line of its own (`region`, then the entries)."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return len(lines) > 2 and len(lines[0].split()) == 1 and lines[0] == lines[0].lstrip()


def table_places(key: str, data: dict[str, Any], text: str) -> dict[str, str]:
    """The items of a shown tuple (`<key>[<i>]`), or the cells of a shown DataFrame
    (`<key>.loc[<row>, <column>]`) and its word labels (extract/shown_tables.py)."""
    items = tuple_items(text)
    if items is not None:
        return {f"{key}[{position}]": item for position, item in enumerate(items)}
    places = {}
    size = _TABLE_SIZE.search(text)
    if size:  # `[500 rows x 6 columns]` under a table pandas cut
        places = {f"{key}.shape[0]": size.group(1), f"{key}.shape[1]": size.group(2)}
    table = shown_table(data)
    if table is None:
        return places
    if not size:  # shown whole: its rows and columns can be counted
        places = {f"{key}.shape[0]": str(len(table.index)), f"{key}.shape[1]": str(len(table.columns))}
    places.update(label_places(key, list(table.index), numbers=bool(table.index_name)))
    for row, cells in zip(table.index, table.rows):
        for column, cell in zip(table.columns, cells):
            if read_scalar(cell) is not None:
                places[f"{key}.loc[{row}, {column}]"] = cell
    return places


_TABLE_SIZE = re.compile(r"\n\[(\d+) rows x (\d+) columns\]\s*$")


def table_cut(text: str) -> bool:
    """Whether pandas cut the table this `text/plain` shows (it writes its size under it)."""
    return _TABLE_SIZE.search(text) is not None


def info_places(text: str) -> dict[str, str]:
    """What `DataFrame.info()` printed: `info.entries` (rows) and `info[<column>]` (non-null)."""
    info = info_counts(text) if "non-null" in text else None
    if info is None:
        return {}
    return {"info.entries": str(info.entries), **{f"info[{name}]": str(count) for name, count in info.non_null.items()}}


def line_value(line: str) -> str | None:
    """The value of a printed line: what follows its last `:` or `=`, a number that ends a line of
    words (`mean price 5.41`), or else the whole line."""
    line = line.strip()
    labelled = _LABELLED.match(line)
    if labelled and read_scalar(labelled.group("value")) is not None:
        return labelled.group("value")
    words = line.rsplit(None, 1)
    if len(words) == 2 and re.search(r"[A-Za-z]", words[0]):
        last = read_scalar(words[1])
        if last is not None and last.kind in ("int", "float", "bool"):
            return words[1]
    return line if read_scalar(line) is not None else None


def find_place(label_value: str, places: dict[str, str], rounding: Rounding) -> str | None:
    """The first place whose value is the label's value (see `same_value`)."""
    return next((place for place, shown in places.items() if same_value(label_value, shown, rounding)), None)


def answers_problem(answers: list[Answer], label: str, answer_text: str) -> str | None:
    """What is wrong with a task's answers as written, before any output is looked at:
    no answers, an empty or unreadable value, a name twice, a label or `answer` that says
    something else than the answers."""
    if not answers:
        return "no_answers"
    names = [a.name for a in answers]
    if len(set(names)) != len(names):
        return "duplicate_answer_name"
    if any(not a.value.strip() for a in answers):
        return "empty_answer"
    if any("<REDACTED:" in a.value or find_secrets(a.value) for a in answers):
        return "secret_answer"  # a credential is never an answer, whole or redacted
    if any(read_scalar(a.value) is None for a in answers):
        return "not_a_value"
    try:
        rendered = render_answers([(a.name, a.value) for a in answers])
    except ValueError:
        return "invalid_answer_format"
    if label != rendered or parse_answers(label) != [(a.name, a.value) for a in answers]:
        return "label_disagrees_with_answers"
    if answer_text != answer_field(answers):
        return "answer_disagrees_with_label"
    return None


def answer_field(answers: list[Answer]) -> str:
    """The NbQA `answer` field: the label's values as the format renders them."""
    return "; ".join(a.value for a in answers)


def answer_places(answers: list[Answer], format_text: str, outputs: list[dict[str, Any]]) -> list[str | None]:
    """Where `outputs` (the answer cell's) show each answer: its recorded place when the value is
    there, else the first place that shows it (any place, for answers that record none); None
    where it is not shown."""
    roundings = roundings_in_format(format_text, [a.name for a in answers])
    places = shown_values(outputs)
    found: list[str | None] = []
    for answer in answers:
        rounding = roundings.get(answer.name, EXACT)
        if answer.place:
            found.append(answer.place if same_value(answer.value, places.get(answer.place), rounding) else None)
        else:
            found.append(find_place(answer.value, places, rounding))
    return found


def ground_answers(answers: list[Answer], format_text: str, outputs: list[dict[str, Any]]) -> str | None:
    """Record each answer's place in the stored `outputs` of the answer cell; `ungrounded_answer`
    when some answer is not shown there."""
    places = answer_places(answers, format_text, outputs)
    if None in places:
        return "ungrounded_answer"
    for answer, place in zip(answers, places):
        answer.place = place or ""
    return None


def answers_shown_again(answers: list[Answer], format_text: str, outputs: list[dict[str, Any]]) -> bool:
    """Whether re-run `outputs` show every answer again, at its place."""
    return bool(answers) and None not in answer_places(answers, format_text, outputs)


def printed(outputs: list[dict[str, Any]]) -> str:
    """Everything a cell wrote to stdout."""
    return "".join(_text(o.get("text")) for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout")


def label_printed(outputs: list[dict[str, Any]], answers: list[Answer]) -> bool:
    """Whether a reference program's cell printed every answer, as the official scorer reads them."""
    verdicts = score_response(printed(outputs), [(a.name, a.value) for a in answers], STRICT)
    return bool(verdicts) and all(verdicts.values())


def has_image(outputs: list[dict[str, Any]]) -> bool:
    """Whether a cell showed a chart (an image output): the answer of a visualisation task."""
    return any(key.startswith("image/") for output in outputs for key in (output.get("data") or {}))


_COMMENT_OR_BLANK = re.compile(r"^\s*(?:#.*)?$")


def has_code(source: str | None) -> bool:
    """Whether a cell holds code: something besides blank lines and comments."""
    return bool(source) and not all(_COMMENT_OR_BLANK.match(line) for line in source.splitlines())


def task_problem(task: Task, notebook: Notebook) -> str | None:
    """What makes a task wrong before anything is run: the checks extraction and `verify` share.

    The answers must be well formed and shown by the answer cell's stored outputs, the answer cell
    must hold code, and the task must read data (a task about `np.arange(10)` is not data analysis).
    """
    if not task.cells or any(not 0 <= i < len(notebook.cells) for i in task.cells):
        return "cell_out_of_range"
    if any(notebook.cells[i].cell_type != "code" for i in task.cells):
        return "not_a_code_cell"
    answer_cell = notebook.cells[task.cells[-1]]
    if not has_code(answer_cell.source):
        return "answer_cell_without_code"
    sites = {(cell, line) for ref in notebook.data_refs for cell, line, _ in ref.sites}
    whole_cells = {ref.cell for ref in notebook.data_refs if not ref.sites}  # refs that do not say where
    if not reads_data(notebook_trees(notebook), task.cells, sites, whole_cells):
        return "no_data_file"
    if task.is_visualization:
        return None if has_image(answer_cell.outputs) else "no_chart_output"
    return answers_problem(task.answers, task.label, task.answer) or ground_answers(
        task.answers, task.format, answer_cell.outputs)
