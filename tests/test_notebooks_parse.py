"""Validity verdicts: ours must equal nbformat's, and a broken file is a drop reason, never a crash."""

from __future__ import annotations

import copy
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
    # v4.4 with the ids of v4.5 (written by tools that add ids but keep the minor): Jupyter opens it
    mutate("minor_4_with_ids", lambda d: d.__setitem__("nbformat_minor", 4))
    mutate("minor_4_with_bad_ids", lambda d: (d.__setitem__("nbformat_minor", 4), d["cells"][0].__setitem__("id", "a b"),
                                              d["cells"][1].__setitem__("id", "a b")))
    mutate("minor_4_with_ids_and_an_error", lambda d: (d.__setitem__("nbformat_minor", 4),
                                                       d["cells"][1].__setitem__("execution_count", "1")))
    mutate("minor_0_with_attachments", lambda d: (d.__setitem__("nbformat_minor", 0), [c.pop("id") for c in d["cells"]],
                                                  d["cells"][0].__setitem__("attachments", {})))
    mutate("bad_id_45", lambda d: d["cells"][0].__setitem__("id", "a b"))
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
    """What nbformat itself says: read (converting to v4) and validate, as read or as its upgrade
    to the current v4 minor makes it (what Jupyter opens and saves)."""
    try:
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 - any failure is a "not valid"
        return False
    try:
        nbformat.validate(copy.deepcopy(notebook))
        return True
    except Exception:  # noqa: BLE001
        pass
    try:
        if notebook.nbformat != 4 or notebook.nbformat_minor >= nbformat.v4.nbformat_minor:
            return False
        nbformat.validate(nbformat.v4.upgrade(notebook))
        return True
    except Exception:  # noqa: BLE001
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


def test_what_nbformat_repairs_on_reading_is_kept_and_recorded():
    # a v4.4 notebook whose cells carry ids, as tools write them: dropped as invalid_notebook before
    upgraded = Notebook(notebook_id="x", repo="r", path="ids.ipynb", raw=variants()["minor_4_with_ids"])
    ValidateStep()([upgraded])
    assert upgraded.kept and [c.source for c in upgraded.cells] == ["# t", "x = 1\nx"]
    assert upgraded.checks["validate"] == {
        "nbformat": "4.4", "repaired": ["upgraded from v4.4 to v4.5 (its cells carry ids, which v4.4 does not define)"]}
    assert upgraded.checks["metrics"] == {"validate": {"repaired_notebooks": 1}}
    # v4.5 cells without ids get theirs, as nbformat's validate gives them
    missing = Notebook(notebook_id="y", repo="r", path="no-ids.ipynb", raw=variants()["missing_ids_45"])
    ValidateStep()([missing])
    assert missing.kept and missing.checks["validate"]["repaired"] == ["2 cell ids added or made unique"]
    # what nbformat rejects after the upgrade stays a drop, with its own reason
    broken = Notebook(notebook_id="z", repo="r", path="broken.ipynb", raw=variants()["minor_4_with_ids_and_an_error"])
    ValidateStep()([broken])
    assert broken.drop_reason == "invalid_notebook" and "id" not in broken.checks["validate"]["error"]


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
