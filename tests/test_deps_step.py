"""DepsStep: refs and a summary on every notebook, never a drop."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError

from nbqa_builder.deps.step import DepsStep
from nbqa_builder.records import Cell, Notebook


def notebook(repo_dir: Path | str, *sources: str, path: str = "analysis.ipynb") -> Notebook:
    return Notebook(
        notebook_id=path,
        repo="owner/name",
        path=path,
        repo_dir=str(repo_dir),
        cells=[Cell("code", source) for source in sources],
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales.csv").write_text("region,amount\nnorth,3\nsouth,4\n")
    return tmp_path


def test_summary_counts_each_status_and_completeness(repo: Path) -> None:
    complete = notebook(repo, "import pandas as pd", 'df = pd.read_csv("data/sales.csv")')
    partial = notebook(
        repo,
        'df = pd.read_csv("data/sales.csv")',
        'more = pd.read_csv("data/gone.csv")',
        'web = pd.read_csv("https://example.org/x.csv")',
        "for f in files:\n    pd.read_csv(f)",
    )
    no_reads = notebook(repo, "x = 1 + 1")
    DepsStep()([complete, partial, no_reads])
    assert complete.checks["deps"] == {
        "found": 1, "missing": 0, "url": 0, "dynamic": 0, "ambiguous": 0, "complete": True,
    }
    assert complete.data_refs[0].resolved == "data/sales.csv" and complete.data_refs[0].rows == 3
    assert partial.checks["deps"] == {
        "found": 1, "missing": 1, "url": 1, "dynamic": 1, "ambiguous": 0, "complete": False,
    }
    assert no_reads.checks["deps"]["complete"] is False  # nothing read: nothing to rebuild a task on
    assert all(nb.kept for nb in (complete, partial, no_reads))


def test_without_a_repository_local_refs_stay_missing() -> None:
    nb = notebook("", 'df = pd.read_csv("data/sales.csv")')
    DepsStep()([nb])
    assert nb.checks["deps"]["missing"] == 1 and nb.kept


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="max_hash_byte"):
        DepsStep.Config(max_hash_byte=10)


def test_repo_index_is_reused_and_least_recent_evicted(tmp_path: Path) -> None:
    step = DepsStep(DepsStep.Config(repo_cache_size=2))
    repos = [tmp_path / name for name in "abc"]
    for repo in repos:
        repo.mkdir()
    first = step.repo_files(str(repos[0]))
    assert step.repo_files(str(repos[0])) is first
    step.repo_files(str(repos[1]))
    step.repo_files(str(repos[0]))  # a is now the most recent
    step.repo_files(str(repos[2]))  # evicts b
    assert step.repo_files(str(repos[0])) is first
    assert list(step._repo_files) == [str(repos[2]), str(repos[0])]


def test_step_pickles_without_its_indexes(repo: Path) -> None:
    step = DepsStep()
    step([notebook(repo, 'pd.read_csv("data/sales.csv")')])
    clone = pickle.loads(pickle.dumps(step))
    assert clone.config == step.config and len(clone._repo_files) == 0
    nb = notebook(repo, 'pd.read_csv("data/sales.csv")')
    clone([nb])
    assert nb.checks["deps"]["complete"] is True
