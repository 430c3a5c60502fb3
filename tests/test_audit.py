"""`audit DATASET`: every task re-run from its text, code and files alone; wrong ones are named.

The datasets here are written by hand, with right and wrong tasks side by side: a label the
solution does not give, a reference program that computes something else, a task whose solution
fails. Then an NbQA-format Parquet file (no `answers`, no `id`, no `data_files`) with its files in
a folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nbqa_builder.records import SolutionStep
from test_pipeline import run_cli
from tests.dataset_fixtures import make_task, write_dataset

CSV = b"region,units\nnorth,10\nsouth,4\nnorth,7\neast,1\n"
LOAD = "import pandas as pd\ndf = pd.read_csv('../data/sales.csv')"
REFERENCE = "import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(f\"@total[{df['units'].sum()}]\")\n"


def task(task_id, value, last_code, reference=None):
    made = make_task(task_id, [("total", value)], files={"../data/sales.csv": CSV})
    made.ipynb_name = "notebooks/analysis.ipynb"
    made.format = "@total[value] where value is an integer"
    made.answer = value
    made.solution = [SolutionStep("Load.", LOAD, ""), SolutionStep("Add up.", last_code, ""),
                     SolutionStep("Done.", label=made.label)]
    made.reference_code = reference
    return made


@pytest.fixture
def dataset(tmp_path) -> Path:
    tasks = [
        task("right", "22", "df['units'].sum()", REFERENCE),
        task("wrong_label", "23", "df['units'].sum()"),
        task("hidden_filter", "22", "df['units'].sum()", REFERENCE.replace("df['units']", "df[df.region == 'north']['units']")),
        task("failing", "22", "df['unit'].sum()"),
        task("right_printed", "22", "print('total:', df['units'].sum())"),
    ]
    return Path(write_dataset(str(tmp_path / "dataset"), {"interactive": tasks}, files={"../data/sales.csv": CSV}))


def test_audit_names_every_wrong_task_and_counts(dataset):
    result = run_cli("audit", str(dataset), "--sandbox", "process", "--json")
    assert result.returncode == 1, result.stderr  # some tasks are wrong
    *lines, totals = result.stdout.splitlines()
    verdicts = {v["id"]: v for v in map(json.loads, lines)}
    assert {i for i, v in verdicts.items() if v["wrong"]} == {"wrong_label", "hidden_filter", "failing"}
    assert verdicts["right"]["reference_agrees"] is True and verdicts["hidden_filter"]["reference_agrees"] is False
    assert "disagrees" in verdicts["hidden_filter"]["detail"] and "failed" in verdicts["failing"]["detail"]
    assert totals == "tasks=5 verified=3 reference_agrees=1 wrong=3"


def test_audit_of_a_dataset_that_cannot_be_read_is_one_line(tmp_path):
    result = run_cli("audit", str(tmp_path / "nowhere"), "--sandbox", "process")
    assert result.returncode == 2 and result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_audit_reads_nbqa_format_parquet_with_a_folder_of_files(tmp_path):
    """The NbQA record (NBQA.md): no `answers`, `id` or `data_files`; the code reads files by name."""
    rows = [
        {"task": "Total units?", "file_names": ["sales.csv"], "concepts": ["Summary Statistics"], "difficulty": "easy",
         "constraints": "", "format": "@total[value] where value is an integer", "answer": "22", "label": "@total[22]",
         "solution": [{"thought": "Load.", "python_code": "import pandas as pd\ndf = pd.read_csv('sales.csv')", "code_output": ""},
                      {"thought": "Sum.", "python_code": "df['units'].sum()", "code_output": "22"},
                      {"thought": "Answer.", "label": "@total[22]"}],
         "github_repo": "o/r", "ipynb_name": "a.ipynb"},
        {"task": "Total units, again?", "file_names": ["sales.csv"], "concepts": [], "difficulty": "easy",
         "constraints": "", "format": "@total[value]", "answer": "25", "label": "@total[25]",
         "solution": [{"thought": "Load.", "python_code": "import pandas as pd\ndf = pd.read_csv('sales.csv')", "code_output": ""},
                      {"thought": "Sum.", "python_code": "df['units'].sum()", "code_output": "22"},
                      {"thought": "Answer.", "label": "@total[25]"}],
         "github_repo": "o/r", "ipynb_name": "a.ipynb"},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "nbqa.parquet")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "sales.csv").write_bytes(CSV)
    result = run_cli("audit", str(tmp_path / "nbqa.parquet"), "--files-dir", str(tmp_path / "files"), "--sandbox", "process")
    assert result.stdout.splitlines()[-1] == "tasks=2 verified=1 reference_agrees=0 wrong=1", result.stdout + result.stderr
    missing = run_cli("audit", str(tmp_path / "nbqa.parquet"), "--sandbox", "process")
    assert missing.returncode == 2 and "--files-dir" in missing.stderr
