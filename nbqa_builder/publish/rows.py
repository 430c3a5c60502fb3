"""Keep every published row within what the Hub's dataset viewer shows.

The viewer reads rows a row group at a time and gives up on rows and row groups that are too
large; a task row is text, so the only things that make it large are long cell outputs and images
pasted into them. `fit_task_row` cuts both, with a visible marker, and says when a row cannot be
made to fit (then the task is left out with a reason, never written oversized).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from nbqa_builder.notebooks.parse import truncate_text

# The viewer's first-rows budget is about 1 MB per response; a row under 256 kB leaves room for
# several rows and the file columns. Outputs past 20,000 characters are dumps, not results.
MAX_TASK_ROW_BYTES = 256_000
MAX_OUTPUT_CHARS = 20_000
# A data file is one row of the `files` config; row groups over ~100 MB are not read by the viewer.
MAX_FILE_ROW_BYTES = 100_000_000
IMAGE_MARKER = "[image omitted]"

_INLINE_IMAGE = re.compile(r"data:image/[a-zA-Z+.-]+;base64,[A-Za-z0-9+/=\s]+")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{2000,}={0,2}")  # a pasted image without its data: prefix


def row_bytes(row: dict[str, Any]) -> int:
    """The row's size as compact JSON (orjson: serialising rows was a tenth of the writer's time)."""
    try:
        return len(orjson.dumps(row, default=str))
    except (orjson.JSONEncodeError, TypeError):  # an integer over 64 bits, a lone surrogate
        return len(json.dumps(row, ensure_ascii=False, default=str, separators=(",", ":")).encode(errors="replace"))


def fit_task_row(row: dict[str, Any], max_row_bytes: int = MAX_TASK_ROW_BYTES,
                 max_output_chars: int = MAX_OUTPUT_CHARS) -> tuple[dict[str, Any] | None, int]:
    """(the row with images removed and outputs cut to fit, number of outputs changed);
    (None, n) when even outputs cut to 1,000 characters leave the row too large (huge code)."""
    fitted, changed, _ = fit_task_row_sized(row, max_row_bytes, max_output_chars)
    return fitted, changed


def fit_task_row_sized(row: dict[str, Any], max_row_bytes: int = MAX_TASK_ROW_BYTES,
                       max_output_chars: int = MAX_OUTPUT_CHARS) -> tuple[dict[str, Any] | None, int, int]:
    """`fit_task_row`, and the fitted row's `row_bytes`, measured on the way (the shard writer
    needs it, and serialising a row costs more than the rest of fitting it)."""
    changed = 0
    limit = max_output_chars
    while True:
        for step in row.get("solution") or []:
            output = step.get("code_output")
            if not output:
                continue
            fitted = truncate_text(_BASE64_RUN.sub(IMAGE_MARKER, _INLINE_IMAGE.sub(IMAGE_MARKER, output)), limit)
            if fitted != output:
                step["code_output"] = fitted
                changed += 1
        size = row_bytes(row)
        if size <= max_row_bytes:
            return row, changed, size
        if limit <= 1_000:
            return None, changed, size
        limit = max(1_000, limit // 4)
