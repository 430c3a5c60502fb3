"""`export dabench`: our tasks as DABench questions, labels and tables, readable by `evaluate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.commands.export import export_dabench, table_names
from tests.dataset_fixtures import make_task, write_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]

SALES = b"region,amount\nnorth,3\nsouth,4\n"
OTHER_DATA = b"a,b\n1,2\n"
PRICES = b"item,price\npen,1.5\n"


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbqa_builder", *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120,
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def dataset(tmp_path):
    tasks = [
        make_task("t1", [("mean_amount", "3.5")], ("Summary Statistics",), "easy", {"data/data.csv": SALES}),
        make_task("t2", [("n_rows", "1"), ("max_b", "2")], ("Summary Statistics", "Outlier Detection"), "hard",
                  {"data.csv": OTHER_DATA, "input/prices.csv": PRICES}),
    ]
    files = {"data/data.csv": SALES, "data.csv": OTHER_DATA, "input/prices.csv": PRICES}
    return write_dataset(str(tmp_path / "ds"), {"interactive": tasks}, files)


def test_export_writes_dabench_questions_labels_and_tables(dataset, tmp_path):
    out = tmp_path / "bench"
    done = run_cli("export", "dabench", dataset, "--config", "interactive", "--to", out)
    assert done.returncode == 0, done.stderr
    assert "exported 2 tasks and 3 tables" in done.stdout

    questions = read_jsonl(out / "questions.jsonl")
    assert [q["id"] for q in questions] == ["t1", "t2"]
    for q in questions:
        assert {"id", "question", "concepts", "constraints", "format", "file_name", "level"} <= set(q)
    assert questions[1]["level"] == "hard"
    assert questions[1]["concepts"] == ["Summary Statistics", "Outlier Detection"]
    assert read_jsonl(out / "labels.jsonl") == [
        {"id": "t1", "common_answers": [["mean_amount", "3.5"]]},
        {"id": "t2", "common_answers": [["n_rows", "1"], ["max_b", "2"]]},
    ]
    # every table a question names holds that task's bytes
    assert (out / "tables" / questions[1]["file_names"][1]).read_bytes() == PRICES
    assert (out / "tables" / questions[0]["file_name"]).read_bytes() == SALES
    assert (out / "tables" / questions[1]["file_name"]).read_bytes() == OTHER_DATA


def test_two_different_files_with_one_name_both_survive(dataset, tmp_path):
    export_dabench(dataset, "interactive", str(tmp_path / "bench"))
    tables = sorted(p.name for p in (tmp_path / "bench" / "tables").iterdir())
    assert len(tables) == 3 and "prices.csv" in tables
    assert all(name.startswith("data-") and name.endswith(".csv") for name in tables if name != "prices.csv")


def test_one_file_under_two_names_is_written_under_each():
    files = [{"path": "a/x.csv", "sha256": "1" * 64}, {"path": "y.csv", "sha256": "1" * 64}]
    assert table_names(files) == {("x.csv", "1" * 64): "x.csv", ("y.csv", "1" * 64): "y.csv"}


def test_exported_benchmark_is_scored_by_evaluate(dataset, tmp_path):
    out = tmp_path / "bench"
    export_dabench(dataset, "interactive", str(out))
    responses = tmp_path / "responses.jsonl"
    responses.write_text(
        json.dumps({"id": "t1", "response": "@mean_amount[3.5]"}) + "\n"
        + json.dumps({"id": "t2", "response": "@n_rows[1] @max_b[3]"}) + "\n"
    )
    done = run_cli("evaluate", "--questions", out / "questions.jsonl", "--labels", out / "labels.jsonl",
                   "--responses", responses, "--json")
    assert done.returncode == 0, done.stderr
    from_export = json.loads(done.stdout)
    done = run_cli("evaluate", "--tasks", dataset, "--config", "interactive", "--responses", responses, "--json")
    from_shards = json.loads(done.stdout)
    assert from_export["ABQ"] == from_shards["ABQ"] == pytest.approx(0.5)
    assert from_export["by_level"] == from_shards["by_level"]


def test_tasks_whose_files_are_missing_are_left_out_and_counted(tmp_path):
    tasks = [make_task("t1", [("x", "1")], files={"a.csv": SALES}), make_task("t2", [("x", "2")], files={"b.csv": PRICES})]
    root = write_dataset(str(tmp_path / "ds"), {"interactive": tasks}, {"a.csv": SALES})
    report = export_dabench(root, "interactive", str(tmp_path / "bench"))
    assert report.tasks == 1
    assert report.notes["tasks whose data files are not in the files config (not exported)"] == 1
    assert [q["id"] for q in read_jsonl(tmp_path / "bench" / "questions.jsonl")] == ["t1"]


def test_missing_config_exits_2_with_a_clear_error(dataset, tmp_path):
    done = run_cli("export", "dabench", dataset, "--config", "sft", "--to", tmp_path / "bench")
    assert done.returncode == 2
    assert "no Parquet shards" in done.stderr and "Traceback" not in done.stderr


def test_export_needs_a_format(tmp_path):
    done = run_cli("export")
    assert done.returncode == 2 and "dabench" in done.stderr


def test_a_task_without_files_and_one_with_three_round_trip_through_the_official_scorer(tmp_path):
    tables = {"data/a.csv": SALES, "b.csv": OTHER_DATA, "input/c.csv": PRICES}
    tasks = [make_task("none", [("answer", "42")]), make_task("three", [("total", "6"), ("rows", "3")], files=tables)]
    root = write_dataset(str(tmp_path / "ds"), {"interactive": tasks}, tables)
    out = tmp_path / "bench"
    done = run_cli("export", "dabench", root, "--to", out)
    assert done.returncode == 0, done.stderr
    questions = {q["id"]: q for q in read_jsonl(out / "questions.jsonl")}
    assert questions["none"]["file_name"] == "none" and questions["none"]["file_names"] == []
    assert questions["three"]["file_names"] == ["a.csv", "b.csv", "c.csv"]
    assert [(out / "tables" / name).read_bytes() for name in questions["three"]["file_names"]] == [SALES, OTHER_DATA, PRICES]
    responses = tmp_path / "responses.jsonl"
    for right, expected in ((True, 1.0), (False, 0.5)):
        responses.write_text(json.dumps({"id": "none", "response": "@answer[42]"}) + "\n"
                             + json.dumps({"id": "three", "response": "@total[6.0] @rows[3]" if right else "@total[7]"}) + "\n")
        done = run_cli("evaluate", "--questions", out / "questions.jsonl", "--labels", out / "labels.jsonl",
                       "--responses", responses, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["ABQ"] == pytest.approx(expected)
