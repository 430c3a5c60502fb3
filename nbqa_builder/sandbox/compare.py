"""Compare notebook outputs across runs: stored vs re-run, and run vs run.

Outputs are reduced to a canonical form that keeps what a reader of the notebook would call the
result and drops what changes without the result changing:

- ANSI colour codes, numpy 2's scalar reprs (`np.float64(1.5)` is `1.5`), memory addresses (`0x7f3d...`), timestamps, temporary paths (/tmp/...,
  /var/folders/..., the sandbox's /work) and float noise (numbers compared to 6 significant
  digits), trailing spaces.
- stderr streams (warnings differ between library versions, not between results), execution
  counts, metadata, and error tracebacks (they embed file paths and cell numbers; the error's
  name and message are kept).
- Images are compared by type and pixel size, not by bytes: PNG encoders and font rendering
  differ between matplotlib builds. HTML (pandas tables) and plain text are compared as text.
- A rich output is compared on the MIME types both sides have (older notebooks lack some).
"""

from __future__ import annotations

import base64
import re
import struct
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_TIME_REPORT = re.compile(r"^(?:CPU times|Wall time):.*$", re.MULTILINE)
_TEMP_PATH = re.compile(r"(?:/tmp|/var/folders|/private/var/folders|/work)(?:/[^\s'\"<>,)\]]*)?")
_FLOAT = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
# numpy >= 2 prints scalars as np.float64(1.5) where older notebooks show 1.5
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int|uint|complex|bool|str)_?\d*\(([^()]*)\)")
_IGNORED_MIME = ("application/vnd.jupyter.widget-view+json",)


def normalise_text(text: str | list[str]) -> str:
    if isinstance(text, list):  # nbformat allows a list of lines
        text = "".join(text)
    text = _ANSI.sub("", text)
    text = _NUMPY_SCALAR.sub(r"\1", text)
    text = _TIME_REPORT.sub("<time report>", text)
    text = _TIMESTAMP.sub("<timestamp>", text)
    text = _ADDRESS.sub("0x<address>", text)
    text = _TEMP_PATH.sub("<tmp>", text)
    text = _FLOAT.sub(lambda m: _round(m.group()), text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _round(literal: str) -> str:
    try:
        return f"{float(literal):.6g}"
    except ValueError:
        return literal


def _image_shape(data: Any) -> str:
    try:
        raw = base64.b64decode("".join(data) if isinstance(data, list) else data)
    except (ValueError, TypeError):
        return "unreadable"
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        width, height = struct.unpack(">II", raw[16:24])
        return f"{width}x{height}"
    return f"{len(raw) > 0}"


def canonical_outputs(outputs: list[dict[str, Any]]) -> list[tuple]:
    """The outputs of one cell in comparable form (a list of tuples)."""
    result: list[tuple] = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            if output.get("name") == "stderr":
                continue
            text = normalise_text(output.get("text", ""))
            if result and result[-1][0] == "stream":  # the same text may arrive in pieces
                result[-1] = ("stream", f"{result[-1][1]}\n{text}".strip())
            elif text:
                result.append(("stream", text))
        elif kind == "error":
            result.append(("error", output.get("ename", ""), normalise_text(output.get("evalue", ""))))
        elif kind in ("execute_result", "display_data"):
            data = {}
            for mime, value in (output.get("data") or {}).items():
                if mime in _IGNORED_MIME:
                    continue
                if mime.startswith("image/") and mime != "image/svg+xml":
                    data[mime] = _image_shape(value)
                else:
                    data[mime] = normalise_text(value if isinstance(value, (str, list)) else repr(value))
            if data:
                result.append(("rich", data))
    return result


def outputs_match(stored: list[dict[str, Any]], rerun: list[dict[str, Any]]) -> bool:
    """Do two output lists of one cell show the same result?"""
    left, right = canonical_outputs(stored), canonical_outputs(rerun)
    if len(left) != len(right):
        return False
    for a, b in zip(left, right):
        if a[0] != b[0]:
            return False
        if a[0] != "rich":
            if a != b:
                return False
            continue
        common = set(a[1]) & set(b[1])
        if not common or any(a[1][mime] != b[1][mime] for mime in common):
            return False
    return True
