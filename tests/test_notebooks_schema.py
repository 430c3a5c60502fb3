"""The compiled schema checks must give nbformat's verdicts, on real notebooks and on broken ones.

nbformat's verdict is that of its default validator, fastjsonschema, on the schema of the
notebook's minor version. Each notebook is mutated at every place (a value deleted, replaced by
values of every JSON type, an unknown key added), and both validators judge every mutation.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any, Iterator

import fastjsonschema
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from nbformat.validator import get_validator

from nbqa_builder.notebooks.parse import _fast_validator, validate_notebook
from nbqa_builder.notebooks.schema import CompiledSchema, SchemaError, Unsupported

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
MINORS = range(0, nbformat.v4.nbformat_minor + 1)

# values of every JSON type, and the edge cases of the schema's keywords: integral floats
# (not integers in draft 4), booleans (not numbers), negative counts, a newline before the end
# (patterns end with `$`), commas (tags), repeated items (tags are unique)
REPLACEMENTS: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 2.5, "", "x", "abc\n", "a,b", "auto", "stdout", "code",
    [], ["a"], ["a", "a"], ["a", 1], [1, True], [None], {}, {"x": 1}, {"text/plain": "1"},
]


def nbformat_verdict(validator: Any, data: Any) -> bool:
    try:
        validator.validate(data)
    except Exception:  # noqa: BLE001 - any failure is "not valid"
        return False
    return True


def compiled_verdict(compiled: CompiledSchema, data: Any) -> bool:
    try:
        compiled.validate(data)
    except SchemaError:
        return False
    return True


def sample_notebook(minor: int) -> dict[str, Any]:
    """Every kind of cell and output, with the metadata the schema knows about."""
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python", "codemirror_mode": {"name": "ipython", "version": 3}},
                   "title": "t", "authors": [{"name": "a"}]}
    code = new_code_cell("import pandas as pd\nx = 1\nx", execution_count=1, outputs=[
        new_output("execute_result", {"text/plain": ["1"], "application/json": {"a": [1]}}, execution_count=1),
        new_output("display_data", {"image/png": "iVBOR", "text/html": ["<b>", "x</b>"]},
                   metadata={"image/png": {"width": 3}}),
        new_output("stream", name="stdout", text=["a\n", "b"]),
        new_output("error", ename="E", evalue="v", traceback=["t1", "t2"]),
    ])
    code.metadata = {"collapsed": False, "scrolled": "auto", "tags": ["a", "b"], "name": "n",
                     "jupyter": {"source_hidden": True}, "execution": {"iopub.status.busy": "2020"}}
    markdown = new_markdown_cell("# title")
    markdown.attachments = {"x.png": {"image/png": "iVBOR"}}
    nb.cells = [markdown, code, new_raw_cell("raw", metadata={"format": "text/plain"})]
    data = json.loads(nbformat.writes(nb))
    data["nbformat_minor"] = minor
    if minor < 5:
        for cell in data["cells"]:
            cell.pop("id", None)
    return data


def places(data: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from places(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data[:3]):  # the first items stand for the rest
            yield from places(value, path + (index,))


def mutations(data: dict[str, Any], seed: int, limit: int) -> Iterator[tuple[str, Any]]:
    """(description, mutated copy) for deletions, replacements and unknown keys at every place."""
    found = list(places(data))
    random.Random(seed).shuffle(found)
    count = 0
    for path in found:
        parent_path, key = path[:-1], path[-1] if path else None
        variants: list[tuple[str, Any]] = []
        if path:
            variants.append(("delete", None))
            variants += [("replace", value) for value in REPLACEMENTS]
        variants.append(("add key", None))
        for kind, value in variants:
            mutated = copy.deepcopy(data)
            target = mutated
            for part in parent_path:
                target = target[part]
            if kind == "delete":
                del target[key]
            elif kind == "replace":
                target[key] = copy.deepcopy(value)
            else:
                node = target[key] if path else mutated
                if not isinstance(node, dict):
                    continue
                node["surprise"] = 1
            yield f"{kind} {'/'.join(map(str, path))} {value!r}", mutated
            count += 1
            if count >= limit:
                return


@pytest.mark.parametrize("minor", MINORS)
def test_mutated_notebooks_get_nbformats_verdicts(minor):
    validator = get_validator(4, minor, name="fastjsonschema")
    compiled = CompiledSchema(validator._schema)
    original = sample_notebook(minor)
    assert compiled_verdict(compiled, original) and nbformat_verdict(validator, original)
    verdicts = {True: 0, False: 0}
    for description, mutated in mutations(original, seed=minor, limit=100_000):
        expected = nbformat_verdict(validator, mutated)
        assert compiled_verdict(compiled, mutated) == expected, description
        verdicts[expected] += 1
    # the mutations reach both verdicts many times: the comparison is not one-sided
    assert verdicts[True] > 100 and verdicts[False] > 300


def real_notebooks() -> list[Path]:
    paths = sorted((ROOT / "examples").rglob("*.ipynb"))
    if CORPUS.is_dir():
        paths += sorted(CORPUS.rglob("*.ipynb"))[::7]
    return paths


def test_real_notebooks_and_their_mutations_get_nbformats_verdicts():
    checked = 0
    for index, path in enumerate(real_notebooks()):
        try:
            data = json.loads(path.read_bytes())
        except ValueError:
            continue  # not JSON: not a schema question
        if not isinstance(data, dict) or data.get("nbformat") != 4 or data.get("nbformat_minor") not in MINORS:
            continue
        validator = get_validator(4, data["nbformat_minor"], name="fastjsonschema")
        compiled = _fast_validator(4, data["nbformat_minor"])
        assert isinstance(compiled, CompiledSchema)
        assert compiled_verdict(compiled, data) == nbformat_verdict(validator, data), path
        for description, mutated in mutations(data, seed=index, limit=150):
            assert compiled_verdict(compiled, mutated) == nbformat_verdict(validator, mutated), (path, description)
            checked += 1
    assert checked > 500


def test_error_names_the_place_and_the_reason():
    data = sample_notebook(5)
    data["cells"][1]["outputs"][2]["text"] = ["a\n", 7]
    with pytest.raises(SchemaError) as caught:
        _fast_validator(4, 5).validate(data)
    assert str(caught.value) == "cells[1].outputs[2].text[1]: must be string, not integer"
    data = sample_notebook(5)
    data["cells"][1]["cell_type"] = "weird"
    with pytest.raises(SchemaError, match=r"^cells\[1\]: cell_type must be one of \['code', 'markdown', 'raw'\]"):
        _fast_validator(4, 5).validate(data)


def test_validate_notebook_reports_the_compiled_checks_message():
    data = sample_notebook(5)
    del data["cells"][1]["outputs"][2]["name"]
    with pytest.raises(ValueError, match=r"cells\[1\]\.outputs\[2\]: misses required properties \['name'\]"):
        validate_notebook(data)


# -- the compiler on schemas beyond nbformat's: the keywords nbformat's schema does not stress ----

SCHEMAS: list[dict[str, Any]] = [
    {"oneOf": [{"type": "integer"}, {"minimum": 2}]},  # overlapping: 3 matches both, so fails
    {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "string", "pattern": "^a"}]},
    {"not": {"type": "string"}},
    {"anyOf": [{"not": {"description": "accepts all, so its `not` accepts nothing"}}, {"type": "string"}]},
    {"allOf": [{"minimum": 0}, {"maximum": 3}]},
    {"type": ["integer", "null"], "minimum": 1},
    {"type": "number", "maximum": 2.5},
    {"enum": [1, True, None, "a", [1], {"k": 1}]},
    {"type": "array", "uniqueItems": True},
    {"type": "array", "items": {"type": "object", "required": ["a"], "additionalProperties": False,
                                "properties": {"a": {"type": "boolean"}}}},
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}, "y$": {"minimum": 5}},
     "additionalProperties": {"type": "string"}, "properties": {"xy": {"maximum": 7}}},
    {"type": "object", "patternProperties": {"^x": {}}, "additionalProperties": False},
    {"type": "object", "properties": {"t": {"enum": ["p"]}, "v": {"type": "string"}}, "required": ["t"],
     "oneOf": [{"properties": {"v": {"pattern": "^a$"}}}, {"required": ["v"]}]},
    {"definitions": {"s": {"type": "string", "minLength": 1}},
     "oneOf": [{"$ref": "#/definitions/s"}, {"type": "array", "items": {"$ref": "#/definitions/s"}}]},
    {"type": "string", "pattern": "^[a-z]{1,3}$"},
]
VALUES: list[Any] = REPLACEMENTS + [
    3, 2, 7, 8, 2.6, "ab", "abc", "abcd", "b", "ba", [1, 1.0], [1, True], [{"k": 1}, {"k": 1}], [[1], [True]],
    [{"a": True}], [{"a": 1}], [{"a": True, "b": 1}], [{}], {"x1": 1, "xy": 8}, {"x1": "s"}, {"zy": 4},
    {"zy": 6}, {"other": "s"}, {"other": 1}, {"xy": 6}, {"t": "p"}, {"t": "p", "v": "a"}, {"t": "p", "v": "b"},
    {"t": "q"}, {"v": "a"}, ["s", ""], ["s"], [1], {"k": 1}, {"k": True},
]


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_compiler_agrees_with_fastjsonschema_on_more_keywords(index):
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", **SCHEMAS[index]}
    reference = fastjsonschema.compile(schema)
    compiled = CompiledSchema(schema)
    outcomes = set()
    for value in VALUES:
        try:
            reference(copy.deepcopy(value))
            expected = True
        except fastjsonschema.JsonSchemaException:
            expected = False
        assert compiled_verdict(compiled, value) == expected, (schema, value)
        outcomes.add(expected)
    assert outcomes == {True, False}


@pytest.mark.parametrize("schema", [
    {"type": "array", "minItems": 1},
    {"type": "string", "format": "date-time"},
    {"items": [{"type": "string"}]},
    {"$ref": "http://example.com/schema.json"},
    {"definitions": {"a": {"items": {"$ref": "#/definitions/a"}}}, "$ref": "#/definitions/a"},
])
def test_what_the_compiler_does_not_implement_is_refused(schema):
    with pytest.raises(Unsupported):
        CompiledSchema(schema)


def test_a_schema_the_compiler_refuses_is_checked_by_nbformats_own_validator(monkeypatch):
    import nbqa_builder.notebooks.parse as parse

    def refuse(schema):
        raise Unsupported("say a future nbformat schema uses minItems")

    monkeypatch.setattr(parse, "_VALIDATORS", {})
    monkeypatch.setattr(parse, "CompiledSchema", refuse)
    validator = _fast_validator(4, 5)
    assert not isinstance(validator, CompiledSchema)
    good, bad = sample_notebook(5), sample_notebook(5)
    bad["cells"][1]["execution_count"] = "1"
    assert validate_notebook(good) is good
    with pytest.raises(ValueError, match=r"cells\[1\]"):  # fastjsonschema's wording
        validate_notebook(bad)
