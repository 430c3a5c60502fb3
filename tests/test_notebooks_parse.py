"""Validity verdicts: ours must equal nbformat's, and a broken file is a drop reason, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbqa_builder.notebooks.parse import NotebookError, load_json, validate_notebook
from nbqa_builder.notebooks.validate import ValidateStep
from nbqa_builder.records import Notebook

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def good_notebook() -> dict:
    nb = new_notebook()
    nb.cells = [new_markdown_cell("# t"), new_code_cell("x = 1\nx", execution_count=1,
                                                        outputs=[new_output("execute_result", {"text/plain": "1"}, execution_count=1)])]
    return json.loads(nbformat.writes(nb))


def variants() -> dict[str, bytes]:
    good = good_notebook()
    text = json.dumps(good)
    cases = {
        "good": text.encode(),
        "truncated": text[: len(text) // 2].encode(),
        "non_utf8": text.replace("x = 1", "caf\u00e9 = 1").encode("latin-1"),
        "top_level_list": b"[1, 2]",
        "empty_file": b"",
        "nan_in_metadata": text.replace('"metadata": {}', '"metadata": {"score": NaN}', 1).encode(),
    }
    def mutate(name, fn):
        data = json.loads(text)
        fn(data)
        cases[name] = json.dumps(data).encode()
    mutate("cells_not_list", lambda d: d.__setitem__("cells", {"a": 1}))
    mutate("cell_not_dict", lambda d: d["cells"].append("print(1)"))
    mutate("execution_count_str", lambda d: d["cells"][1].__setitem__("execution_count", "1"))
    mutate("unknown_cell_type", lambda d: d["cells"][0].__setitem__("cell_type", "weird"))
    mutate("missing_cells", lambda d: d.pop("cells"))
    mutate("missing_metadata", lambda d: d.pop("metadata"))
    mutate("extra_top_key", lambda d: d.__setitem__("surprise", 1))
    mutate("source_number", lambda d: d["cells"][1].__setitem__("source", 5))
    mutate("missing_ids_45", lambda d: [c.pop("id") for c in d["cells"]])
    mutate("duplicate_ids_45", lambda d: d["cells"][1].__setitem__("id", d["cells"][0]["id"]))
    mutate("minor_4", lambda d: (d.__setitem__("nbformat_minor", 4), [c.pop("id") for c in d["cells"]]))
    mutate("future_minor", lambda d: d.__setitem__("nbformat_minor", 99))
    mutate("version_5", lambda d: d.__setitem__("nbformat", 5))
    mutate("version_str", lambda d: d.__setitem__("nbformat", "4"))
    mutate("output_bad_type", lambda d: d["cells"][1]["outputs"].append({"output_type": "nonsense"}))
    mutate("stream_no_name", lambda d: d["cells"][1]["outputs"].append({"output_type": "stream", "text": "x"}))
    v3 = nbformat.convert(nbformat.reads(text, as_version=4), 3)
    cases["nbformat3"] = nbformat.writes(v3, version=3).encode()
    v3_bad = json.loads(cases["nbformat3"])
    v3_bad["worksheets"] = "nope"
    cases["nbformat3_broken"] = json.dumps(v3_bad).encode()
    return cases


def nbformat_verdict(raw: bytes) -> bool:
    """What nbformat itself says: read (converting to v4) and validate."""
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
        return True
    except Exception:  # noqa: BLE001 - any failure is a "not valid"
        return False


def our_verdict(raw: bytes) -> bool:
    try:
        validate_notebook(load_json(raw))
        return True
    except NotebookError:
        return False


@pytest.mark.parametrize("name", sorted(variants()))
def test_verdict_equals_nbformat(name):
    raw = variants()[name]
    assert our_verdict(raw) == nbformat_verdict(raw), name


def test_verdicts_equal_nbformat_on_examples_and_corpus():
    paths = sorted((ROOT / "examples").rglob("*.ipynb"))
    if CORPUS.is_dir():
        paths += sorted(CORPUS.rglob("*.ipynb"))
    assert paths
    for path in paths:
        raw = path.read_bytes()
        assert our_verdict(raw) == nbformat_verdict(raw), path


@pytest.mark.parametrize(
    "name, reason",
    [("truncated", "invalid_json"), ("non_utf8", "invalid_encoding"), ("top_level_list", "invalid_notebook"),
     ("cells_not_list", "invalid_notebook"), ("execution_count_str", "invalid_notebook"), ("empty_file", "empty")],
)
def test_validate_step_drops_with_reason(name, reason):
    notebook = Notebook(notebook_id="x", repo="r", path=f"{name}.ipynb", raw=variants()[name])
    ValidateStep()([notebook])
    assert notebook.drop_reason == reason
    assert notebook.dropped_by == "validate"
    assert notebook.checks["validate"]["error"]


def test_huge_output_is_dropped_as_too_large_without_parsing():
    nb = good_notebook()
    nb["cells"][1]["outputs"].append({"output_type": "stream", "name": "stdout", "text": "x" * 50_000_000})
    notebook = Notebook(notebook_id="x", repo="r", path="big.ipynb", raw=json.dumps(nb).encode())
    ValidateStep()([notebook])
    assert notebook.drop_reason == "too_large"
    assert notebook.raw is None  # the 50 MB are released


def test_nbformat3_is_converted_and_kept():
    notebook = Notebook(notebook_id="x", repo="r", path="old.ipynb", raw=variants()["nbformat3"])
    ValidateStep()([notebook])
    assert notebook.kept
    assert [c.cell_type for c in notebook.cells] == ["markdown", "code"]
    assert notebook.cells[1].source == "x = 1\nx"


def test_non_python_kernel_is_dropped():
    nb = good_notebook()
    nb["metadata"]["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    notebook = Notebook(notebook_id="x", repo="r", path="r.ipynb", raw=json.dumps(nb).encode())
    ValidateStep()([notebook])
    assert notebook.drop_reason == "not_python"
