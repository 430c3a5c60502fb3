"""Is an answer value in the outputs? One rule for extraction and for verification.

At extraction (`extract` step, LLM backend) an answer must be readable from the *stored* outputs
of its solution cells, or the task is dropped as `ungrounded_answer`; at verification (`verify`
step) it must come out again from the *re-run* outputs. Both use `answer_comes_out`, so a label
that passes one check is judged the same way by the other.
"""

from __future__ import annotations

import re
from typing import Any

from nbqa_builder.answers import LENIENT, values_match

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_DECIMAL = re.compile(r"^-?\d+\.(\d+)$")


def value_matches(expected: str, got_text: str) -> bool:
    """The lenient comparison of answers.py (JUPITER's reward checker, plus numpy reprs), or a
    value that rounds to the label: a label rounded to 2 places as the format asks (`1.98`) is
    what `1.9764...` gives, although the two differ by more than 0.1 %."""
    if values_match(got_text, expected, mode=LENIENT):
        return True
    decimals = _DECIMAL.match(expected.strip())
    if not decimals:
        return False
    try:
        got = float(got_text)
    except ValueError:
        return False
    return abs(got - float(expected)) <= 0.5 * 10 ** -len(decimals.group(1)) + 1e-12


def output_candidates(outputs: list[dict[str, Any]]) -> list[str]:
    """The values an answer may be read from: each output's whole text, each of its lines, each
    comma- or space-separated word of a line, and each number in it (stdout and text/plain only)."""
    candidates: list[str] = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            text = output.get("text", "")
        elif output.get("output_type") in ("execute_result", "display_data"):
            text = (output.get("data") or {}).get("text/plain", "")
        else:
            continue
        text = "".join(text) if isinstance(text, list) else text
        candidates.append(text)
        for line in text.splitlines():
            candidates.append(line)
            candidates += [word for word in re.split(r"[\s,;:=()\[\]'\"]+", line) if word]
            candidates += _NUMBER.findall(line)
    return candidates


def answer_comes_out(value: str, outputs: list[dict[str, Any]]) -> bool:
    """Whether `value` can be read from `outputs` (see `value_matches`, `output_candidates`)."""
    return any(value_matches(value, candidate) for candidate in output_candidates(outputs))


def has_image(outputs: list[dict[str, Any]]) -> bool:
    """Whether a cell showed a chart (an image output): the answer of a visualisation task."""
    return any(key.startswith("image/") for output in outputs for key in (output.get("data") or {}))
