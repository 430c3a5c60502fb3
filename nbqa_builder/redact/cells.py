"""Redaction where the text enters: every cell of a notebook, as soon as it is parsed.

The validate step calls `redact_cells` right after parsing, so no later step, no part file under
`_work/`, no reject record and no task ever holds a credential that the patterns of
redact/secrets.py know: what is published is what every step worked on, and `verify` runs it.
Each finding is counted by kind and by place (code, markdown, stdout, execute_result,
text/html...). Images are not text and are left as they are.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from nbqa_builder.records import Cell
from nbqa_builder.redact.secrets import redact_output, redact_text



def redact_cells(cells: list[Cell]) -> Counter[tuple[str, str]]:
    """Redact every source and output of `cells` in place; (kind, place) -> count. Places are
    named by cell type for sources, by stream, output type or MIME type for outputs."""
    found: Counter[tuple[str, str]] = Counter()
    for cell in cells:
        cell.source = _clean(cell.source, "code" if cell.cell_type == "code" else cell.cell_type, found, redact_text)
        if cell.outputs:
            cell.outputs = [_redact_output(output, found) for output in cell.outputs]
    return found


def _clean(value: Any, place: str, found: Counter, redact) -> Any:
    """A string (or a list of lines, joined) redacted; other values as they are."""
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        value = "".join(value)
    if not isinstance(value, str) or not value:
        return value
    redacted, kinds = redact(value)
    for kind, n in kinds.items():
        found[(kind, place)] += n
    return redacted


def _redact_output(output: dict[str, Any], found: Counter) -> dict[str, Any]:
    kind = output.get("output_type")
    if kind == "stream":
        return {**output, "text": _clean(output.get("text"), str(output.get("name") or "stream"), found, redact_output)}
    if kind == "error":
        return {**output, "ename": _clean(output.get("ename"), "error", found, redact_text),
                "evalue": _clean(output.get("evalue"), "error", found, redact_output),
                "traceback": [_clean(line, "error", found, redact_text) for line in output.get("traceback") or []
                              if isinstance(line, str)]}
    data = output.get("data")
    if isinstance(data, dict):
        cleaned = {}
        for mime, value in data.items():
            if mime.startswith("image/") and mime != "image/svg+xml":
                cleaned[mime] = value  # base64 pixels
            elif mime == "text/plain":
                cleaned[mime] = _clean(value, kind or "output", found, redact_output)
            else:
                cleaned[mime] = _walk(value, mime, found)
        output = {**output, "data": cleaned}
    return output


def _walk(value: Any, place: str, found: Counter) -> Any:
    """Strings anywhere inside a JSON-like value (application/json, widget state...)."""
    if isinstance(value, str):
        return _clean(value, place, found, redact_text)
    if isinstance(value, list):
        if all(isinstance(line, str) for line in value):
            return _clean(value, place, found, redact_text)
        return [_walk(item, place, found) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item, place, found) for key, item in value.items()}
    return value
