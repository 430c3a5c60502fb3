"""`python -m nbqa_builder exec NOTEBOOK --data-dir DIR`: one notebook, each cell's result."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbqa_builder.cli import UserError
from nbqa_builder.commands import exec as exec_command

BACKEND = "bwrap" if shutil.which("bwrap") else "process"
ROOT = Path(__file__).resolve().parents[1]


def run_exec(argv):
    parser = argparse.ArgumentParser()
    exec_command.add_arguments(parser)
    return exec_command.main(parser.parse_args(argv))


@pytest.fixture
def notebook(tmp_path):
    data = tmp_path / "data"
    (data / "raw").mkdir(parents=True)
    (data / "raw" / "scores.csv").write_text("name,score\nada,3\nbob,5\n")
    path = tmp_path / "loose" / "scores.ipynb"  # its folder does not hold the data
    path.parent.mkdir()
    nb = new_notebook(cells=[
        new_markdown_cell("# Scores"),
        new_code_cell("import pandas as pd\nscores = pd.read_csv('raw/scores.csv')"),
        new_code_cell("print('mean', scores['score'].mean())"),
        new_code_cell("int(scores['score'].max())"),
    ])
    nbformat.write(nb, path)
    return path, data


def test_prints_each_cells_status_and_outputs(notebook, capsys):
    path, data = notebook
    assert run_exec([str(path), "--data-dir", str(data), "--sandbox", BACKEND]) == 0
    out = capsys.readouterr().out
    assert "[cell 0] ok" in out and "[cell 2] ok" in out
    assert "stdout: mean 4.0" in out
    assert "execute_result: 5" in out
    assert out.strip().endswith("status: ok")


def test_json_output_and_failing_exit_code(notebook, capsys):
    path, _ = notebook  # no data dir, and its folder lacks the file: the read fails
    assert run_exec([str(path), "--sandbox", BACKEND, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["executable"] is False
    assert [c["status"] for c in report["cells"]] == ["error", "not_run", "not_run"]
    assert report["cells"][0]["outputs"][-1]["ename"] == "FileNotFoundError"


EXAMPLE = ROOT / "examples" / "repos" / "acme__retail-analysis"


def test_a_repository_notebook_runs_with_its_reads_placed_where_its_code_expects_them(capsys):
    # notebooks/sales_summary.ipynb reads ../data/sales.csv, from its own folder
    notebook = EXAMPLE / "notebooks" / "sales_summary.ipynb"
    assert run_exec([str(notebook), "--sandbox", BACKEND]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["repository: acme/retail-analysis  (working folder: notebooks)",
                                    "[cell 0] reads '../data/sales.csv': placed from data/sales.csv"]
    shown = json.loads(notebook.read_text())["cells"][3]["outputs"][0]["data"]["text/plain"]
    assert "[cell 1] ok" in out and f"execute_result: {''.join(shown)}" in out  # the stored mean, again
    assert out.strip().endswith("status: ok")


def test_a_failed_run_says_which_cell_failed_and_why(tmp_path, capsys):
    repo = tmp_path / "ada__shop"  # a repository folder, by its owner__name
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "sales.csv").write_text("units\n3\n5\n")
    nb = new_notebook(cells=[
        new_markdown_cell("# Sales"),
        new_code_cell("import pandas as pd\nsales = pd.read_csv('../data/sales.csv')\nint(sales['units'].sum())"),
        new_markdown_cell("## Returns"),
        new_code_cell("returns = pd.read_csv('../data/returns.csv')"),
        new_code_cell("len(returns)"),
    ])
    (repo / "notebooks").mkdir()
    nbformat.write(nb, repo / "notebooks" / "sales.ipynb")
    assert run_exec([str(repo / "notebooks" / "sales.ipynb"), "--sandbox", BACKEND]) == 1
    out = capsys.readouterr().out
    assert "[cell 1] reads '../data/returns.csv': not placed: its repository does not have it" in out
    assert "execute_result: 8" in out  # the first cell read its file
    assert out.strip().splitlines()[-1] == (
        "failed: [cell 1] (cell 3 of the notebook, markdown counted): FileNotFoundError: [Errno 2] No such file or "
        "directory: '../data/returns.csv'; it reads '../data/returns.csv', its repository does not have it")
    assert run_exec([str(repo / "notebooks" / "sales.ipynb"), "--sandbox", BACKEND, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["failed"]["cell"] == 1 and report["failed"]["notebook_cell"] == 3
    assert [(r["as_written"], r["placed"]) for r in report["reads"]] == [("../data/sales.csv", True),
                                                                          ("../data/returns.csv", False)]


def test_a_loose_notebooks_files_and_a_repository_exclude_each_other(notebook):
    path, data = notebook
    with pytest.raises(UserError, match="exclude each other"):
        run_exec([str(path), "--data-dir", str(data), "--repo", str(path.parent)])


def test_unreadable_notebook_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="cannot read notebook"):
        run_exec([str(bad)])


def test_bwrap_without_bubblewrap_names_the_fix(notebook, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError, match="apt-get install bubblewrap"):
        run_exec([str(notebook[0]), "--sandbox", "bwrap"])


@pytest.mark.skipif(
    importlib.util.find_spec("nbqa_builder.commands.run") is None,
    reason="the CLI's other commands are not on this branch yet (the parser imports them all)",
)
def test_through_python_dash_m(notebook):
    path, data = notebook
    done = subprocess.run(
        [sys.executable, "-m", "nbqa_builder", "exec", str(path), "--data-dir", str(data), "--sandbox", BACKEND, "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "ok"


def test_a_notebook_the_pipeline_would_not_run_says_why(tmp_path):
    nb = new_notebook(cells=[new_code_cell("x <- 1")], metadata={"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}})
    nbformat.write(nb, tmp_path / "r.ipynb")
    with pytest.raises(UserError, match="a r notebook: the pipeline runs Python notebooks only"):
        run_exec([str(tmp_path / "r.ipynb")])
