"""`export sft` (alpaca with history, messages) and `export jupiter` (train_sft_data.jsonl rows)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.records import SolutionStep
from tests.dataset_fixtures import make_task, write_dataset

ROOT = Path(__file__).resolve().parents[1]
SALES = b"day,price\n1,4.0\n2,6.0\n"


def solved(task_id: str, label_value: str, steps: int = 2, path: str = "../data/sales.csv"):
    task = make_task(task_id, [("mean_price", label_value)], files={path: SALES})
    task.ipynb_name = "notebooks/prices.ipynb"
    task.solution = [SolutionStep(f"step {i}", f"print({i})", f"{i}\n") for i in range(steps)]
    task.solution.append(SolutionStep(f"The mean is {label_value}.", label=task.label))
    return task


@pytest.fixture
def dataset(tmp_path) -> str:
    no_code = make_task("t-none", [("x", "1")])
    no_code.solution = [SolutionStep("just a guess", label="@x[1]")]
    return write_dataset(str(tmp_path / "ds"), {"interactive": [solved("t1", "5.0"), solved("t2", "5.0", steps=1)],
                                                 "sft": [no_code]}, {"../data/sales.csv": SALES})


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_messages_follow_jupiter_turns(dataset, tmp_path):
    done = run_cli("export", "sft", dataset, "--to", tmp_path / "chats.jsonl")
    assert done.returncode == 0, done.stderr
    assert "note: 1 tasks left out (no code steps)" in done.stdout
    chats = {row["id"]: row["messages"] for row in read_jsonl(tmp_path / "chats.jsonl")}
    assert sorted(chats) == ["t1", "t2"]
    turns = chats["t1"]
    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert turns[0]["content"] == "You are a helpful assistant."
    prompt = turns[1]["content"]
    for line in ("Question: question of t1", "Constraints: round to two decimals", "Format: @mean_price[value]",
                 "Available Local Files: ../data/sales.csv"):
        assert line in prompt
    assert turns[2]["content"] == "Thought: step 0\nAction:\n```python\nprint(0)\n```"
    assert turns[3]["content"] == "Observation:\n0\n"
    assert turns[-1]["content"] == "Thought: The mean is 5.0.\nFormatted answer: @mean_price[5.0]"


def test_alpaca_history_holds_the_same_conversation(dataset, tmp_path):
    assert run_cli("export", "sft", dataset, "--format", "alpaca", "--to", tmp_path / "a.json").returncode == 0
    assert run_cli("export", "sft", dataset, "--to", tmp_path / "m.jsonl").returncode == 0
    alpaca = {row["id"]: row for row in json.loads((tmp_path / "a.json").read_text())}  # .json: one array
    for row in read_jsonl(tmp_path / "m.jsonl"):
        a = alpaca[row["id"]]
        pairs = a["history"] + [[a["instruction"], a["output"]]]
        assert a["system"] == row["messages"][0]["content"] and a["input"] == ""
        assert [text for pair in pairs for text in pair] == [t["content"] for t in row["messages"][1:]]
    assert len(alpaca["t2"]["history"]) == 1 and alpaca["t2"]["instruction"].startswith("Observation:")


def test_jupiter_rows_have_nbqa_fields_and_data_files_that_exist(dataset, tmp_path):
    out, files = tmp_path / "jupiter" / "train_sft_data.jsonl", tmp_path / "jupiter" / "files"
    done = run_cli("export", "jupiter", dataset, "--config", "interactive", "--to", out, "--files-dir", files)
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["t1", "t2"]
    for row in rows:
        assert {"task", "file_names", "concepts", "difficulty", "constraints", "format", "answer", "label", "solution",
                "github_repo", "ipynb_name", "data_files"} <= set(row)
        assert set(row["solution"][-1]) == {"thought", "label"} and row["solution"][-1]["label"] == row["label"]
        assert set(row["solution"][-2]) == {"thought", "python_code", "code_output"}  # what process_sft.py reads
        assert row["data_files"] == [f"{row['id']}/data/sales.csv"]
        assert (files / row["data_files"][0]).read_bytes() == SALES


def test_bad_input_is_one_line_exit_2(dataset, tmp_path):
    for args in (("sft", tmp_path / "missing", "--to", tmp_path / "x.jsonl"),
                 ("jupiter", dataset, "--config", "visualization", "--to", tmp_path / "x.jsonl"),
                 ("sft", dataset, "--config", "files", "--to", tmp_path / "x.jsonl")):
        done = run_cli("export", *args)
        assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
