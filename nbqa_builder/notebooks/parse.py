"""Notebook bytes -> JSON -> validity verdict -> cells.

The verdict is nbformat's own: the same schema files, the same handling of missing and duplicate
cell ids, the same conversion of older formats. It is computed faster than `nbformat.reads` +
`nbformat.validate`: orjson instead of the json module, and nbformat's schema compiled once into
plain Python checks (`notebooks.schema`) that give the verdicts of fastjsonschema, nbformat's default
validator. Notebooks older than v4 take nbformat's own slow path, since they need converting.
`tests/test_notebooks_parse.py` and `tests/test_notebooks_schema.py` check the verdicts agree.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from nbqa_builder.notebooks.schema import CompiledSchema, Unsupported
from nbqa_builder.records import Cell

# Drop reasons of the validate step.
INVALID_ENCODING = "invalid_encoding"
INVALID_JSON = "invalid_json"
INVALID_NOTEBOOK = "invalid_notebook"
NOT_PYTHON = "not_python"
TOO_LARGE = "too_large"


class NotebookError(ValueError):
    """A notebook that cannot be used; `reason` is a drop reason, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def load_json(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson is stricter than the json module nbformat uses (NaN, Infinity; bad UTF-8):
        # fall back so that only what nbformat rejects is rejected.
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotebookError(INVALID_ENCODING, f"not UTF-8: {exc}") from None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise NotebookError(INVALID_JSON, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NotebookError(INVALID_NOTEBOOK, f"top level is a JSON {type(data).__name__}, not an object")
    return data


_VALIDATORS: dict[tuple[int, int], Any] = {}  # compiled schemas: built once per process, never change


def _fast_validator(major: int, minor: int) -> Any:
    """The schema nbformat checks v`major`.`minor` notebooks against (relaxed for minors newer than
    nbformat knows), compiled by `notebooks.schema`; nbformat's own fastjsonschema validator where
    the schema uses something that module does not implement. None: no schema for that version."""
    key = (major, minor)
    if key not in _VALIDATORS:
        from nbformat.validator import get_validator

        validator = get_validator(major, minor, name="fastjsonschema")
        schema = getattr(validator, "_schema", None)
        if isinstance(schema, dict):
            try:
                validator = CompiledSchema(schema)
            except Unsupported:
                pass
        _VALIDATORS[key] = validator
    return _VALIDATORS[key]


def validate_notebook(data: dict[str, Any], repairs: list[str] | None = None) -> dict[str, Any]:
    """Raise NotebookError unless nbformat would accept `data`, as read and normalised; return it
    as a v4 dict. What was repaired to make it valid is appended to `repairs`, as nbformat does it:

    - on v4.5+, missing and duplicate cell ids are given new ones (mutating `data`, as
      nbformat's validate does);
    - a v4.0 to v4.4 notebook that its own minor's schema rejects is checked as nbformat's
      upgrade to v4.5 makes it (what Jupyter opens and saves): a v4.4 notebook whose cells carry
      ids, which v4.4 does not define, is valid so. The upgraded copy is returned.
    """
    major, minor = data.get("nbformat", 1), data.get("nbformat_minor", 0)
    if not isinstance(major, int) or not isinstance(minor, int) or isinstance(major, bool):
        raise NotebookError(INVALID_NOTEBOOK, f"nbformat version {major!r}.{minor!r} is not a number")
    if major != 4:
        return _validate_with_nbformat(data)
    cells = data.get("cells")
    if minor >= CELL_IDS_MINOR and isinstance(cells, list):
        given = _give_cell_ids(cells, replace_invalid=False)
        if given and repairs is not None:
            repairs.append(f"{given} cell ids added or made unique")
    error = _schema_error(data, major, minor)
    if error is not None and minor < CELL_IDS_MINOR and isinstance(cells, list):
        upgraded = {**data, "nbformat_minor": CELL_IDS_MINOR,
                    "cells": [dict(cell) if isinstance(cell, dict) else cell for cell in cells]}
        _give_cell_ids(upgraded["cells"], replace_invalid=True)
        upgraded_error = _schema_error(upgraded, major, CELL_IDS_MINOR)
        carries_ids = any(isinstance(cell, dict) and "id" in cell for cell in cells)
        if upgraded_error is None:
            if repairs is not None:
                repairs.append(f"upgraded from v4.{minor} to v4.{CELL_IDS_MINOR}"
                               + (f" (its cells carry ids, which v4.{minor} does not define)" if carries_ids else ""))
            return upgraded
        if carries_ids:  # a v4.5 notebook in all but its minor: what is wrong besides its ids
            raise NotebookError(INVALID_NOTEBOOK, f"as v4.{CELL_IDS_MINOR}: {_first_line(upgraded_error)}")
    if error is not None:
        raise NotebookError(INVALID_NOTEBOOK, _first_line(error))
    return data


CELL_IDS_MINOR = 5  # the v4 minor that defines cell ids
_CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # nbformat 4.5's schema of a cell id


def _give_cell_ids(cells: list[Any], replace_invalid: bool) -> int:
    """Give each cell without an id, or with one an earlier cell has (or, with `replace_invalid`,
    one that v4.5 does not allow), a new one; return how many."""
    seen: set[Any] = set()
    given = 0
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        cell_id = cell.get("id")
        invalid = replace_invalid and not (isinstance(cell_id, str) and _CELL_ID.fullmatch(cell_id))
        if "id" not in cell or invalid or cell_id in seen:
            cell["id"] = f"nbqa-{index}"
            given += 1
        seen.add(cell["id"])
    return given


def _schema_error(data: dict[str, Any], major: int, minor: int) -> BaseException | None:
    """What the schema of v`major`.`minor` says of `data`: None when it is valid."""
    try:
        validator = _fast_validator(major, minor)
    except Exception as exc:  # noqa: BLE001 - nbformat raises various errors for unknown versions
        return ValueError(f"no schema for v{major}.{minor}: {exc}")
    if validator is None:
        return ValueError(f"no schema for validating v{major}.{minor} notebooks")
    try:
        validator.validate(data)
    except Exception as exc:  # noqa: BLE001 - jsonschema.ValidationError, or a type error deep in a bad document
        return exc
    return None


def _validate_with_nbformat(data: dict[str, Any]) -> dict[str, Any]:
    import nbformat

    try:
        notebook = nbformat.reads(json.dumps(data), as_version=4, capture_validation_error={})
        nbformat.validate(notebook)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types for broken old notebooks
        raise NotebookError(INVALID_NOTEBOOK, _first_line(exc)) from None
    return json.loads(json.dumps(notebook))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def join_source(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else (source or "")


def kernel_language(data: dict[str, Any]) -> str | None:
    metadata = data.get("metadata") or {}
    kernelspec = metadata.get("kernelspec") or {}
    language = kernelspec.get("language") or (metadata.get("language_info") or {}).get("name")
    if not language and str(kernelspec.get("name", "")).startswith("python"):
        language = "python"
    return str(language).lower() if language else None


def to_cells(data: dict[str, Any]) -> list[Cell]:
    # positional arguments: this runs for every cell of every notebook
    cells = []
    for cell in data.get("cells", []):
        kind = cell["cell_type"]
        cells.append(Cell(kind, join_source(cell.get("source")), cell.get("execution_count"),
                          cell.get("outputs", []) if kind == "code" else []))
    return cells


# The one marker of a cut output, in task rows wherever they were cut (extraction, the writer).
TRUNCATION_MARKER = "\n...[truncated {n} characters]"


def truncate_text(text: str, limit: int) -> str:
    """`text` up to `limit` characters, and the marker saying how many were cut. The cut never
    leaves the head of a credential behind (redact.secrets.cut_text)."""
    if len(text) <= limit:
        return text
    from nbqa_builder.redact.secrets import cut_text

    return cut_text(text, limit) + TRUNCATION_MARKER.format(n=len(text) - limit)


def output_text(output: dict[str, Any]) -> str | None:
    """The plain text an output shows: stream text, or text/plain of a result; None otherwise."""
    kind = output.get("output_type")
    if kind == "stream":
        return join_source(output.get("text"))
    if kind in ("execute_result", "display_data"):
        data = output.get("data") or {}
        if "text/plain" in data:
            return join_source(data["text/plain"])
    return None


def outputs_as_text(outputs: list[dict[str, Any]]) -> str:
    """A cell's outputs as one text, as a reader sees them: streams and results, errors as
    `Name: message`, images as `<image>`, one per line."""
    parts = []
    for output in outputs:
        text = output_text(output)
        if text is not None:
            parts.append(text)
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
        elif any(k.startswith("image/") for k in (output.get("data") or {})):
            parts.append("<image>")
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts).rstrip("\n")


def error_text(error: dict[str, Any]) -> str:
    """`KeyError '2014'`: an error output's name and message, the message cut to one short line."""
    message = str(error.get("evalue") or "").strip().splitlines()
    return f"{error.get('ename') or 'Error'} {message[0][:120] if message else ''}".strip()
