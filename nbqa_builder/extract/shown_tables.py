"""Tables as a notebook shows them: the cells of a displayed DataFrame, the items of a shown tuple,
the non-null counts `DataFrame.info()` prints.

These are read so that a value inside them can be an answer (extract/grounding.py names each one a
place: `result.loc[<row>, <column>]`, `result[0]`, `info[<column>]`...). A table is read only when
every cell can be addressed by one row label and one column label: a MultiIndex (cells spanning
rows or columns), a table cut with `...`, or a repeated label gives nothing, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

MAX_TABLE_ROWS = 60  # pandas shows 60 rows before it cuts a table; a longer display is cut anyway


@dataclass(frozen=True)
class ShownTable:
    columns: tuple[str, ...]
    index: tuple[str, ...]  # the row labels, in the order shown
    rows: tuple[tuple[str, ...], ...]  # one text per column, in the order of `columns`
    index_name: str = ""

    def cell(self, row: str, column: str) -> str | None:
        if row not in self.index or column not in self.columns:
            return None
        return self.rows[self.index.index(row)][self.columns.index(column)]

    def column(self, name: str) -> list[str]:
        position = self.columns.index(name)
        return [row[position] for row in self.rows]


class _TableHTML(HTMLParser):
    """The cells of the first <table>: rows of (is_header, text, spans)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[tuple[bool, str]]] = []
        self.in_head = False
        self.head_rows = 0
        self.cell: list[str] | None = None
        self.cell_is_header = False
        self.spans = False
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables += 1
        if self.tables != 1:
            return
        if tag == "thead":
            self.in_head = True
        elif tag == "tr":
            self.rows.append([])
            self.head_rows += self.in_head
        elif tag in ("td", "th"):
            self.cell, self.cell_is_header = [], tag == "th"
            if any(name in ("rowspan", "colspan") and value not in (None, "1") for name, value in attrs):
                self.spans = True

    def handle_endtag(self, tag):
        if tag == "thead":
            self.in_head = False
        elif tag in ("td", "th") and self.cell is not None and self.rows:
            self.rows[-1].append((self.cell_is_header, " ".join("".join(self.cell).split())))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_table(html: str) -> ShownTable | None:
    """A DataFrame's `text/html` display, when every cell has one row and one column label."""
    if "<table" not in html or html.count("<table") != 1:
        return None
    parser = _TableHTML()
    try:
        parser.feed(html)
    except (AssertionError, ValueError):
        return None
    if parser.spans or not parser.rows or parser.head_rows not in (1, 2):
        return None
    head, body = parser.rows[:parser.head_rows], parser.rows[parser.head_rows:]
    columns = tuple(text for _, text in head[0][1:])
    index_name = ""
    if len(head) == 2:  # the index's name on a row of its own
        names = [text for _, text in head[1]]
        if any(names[1:]) or not names:
            return None
        index_name = names[0]
    return _table(columns, [(row[0][1], [text for _, text in row[1:]]) for row in body if row], index_name,
                  all(row and row[0][0] for row in body))


def text_table(text: str) -> ShownTable | None:
    """A DataFrame's `text/plain` display, in the simple case where no label or value holds a
    space (cells are then the words of each line). A display pandas wrapped into blocks of columns
    (the header of each block but the last ending with `\\`) is read block by block; a cut one
    gives None."""
    blocks = [block for block in re.split(r"\n\s*\n", text.strip("\n")) if block.strip()]
    if len(blocks) == 1:
        return _text_block(blocks[0])
    parts = []
    for position, block in enumerate(blocks):
        lines = [line.rstrip() for line in block.splitlines()]
        wrapped = lines[0].endswith("\\")  # pandas ends a block's header with `\\` when more follow
        if wrapped == (position == len(blocks) - 1):  # only the last block is not continued
            return None
        parts.append(_text_block("\n".join(line.removesuffix("\\").rstrip() for line in lines)))
    if any(part is None for part in parts) or len({(p.index, p.index_name) for p in parts}) != 1:
        return None
    columns = tuple(c for part in parts for c in part.columns)
    rows = [(label, [cell for part in parts for cell in part.rows[i]]) for i, label in enumerate(parts[0].index)]
    return _table(columns, rows, parts[0].index_name, True)


def _text_block(text: str) -> ShownTable | None:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if len(lines) < 2 or any(line.endswith("\\") or "..." in line for line in lines):
        return None
    columns = tuple(lines[0].split())
    body = lines[1:]
    index_name = ""
    first = body[0].split()
    if len(first) == 1 and len(body) > 1 and len(columns) > 1:
        index_name, body = first[0], body[1:]  # `region` alone on its line: the index's name
    rows = []
    for line in body:
        words = line.split()
        if len(words) != len(columns) + 1:
            return None
        rows.append((words[0], words[1:]))
    return _table(columns, rows, index_name, True)


def _table(columns: tuple, rows: list, index_name: str, labelled: bool) -> ShownTable | None:
    index = tuple(label for label, _ in rows)
    if (not labelled or not columns or not rows or len(rows) > MAX_TABLE_ROWS or len(set(columns)) != len(columns)
            or len(set(index)) != len(index) or "" in columns or "" in index
            or any(len(cells) != len(columns) for _, cells in rows)
            or any(cell in ("...", "…") for _, cells in rows for cell in cells) or "..." in index):
        return None
    return ShownTable(columns, index, tuple(tuple(cells) for _, cells in rows), index_name)


def shown_table(data: dict) -> ShownTable | None:
    """The table a display shows: its HTML when it has one, else its plain text."""
    html = data.get("text/html")
    if html:
        return html_table("".join(html) if isinstance(html, list) else html)
    plain = data.get("text/plain")
    return text_table("".join(plain) if isinstance(plain, list) else plain) if plain else None


_TUPLE = re.compile(r"^\((.*)\)$", re.S)
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


def tuple_items(text: str) -> list[str] | None:
    """The items of a shown tuple of numbers (`df.shape` shows `(400, 6)`), or None."""
    match = _TUPLE.match(text.strip())
    if not match:
        return None
    items = [item.strip() for item in match.group(1).split(",")]
    if items and items[-1] == "":
        items = items[:-1]
    return items if len(items) >= 2 and all(_NUMBER.match(i) for i in items) else None


_INFO_CLASS = re.compile(r"<class 'pandas\.(?:core\.frame\.)?DataFrame'>")  # pandas 3 drops `core.frame`
_INFO_ENTRIES = re.compile(r"^(?:RangeIndex|Index|Int64Index|DatetimeIndex): (\d+) entries")
_INFO_COLUMN = re.compile(r"^\s*(?:\d+\s+)?(?P<name>.+?)\s+(?P<count>\d+) non-null\s+\S+$")


@dataclass(frozen=True)
class InfoCounts:
    entries: int
    non_null: dict[str, int]  # column -> non-null count, in the order shown


def info_counts(text: str) -> InfoCounts | None:
    """What `DataFrame.info()` printed: the number of rows and each column's non-null count."""
    if not _INFO_CLASS.search(text):
        return None
    entries, counts = None, {}
    for line in text.splitlines():
        line = line.rstrip()
        found = _INFO_ENTRIES.match(line.strip())
        if found:
            entries = int(found.group(1))
            continue
        column = _INFO_COLUMN.match(line)
        if column and not line.lstrip().startswith(("#", "---")):
            name = column.group("name").strip()
            if name in counts:
                return None
            counts[name] = int(column.group("count"))
    if entries is None or not counts:
        return None
    return InfoCounts(entries, counts)
