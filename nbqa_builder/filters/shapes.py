"""How many rows a notebook's stored outputs show its tables to have: the evidence of "too
little data" for a notebook whose data files are not in its repository (read from a URL, or
missing). `df.shape`, `df.info()`, `len(df)` and a long DataFrame's `[891 rows x 12 columns]`
each show a table's length.
"""

from __future__ import annotations

import re

from nbqa_builder.notebooks.parse import output_text
from nbqa_builder.records import Notebook

_FRAME_FOOTER = re.compile(r"\[(\d[\d,]*) rows x \d+ columns\]")
_INFO_ENTRIES = re.compile(r"^(?:Range|Int64|Datetime|)Index: (\d+) entries", re.M)
_SHAPE = re.compile(r"^\((\d+), ?\d+\)$")
_LAST_LINE_SHAPE = re.compile(r"\.shape\s*(?:\[\s*0\s*\])?\s*$")
_LAST_LINE_LEN = re.compile(r"^len\(\s*([A-Za-z_]\w*)\s*\)\s*$")
# `name = pd.read_csv(...)`: a name bound to a table read from a file (a `len` of another name may
# count a list of files)
_READ_INTO = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*[\w.]*read_\w+\(", re.M)


def shown_rows(notebook: Notebook) -> int | None:
    """The largest table length the stored outputs show; None when none shows one."""
    largest: int | None = None
    tables = {name for cell in notebook.code_cells for name in _READ_INTO.findall(cell.source or "")}
    for cell in notebook.code_cells:
        last_line = (cell.source or "").strip().rsplit("\n", 1)[-1].strip()
        for output in cell.outputs:
            text = output_text(output)
            if not text:
                continue
            found = [int(n.replace(",", "")) for n in _FRAME_FOOTER.findall(text)]
            found += [int(n) for n in _INFO_ENTRIES.findall(text)]
            if output.get("output_type") == "execute_result":
                shown = text.strip()
                shape = _SHAPE.match(shown)
                if shape and _LAST_LINE_SHAPE.search(last_line):
                    found.append(int(shape.group(1)))
                elif shown.isdigit():
                    length = _LAST_LINE_LEN.match(last_line)
                    if (length and length.group(1) in tables) or _LAST_LINE_SHAPE.search(last_line):
                        found.append(int(shown))
            if found:
                largest = max([largest or 0, *found])
    return largest
