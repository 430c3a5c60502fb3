"""Metrics, input checks and the `evaluate` command (run as a subprocess, as a user would)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.evaluate import (
    EvaluationInputError,
    Question,
    load_dabench_questions,
    load_labels,
    load_responses,
    load_task_questions,
    score_questions,
    summarize,
)
from tests.dataset_fixtures import make_task, write_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


QUESTIONS = [
    {"id": 0, "question": "mean?", "concepts": ["Summary Statistics"], "constraints": "", "format": "@mean[v]",
     "file_name": "a.csv", "level": "easy"},
    {"id": 1, "question": "r and p?", "concepts": ["Summary Statistics", "Correlation Analysis"], "constraints": "",
     "format": "@r[v] @p[v]", "file_name": "a.csv", "level": "hard"},
    {"id": 2, "question": "outliers?", "concepts": ["Outlier Detection"], "constraints": "", "format": "@n[v]",
     "file_name": "b.csv", "level": "medium"},
    {"id": 3, "question": "four?", "concepts": ["Outlier Detection"], "constraints": "", "format": "@a[v] @b[v]",
     "file_name": "b.csv", "level": "medium"},
]
LABELS = [
    {"id": 0, "common_answers": [["mean", "3.5"]]},
    {"id": 1, "common_answers": [["r", "0.12"], ["p", "0.5"]]},
    {"id": 2, "common_answers": [["n", "7"]]},
    {"id": 3, "common_answers": [["a", "x"], ["b", "y"]]},
]
RESPONSES = [
    {"id": 0, "response": "Formatted answer: @mean[3.50]"},  # right in both modes
    {"id": 1, "response": "@r[0.12] @p[np.float64(0.5)]"},  # p right only in lenient mode
    {"id": 3, "response": "I could not finish."},  # answered, nothing to read: wrong
    # id 2 has no response: unanswered
]


@pytest.fixture
def dabench(tmp_path):
    return (
        write_jsonl(tmp_path / "questions.jsonl", QUESTIONS),
        write_jsonl(tmp_path / "labels.jsonl", LABELS),
        write_jsonl(tmp_path / "responses.jsonl", RESPONSES),
    )


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbqa_builder", *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120,
    )


# ---------------------------------------------------------------------------------------------
# Metrics


def summary_of(dabench, mode="strict", unanswered="skip"):
    questions, _ = load_dabench_questions(str(dabench[0]), str(dabench[1]))
    responses, _ = load_responses(str(dabench[2]))
    return summarize(score_questions(questions, responses, mode), mode, unanswered)


def test_official_metrics_leave_unanswered_questions_out(dabench):
    s = summary_of(dabench)
    assert (s["questions"], s["answered"], s["unanswered"], s["scored"]) == (4, 3, 1, 3)
    # question 0 right; question 1: 1 of 2; question 3: 0 of 2
    assert s["ABQ"] == pytest.approx(1 / 3)
    assert s["PSAQ"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert s["UASQ"] == pytest.approx(2 / 5)


def test_unanswered_wrong_counts_them_in_every_denominator(dabench):
    s = summary_of(dabench, unanswered="wrong")
    assert s["scored"] == 4
    assert s["ABQ"] == pytest.approx(1 / 4)
    assert s["PSAQ"] == pytest.approx(1.5 / 4)
    assert s["UASQ"] == pytest.approx(2 / 6)


def test_lenient_mode_accepts_numpy_reprs(dabench):
    s = summary_of(dabench, mode="lenient")
    assert s["ABQ"] == pytest.approx(2 / 3)


def test_breakdowns_per_concept_level_and_number_of_concepts(dabench):
    s = summary_of(dabench)
    assert s["by_concept"]["Summary Statistics"]["n"] == 2
    assert s["by_concept"]["Summary Statistics"]["ABQ"] == pytest.approx(0.5)
    assert s["by_concept"]["Correlation Analysis"]["UASQ"] == pytest.approx(0.5)
    assert s["by_concept"]["Outlier Detection"]["n"] == 1  # question 2 is unanswered, left out
    assert set(s["by_level"]) == {"easy", "hard", "medium"}
    assert s["by_level"]["medium"]["ABQ"] == 0
    assert s["by_concept_count"]["1"]["n"] == 2
    assert s["by_concept_count"][">=2"]["PSAQ"] == pytest.approx(0.5)


def test_no_scored_questions_gives_no_metrics_rather_than_zero():
    results = score_questions([Question(1, [("x", "1")])], {}, "strict")
    s = summarize(results)
    assert s["scored"] == 0 and s["ABQ"] is None


# ---------------------------------------------------------------------------------------------
# Responses: what counts as answered (as the official script does)


def test_empty_and_non_string_responses_are_unanswered_with_a_note(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [
        {"id": 1, "response": ""},
        {"id": 2, "response": None},
        {"id": 3, "response": 3.5},
        {"id": 4},
        {"id": 5, "response": "@x[1]"},
    ])
    responses, notes = load_responses(str(path))
    assert list(responses) == ["5"]
    assert notes["empty responses"] == 1
    assert notes["responses that are not a string"] == 1
    assert notes['responses with no "response"'] == 2


def test_the_first_non_empty_response_for_an_id_is_scored(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [
        {"id": 1, "response": ""},
        {"id": 1, "response": "@x[1]"},
        {"id": 1, "response": "@x[2]"},
    ])
    responses, notes = load_responses(str(path))
    assert responses == {"1": "@x[1]"}
    assert notes["repeated responses (the first is scored)"] == 1


def test_integer_and_string_ids_find_each_other(tmp_path):
    labels = write_jsonl(tmp_path / "l.jsonl", [{"id": "7", "common_answers": [["x", "1"]]}])
    responses = write_jsonl(tmp_path / "r.jsonl", [{"id": 7, "response": "@x[1]"}])
    questions, notes = load_dabench_questions(str(write_jsonl(tmp_path / "q.jsonl", [])), str(labels))
    answers, _ = load_responses(str(responses))
    assert score_questions(questions, answers)[0].correct
    assert notes["labels without a question (no concepts or level)"] == 1


# ---------------------------------------------------------------------------------------------
# Malformed files: an error that names the file and line


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"common_answers": [["x", "1"]]}', 'missing "id"'),
        ('{"id": null, "common_answers": [["x", "1"]]}', '"id" must be'),
        ('{"id": 2, "common_answers": [["x", 1.5]]}', "must be strings"),
        ('{"id": 2, "common_answers": [["x"]]}', "not a [name, value] pair"),
        ('{"id": 2, "common_answers": []}', "non-empty list"),
        ('{"id": 2}', "non-empty list"),
        ('{"id": 1, "common_answers": [["x", "1"]]}', "appears twice"),
    ],
)
def test_bad_label_lines_are_errors_naming_file_and_line(tmp_path, line, message):
    path = write_jsonl(tmp_path / "labels.jsonl", [{"id": 1, "common_answers": [["x", "1"]]}, "", line])
    with pytest.raises(EvaluationInputError) as info:
        load_labels(str(path))
    assert f"{path}:3:" in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("line", ["{oops", '{"response": "@x[1]"}', '{"id": [1], "response": "@x[1]"}', '"text"'])
def test_bad_response_lines_are_errors_naming_file_and_line(tmp_path, line):
    path = write_jsonl(tmp_path / "responses.jsonl", [{"id": 1, "response": "@x[1]"}, line])
    with pytest.raises(EvaluationInputError, match=r"responses\.jsonl:2: "):
        load_responses(str(path))


def test_bad_question_concepts_are_an_error(tmp_path):
    questions = write_jsonl(tmp_path / "q.jsonl", [{"id": 1, "concepts": "Summary Statistics"}])
    labels = write_jsonl(tmp_path / "l.jsonl", LABELS)
    with pytest.raises(EvaluationInputError, match=r"q\.jsonl:1: \"concepts\""):
        load_dabench_questions(str(questions), str(labels))


def test_binary_and_missing_files_are_errors(tmp_path):
    binary = tmp_path / "r.jsonl"
    binary.write_bytes(b'{"id": 1, "response": "x"}\n\xff\xfe\x00')
    with pytest.raises(EvaluationInputError, match="not UTF-8"):
        load_responses(str(binary))
    with pytest.raises(EvaluationInputError, match="cannot read"):
        load_responses(str(tmp_path / "absent.jsonl"))


# ---------------------------------------------------------------------------------------------
# Our shards


def test_task_shards_are_scored_like_dabench_files(tmp_path):
    root = write_dataset(str(tmp_path / "ds"), {
        "interactive": [make_task("t1", [("mean", "3.5")], difficulty="easy")],
        "sft": [make_task("t2", [("r", "0.1"), ("p", "0.2")], ("Correlation Analysis", "Summary Statistics"), "hard")],
    })
    questions, _ = load_task_questions(root, "all")  # no data/all: the card's interactive + sft
    assert sorted(q.id for q in questions) == ["t1", "t2"]
    only_interactive, _ = load_task_questions(root, "interactive")
    assert [q.id for q in only_interactive] == ["t1"]
    s = summarize(score_questions(questions, {"t1": "@mean[3.5]", "t2": "@r[0.1] @p[0.3]"}))
    assert s["ABQ"] == pytest.approx(0.5) and s["UASQ"] == pytest.approx(2 / 3)
    assert s["by_level"]["hard"]["PSAQ"] == pytest.approx(0.5)


def test_missing_config_names_what_exists(tmp_path):
    root = write_dataset(str(tmp_path / "ds"), {"interactive": [make_task("t1", [("x", "1")])]})
    with pytest.raises(EvaluationInputError, match="configs found: interactive"):
        load_task_questions(root, "visualization")


def test_a_corrupt_shard_is_an_error_naming_it(tmp_path):
    shard = tmp_path / "ds" / "data" / "all" / "train-0.parquet"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"not parquet")
    with pytest.raises(EvaluationInputError, match="train-0.parquet: not a readable Parquet file"):
        load_task_questions(str(tmp_path / "ds"))


# ---------------------------------------------------------------------------------------------
# The command


def test_cli_prints_a_table_of_the_metrics(dabench):
    q, l, r = dabench
    done = run_cli("evaluate", "--questions", q, "--labels", l, "--responses", r)
    assert done.returncode == 0, done.stderr
    overall = next(line for line in done.stdout.splitlines() if line.startswith("all "))
    assert overall.split() == ["all", "3", "33.33%", "50.00%", "40.00%"]
    assert "Correlation Analysis" in done.stdout and "unanswered: 1" in done.stdout


def test_cli_json_and_per_question_output(dabench, tmp_path):
    q, l, r = dabench
    out = tmp_path / "per_question.jsonl"
    done = run_cli("evaluate", "--questions", q, "--labels", l, "--responses", r, "--mode", "lenient",
                   "--unanswered", "wrong", "--per-question", out, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ABQ"] == pytest.approx(0.5) and report["scored"] == 4
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [
        {"id": 0, "correct": True, "sub": {"mean": True}},
        {"id": 1, "correct": True, "sub": {"r": True, "p": True}},
        {"id": 2, "correct": False, "sub": {"n": False}},
        {"id": 3, "correct": False, "sub": {"a": False, "b": False}},
    ]


def test_cli_per_question_leaves_out_unanswered_by_default(dabench, tmp_path):
    out = tmp_path / "pq.jsonl"
    done = run_cli("evaluate", "--questions", dabench[0], "--labels", dabench[1], "--responses", dabench[2],
                   "--per-question", out)
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [0, 1, 3]


def test_cli_bad_label_file_exits_2_naming_file_and_line(dabench, tmp_path):
    labels = write_jsonl(tmp_path / "bad_labels.jsonl", [LABELS[0], '{"id": 1, "common_answers": [["r", 0.12]]}'])
    done = run_cli("evaluate", "--questions", dabench[0], "--labels", labels, "--responses", dabench[2])
    assert done.returncode == 2
    assert f"{labels}:2:" in done.stderr and "Traceback" not in done.stderr


def test_cli_needs_labels_or_tasks(dabench):
    done = run_cli("evaluate", "--responses", dabench[2])
    assert done.returncode == 2 and "--tasks" in done.stderr and "Traceback" not in done.stderr


def test_cli_scores_task_shards(tmp_path):
    root = write_dataset(str(tmp_path / "ds"), {"interactive": [make_task("t1", [("mean", "3.5")]),
                                                                make_task("t2", [("n", "4")])]})
    responses = write_jsonl(tmp_path / "r.jsonl", [{"id": "t1", "response": "@mean[3.5]"},
                                                   {"id": "t2", "response": "@n[5]"}])
    done = run_cli("evaluate", "--tasks", root, "--config", "interactive", "--responses", responses, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ABQ"] == pytest.approx(0.5)
