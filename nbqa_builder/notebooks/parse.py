"""Notebook bytes -> JSON -> validity verdict -> cells.

The verdict is nbformat's own: the same schema files, the same handling of missing and duplicate
cell ids, the same conversion of older formats. It is computed faster than `nbformat.reads` +
`nbformat.validate`: orjson instead of the json module, and the schema compiled once with
fastjsonschema (an nbformat validator backend). Notebooks older than v4 take nbformat's own slow
path, since they need converting. `tests/test_notebooks_parse.py` checks the verdicts agree.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

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


def _fast_validator(major: int, minor: int):
    """A validator for v`major`.`minor`: the dispatching one where the schema has its usual shape,
    else nbformat's own fastjsonschema validator."""
    key = (major, minor)
    if key not in _VALIDATORS:
        import nbformat.v4
        from nbformat.validator import _get_schema_json, get_validator

        validator = None
        if minor <= nbformat.v4.nbformat_minor:  # future minors get nbformat's relaxed schema
            try:
                validator = DispatchValidator(_get_schema_json(nbformat.v4, version=major, version_minor=minor))
            except (KeyError, TypeError, ValueError, AttributeError):
                validator = None
        _VALIDATORS[key] = validator or get_validator(major, minor, name="fastjsonschema")
    return _VALIDATORS[key]


def _any_of_where_disjoint(node: Any) -> Any:
    """`oneOf` alternatives of pairwise different JSON types -> `anyOf`, lists tried first.

    Values of different types can match at most one alternative, so "exactly one" is "at least
    one"; anyOf stops at the first match, and trying "array" first suits `source` and `text`
    fields, which notebooks mostly store as lists of lines.
    """
    if isinstance(node, list):
        return [_any_of_where_disjoint(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _any_of_where_disjoint(value) for key, value in node.items()}
    options = node.get("oneOf")
    if options and all(isinstance(o, dict) and isinstance(o.get("type"), str) for o in options):
        types = [o["type"] for o in options]
        if len(set(types)) == len(types) and not {"integer", "number"} <= set(types):
            node["anyOf"] = sorted(node.pop("oneOf"), key=lambda o: o["type"] != "array")
    return node


class DispatchValidator:
    """nbformat's v4 schema, checked cell by cell against the one definition its type names.

    The schema says a cell is `oneOf` raw/markdown/code, each requiring its own `cell_type`; an
    output is `oneOf` the four output types, each requiring its own `output_type`. At most one
    alternative can match, so "exactly one matches" is "the one its type names matches". Checking
    that one alone gives the same verdict as the schema, without trying (and failing, with an
    exception each) the other alternatives for every cell and output: about 3x faster.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        import copy

        import fastjsonschema

        schema = _any_of_where_disjoint(copy.deepcopy(schema))
        definitions = schema["definitions"]
        cell_types = self._alternatives(definitions, "cell", "cell_type")
        output_types = self._alternatives(definitions, "output", "output_type")
        assert schema["properties"]["cells"]["items"] == {"$ref": "#/definitions/cell"}
        assert definitions["code_cell"]["properties"]["outputs"]["items"] == {"$ref": "#/definitions/output"}

        top = copy.deepcopy(schema)
        top["properties"]["cells"]["items"] = {"type": "object"}
        relaxed = copy.deepcopy(definitions)
        relaxed["code_cell"]["properties"]["outputs"]["items"] = {"type": "object"}
        self.top = fastjsonschema.compile(top)
        self.cells = {kind: fastjsonschema.compile({"definitions": relaxed, "$ref": f"#/definitions/{name}"})
                      for kind, name in cell_types.items()}
        self.outputs = {kind: fastjsonschema.compile({"definitions": definitions, "$ref": f"#/definitions/{name}"})
                        for kind, name in output_types.items()}

    @staticmethod
    def _alternatives(definitions: dict[str, Any], name: str, tag: str) -> dict[str, str]:
        """{type value: definition name} of a `oneOf` whose alternatives each pin `tag`."""
        definition = definitions[name]
        if set(definition) != {"type", "oneOf"} or definition["type"] != "object":
            raise ValueError(f"unexpected shape of definitions.{name}")
        alternatives = {}
        for option in definition["oneOf"]:
            target = option["$ref"].rsplit("/", 1)[1]
            enum = definitions[target]["properties"][tag]["enum"]
            if len(enum) != 1 or tag not in definitions[target]["required"]:
                raise ValueError(f"definitions.{target} does not pin {tag}")
            alternatives[enum[0]] = target
        return alternatives

    def validate(self, data: Any) -> None:
        self.top(data)
        for index, cell in enumerate(data["cells"]):
            check = self.cells.get(cell.get("cell_type")) if isinstance(cell.get("cell_type"), str) else None
            if check is None:
                raise ValueError(f"cells[{index}] has no known cell_type")
            check(cell)
            if cell["cell_type"] == "code":
                for position, output in enumerate(cell["outputs"]):
                    kind = output.get("output_type")
                    check = self.outputs.get(kind) if isinstance(kind, str) else None
                    if check is None:
                        raise ValueError(f"cells[{index}].outputs[{position}] has no known output_type")
                    check(output)


def validate_notebook(data: dict[str, Any]) -> dict[str, Any]:
    """Raise NotebookError unless nbformat would accept `data`; return it as a v4 dict.

    Mutates `data` as nbformat's validate does (missing cell ids added on v4.5+).
    """
    major, minor = data.get("nbformat", 1), data.get("nbformat_minor", 0)
    if not isinstance(major, int) or not isinstance(minor, int) or isinstance(major, bool):
        raise NotebookError(INVALID_NOTEBOOK, f"nbformat version {major!r}.{minor!r} is not a number")
    if major != 4:
        return _validate_with_nbformat(data)
    cells = data.get("cells")
    if (major, minor) >= (4, 5) and isinstance(cells, list):
        # nbformat.validate repairs missing and duplicate ids before checking the schema
        seen: set[Any] = set()
        for index, cell in enumerate(cells):
            if isinstance(cell, dict):
                if "id" not in cell or cell["id"] in seen:
                    cell["id"] = f"nbqa-{index}"
                seen.add(cell["id"])
    try:
        validator = _fast_validator(major, minor)
    except Exception as exc:  # noqa: BLE001 - nbformat raises various errors for unknown versions
        raise NotebookError(INVALID_NOTEBOOK, f"no schema for v{major}.{minor}: {exc}") from None
    if validator is None:
        raise NotebookError(INVALID_NOTEBOOK, f"no schema for validating v{major}.{minor} notebooks")
    try:
        validator.validate(data)
    except Exception as exc:  # jsonschema.ValidationError, or a type error deep in a bad document
        raise NotebookError(INVALID_NOTEBOOK, _first_line(exc)) from None
    return data


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
    cells = []
    for cell in data.get("cells", []):
        cells.append(
            Cell(
                cell_type=cell["cell_type"],
                source=join_source(cell.get("source")),
                execution_count=cell.get("execution_count"),
                outputs=cell.get("outputs", []) if cell["cell_type"] == "code" else [],
            )
        )
    return cells


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
