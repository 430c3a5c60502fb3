"""The `solve` step: a blind solver, served by the fake OpenAI-compatible server of
tests/fake_openai.py, re-solves tasks from their text and files alone, in the sandbox.

The fake solver follows only the text: it reads the question (the heuristic extractor's phrasing:
"Using `f`: <steps>. Then, what is the <statistic> of `c`?"), writes pandas code for exactly the
steps it reads, and answers with what the code printed (the sandbox runs it). It knows nothing
else: a task whose text leaves out a preparation step gets the value of the data without that
step. A test may also make it answer wrongly on purpose, per question.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest
import yaml

from fake_openai import FakeOpenAI, ok, error
from nbqa_builder.records import Answer, DataRef, Notebook, SolutionStep, Task, TaskFile
from nbqa_builder.solve.step import SolveConfig, SolveStep
from test_pipeline import ROOT, run_cli, task_rows

STATS = {"mean": "mean()", "median": "median()", "maximum": "max()", "minimum": "min()", "sum": "sum()",
         "standard deviation": "std()"}
STEP = re.compile(r"Keep only the rows where `(\w+)` (>=|<=|>|<|==) (-?[\d.]+)\.|Drop the rows where `(\w+)` is missing\."
                  r"|Set the column `(\w+)` to \(`(\w+)` \* `(\w+)`\)\.")


def code_for(question: str, fmt: str, files: list[str]) -> str:
    """Pandas code for what the question says, and nothing else."""
    match = re.match(r"Using `([^`]+)`(?:: (.*) Then,|,) what is the (.+)\?$", question)
    if match is None:
        return "print('?')"
    name, steps, asked = match.groups()
    path = next((f for f in files if f.split("/")[-1] == name), name)
    lines = ["import pandas as pd", f"df = pd.read_csv({path!r})"]
    for step in STEP.finditer(steps or ""):
        column, op, constant, dropped, new, left, right = step.groups()
        if column:
            lines.append(f"df = df[df[{column!r}] {op} {constant}]")
        elif dropped:
            lines.append(f"df = df.dropna(subset=[{dropped!r}])")
        else:
            lines.append(f"df[{new!r}] = df[{left!r}] * df[{right!r}]")
    stat = re.match(r"(mean|median|maximum|minimum|sum|standard deviation) of `(\w+)`", asked)
    if stat:
        value = f"df[{stat[2]!r}].{STATS[stat[1]]}"
    elif asked == "number of rows":
        value = "len(df)"
    elif m := re.match(r"number of missing values in `(\w+)`", asked):
        value = f"df[{m[1]!r}].isna().sum()"
    elif m := re.match(r"most frequent value of `(\w+)`", asked):
        value = f"df[{m[1]!r}].mode()[0]"
    elif m := re.match(r"Pearson correlation coefficient between `(\w+)` and `(\w+)`", asked):
        value = f"df[{m[1]!r}].corr(df[{m[2]!r}])"
    else:
        return "print('?')"
    decimals = re.search(r"rounded to (\d+) decimal place", fmt)
    shown = f"format({value}, '.{decimals[1]}f')" if decimals else f"int({value})" if "integer" in fmt else value
    return "\n".join(lines + [f"print({shown})"])


def literal_solver(wrong: Callable[[str], bool] = lambda question: False):
    """The scripted solver: code from the question first, then the printed value as its answer
    (a value of its own when `wrong(question)`)."""

    def script(body: dict[str, Any]) -> Any:
        messages = body["messages"]
        first = messages[1]["content"]
        question = re.search(r"^Question: (.*)$", first, re.M)[1]
        fmt = re.search(r"^Format: (.*)$", first, re.M)[1]
        files = re.search(r"^Available Local Files: (.*)$", first, re.M)[1].split(", ")
        observations = [m["content"] for m in messages[2:] if m["role"] == "user"]
        if not observations:
            code = code_for(question, fmt, files)
            return ok(f"Thought: I do what the question says.\nAction:\n```python\n{code}\n```")
        value = observations[-1].removeprefix("Observation:").strip()
        name = re.search(r"@(\w+)\[", fmt)[1]
        if wrong(question):
            value = "-1"
        return ok(f"Thought: The code printed it.\nFormatted answer: @{name}[{value}]")

    return script


# ---------------------------------------------------------------------------------------------
# Tasks written here over one table: each question once in full, and once without its step.

ROWS = ["units,price,discount"] + [
    f"{5 + (i * 7) % 40},{2 + (i * 37 % 700) / 100:.2f},{'' if i % 7 == 0 else f'{(i % 5) / 10:.1f}'}"
    for i in range(200)
]
QUESTIONS = [  # (the question in full, the same without its step or None, the label's code)
    ("Using `sales.csv`: Keep only the rows where `units` > 20. Then, what is the mean of `price`?",
     "Using `sales.csv`, what is the mean of `price`?", lambda df: f"{df[df['units'] > 20]['price'].mean():.2f}",
     "@mean_price[value] where value is a number rounded to 2 decimal places."),
    ("Using `sales.csv`: Drop the rows where `discount` is missing. Then, what is the number of rows?",
     "Using `sales.csv`, what is the number of rows?", lambda df: str(len(df.dropna(subset=["discount"]))),
     "@row_count[value] where value is an integer."),
    ("Using `sales.csv`: Keep only the rows where `units` < 20. Then, what is the maximum of `units`?",
     "Using `sales.csv`, what is the maximum of `units`?", lambda df: f"{df[df['units'] < 20]['units'].max():.1f}",
     "@max_units[value] where value is a number rounded to 1 decimal place."),
    ("Using `sales.csv`, what is the median of `units`?", None, lambda df: f"{df['units'].median():.1f}",
     "@median_units[value] where value is a number rounded to 1 decimal place."),
]


@pytest.fixture
def table(tmp_path) -> Path:
    (tmp_path / "repo" / "data").mkdir(parents=True)
    path = tmp_path / "repo" / "data" / "sales.csv"
    path.write_text("\n".join(ROWS) + "\n")
    return path


def make_task(table: Path, question: str, label_code, fmt: str) -> Task:
    name = re.match(r"@(\w+)", fmt)[1]
    value = label_code(pd.read_csv(table))
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    task = Task(task=question, file_names=["sales.csv"], concepts=["Summary Statistics"], difficulty="easy",
                constraints="Read each file with pandas' default settings unless a step says otherwise.", format=fmt,
                answer=value, label=f"@{name}[{value}]",
                solution=[SolutionStep("Load.", "import pandas as pd", ""), SolutionStep("Done.", label=f"@{name}[{value}]")],
                github_repo="me/sales", ipynb_name="notebooks/analysis.ipynb", answers=[Answer(name, value)],
                data_files=[TaskFile("../data/sales.csv", digest, table.stat().st_size)], deps_complete=True)
    task.assign_id()
    return task


def notebook_with(table: Path, tasks: list[Task]) -> Notebook:
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    ref = DataRef("../data/sales.csv", 0, "pd.read_csv", "found", "data/sales.csv", digest, table.stat().st_size)
    return Notebook(notebook_id="n1", repo="me/sales", path="notebooks/analysis.ipynb", repo_dir=str(table.parents[1]),
                    data_refs=[ref], tasks=tasks)


def solve(server: FakeOpenAI, output: Path, notebooks: list[Notebook], **settings: Any) -> None:
    config = SolveConfig.model_validate({"sandbox": "process", "timeout_s": 60, "model": "solver-model",
                                         "base_url": server.base_url, "max_wait_s": 0.1, "max_steps": 4, **settings})
    step = SolveStep(config, output=str(output))
    try:
        step(notebooks)
    finally:
        step.close()


@pytest.fixture
def full_and_hidden(table):
    full = [make_task(table, q, code, fmt) for q, _, code, fmt in QUESTIONS]
    hidden = [make_task(table, h, code, fmt) for _, h, code, fmt in QUESTIONS if h]
    # each step left out changes the value (a step that changes nothing cannot be caught by anyone)
    whole = pd.read_csv(table)
    for (question, without, code, fmt), task in zip([q for q in QUESTIONS if q[1]], hidden):
        assert code(whole) != code(whole.iloc[:0]) and task.answers[0].value != _unprepared(whole, question, fmt)
    return full, hidden


def _unprepared(df: pd.DataFrame, question: str, fmt: str) -> str:
    """The value the question's statistic has on the file as read, without the question's steps."""
    namespace: dict[str, Any] = {}
    code = code_for(re.sub(r": .* Then,", ",", question), fmt, ["sales.csv"]).replace("pd.read_csv('sales.csv')", "DF")
    printed: list[str] = []
    exec(code, {"DF": df, "print": lambda value: printed.append(str(value))}, namespace)
    return printed[0]


def test_tasks_that_hide_a_step_are_exactly_those_a_literal_solver_fails(tmp_path, table, full_and_hidden):
    full, hidden = full_and_hidden
    notebook = notebook_with(table, full + hidden)
    with FakeOpenAI(literal_solver()) as server:
        solve(server, tmp_path / "out", [notebook])
    failed = {t.id for t in notebook.tasks if t.solver_agrees is False}
    assert failed == {t.id for t in hidden}
    assert all(t.solver_agrees is True and t.solver_answer == t.label for t in full)
    # the hidden tasks got the value of the data without the step: a real answer, not an error
    assert all(t.solver_answer and t.solver_answer != t.label for t in hidden)
    assert {c["end"] for c in notebook.checks["solve"].values()} == {"answer"}
    assert notebook.checks["metrics"]["solve"]["tasks_agree"] == len(full)


def test_the_solver_sees_the_task_and_a_preview_never_the_notebook(tmp_path, table, full_and_hidden):
    full, _ = full_and_hidden
    notebook = notebook_with(table, full[:1])
    notebook.cells = []  # nothing of the notebook could be shown anyway; the prompt must not need it
    with FakeOpenAI(literal_solver()) as server:
        solve(server, tmp_path / "out", [notebook])
    first = server.requests[0].body["messages"]
    assert first[0]["content"] == "You are a helpful assistant."
    user = first[1]["content"]
    assert f"Question: {full[0].task}" in user and f"Format: {full[0].format}" in user
    assert "Available Local Files: ../data/sales.csv" in user
    # the preview was made in the sandbox from the file itself: shape, dtypes and head
    assert "shape: 200 rows x 3 columns" in user and "units" in user and "float64" in user
    assert full[0].label not in json.dumps(server.requests[0].body)  # the label is never shown
    # the code ran in the sandbox and its output came back as the observation
    observation = server.requests[1].body["messages"][-1]["content"]
    assert observation.startswith("Observation:") and full[0].answers[0].value in observation


def test_batch_mode_batches_every_step_and_gives_the_same_verdicts(tmp_path, table, full_and_hidden):
    full, hidden = full_and_hidden
    synchronous = notebook_with(table, copy.deepcopy(full + hidden))
    batched = notebook_with(table, copy.deepcopy(full + hidden))
    with FakeOpenAI(literal_solver()) as server:
        solve(server, tmp_path / "sync", [synchronous])
    with FakeOpenAI(literal_solver()) as server:
        solve(server, tmp_path / "batch", [batched], llm={"mode": "batch", "poll_interval_s": 0.02, "max_poll_interval_s": 0.05})
    assert not [r for r in server.requests if r.path == "/v1/chat/completions"]
    # round one: every task's first step in one batch; round two: every answer
    sizes = [len(server.files[b["input_file_id"]]["content"].splitlines()) for b in server.batches.values()]
    assert sizes == [len(full + hidden)] * 2
    assert [(t.id, t.solver_agrees, t.solver_answer) for t in batched.tasks] == \
        [(t.id, t.solver_agrees, t.solver_answer) for t in synchronous.tasks]
    metrics = batched.checks["metrics"]["solve"]
    assert metrics["batch_requests"] == metrics["requests_sent"] == 2 * len(full + hidden)


def test_unchecked_tasks_and_unfinished_solves(tmp_path, table, full_and_hidden):
    full, _ = full_and_hidden
    chart, no_file, silent, failing = (copy.deepcopy(full[0]) for _ in range(4))
    chart.is_visualization, chart.task = True, "Using `sales.csv`, plot the prices."
    no_file.data_files = [TaskFile("../data/gone.csv", "0" * 64, 1)]
    silent.task, failing.task = "Using `sales.csv`, what is the answer?", "Using `sales.csv`, what fails?"
    for task in (chart, no_file, silent, failing):
        task.assign_id()
    notebook = notebook_with(table, [chart, no_file, silent, failing])

    def script(body):
        if "what fails" in body["messages"][1]["content"]:
            return error(400, "invalid_prompt")
        return ok("Thought: I will look.\nAction:\n```python\nprint(1)\n```")  # never an answer

    with FakeOpenAI(script) as server:
        solve(server, tmp_path / "out", [notebook], max_steps=3)
    assert [t.solver_agrees for t in notebook.tasks] == [None, None, False, None]
    ends = [notebook.checks["solve"][t.id]["end"] for t in notebook.tasks]
    assert ends[:2] == ["not_checked: a chart", "not_checked: a data file is missing"]
    assert ends[2] == "step_limit" and ends[3].startswith("llm_bad_request")
    assert len([r for r in server.requests if "what is the answer" in r.body["messages"][1]["content"]]) == 3


def test_solver_code_runs_in_the_sandbox_without_the_key(tmp_path, table, full_and_hidden, monkeypatch):
    monkeypatch.setenv("SOLVER_KEY", "sk-solver-SECRET-0042")
    full, _ = full_and_hidden
    notebook = notebook_with(table, full[:1])
    code = "import os\nprint(sorted(k for k in os.environ if 'KEY' in k), os.getcwd().endswith('notebooks'))"
    replies = iter([ok(f"Thought: look.\nAction:\n```python\n{code}\n```"), ok("Thought: done.\nFormatted answer: @x[1]")])
    with FakeOpenAI(lambda body: next(replies)) as server:
        solve(server, tmp_path / "out", [notebook], api_key_env="SOLVER_KEY")
    assert server.requests[0].headers["authorization"] == "Bearer sk-solver-SECRET-0042"
    assert "Observation:\n[] True" in server.requests[1].body["messages"][-1]["content"]
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files and not [p for p in files if b"sk-solver-SECRET" in p.read_bytes()]


# ---------------------------------------------------------------------------------------------
# End to end: the demo's notebooks through heuristic extraction, verify and solve, by the CLI.


def test_flags_and_the_cards_share_match_the_script(tmp_path):
    recipe = yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text())
    recipe["source"]["path"] = str(ROOT / "examples" / "repos")
    recipe["source"]["include"] = ["notebooks/sales_summary.ipynb", "analysis.ipynb"]  # the two that give tasks
    recipe["output"] = str(tmp_path / "out")
    recipe["executor"]["workers"] = 1  # one sandbox worker per step to start, not two
    steps = [e for e in recipe["steps"] if not {"dedup", "execute"} & set(e)]  # not needed here: faster
    next(e for e in steps if "verify" in e)["verify"]["runs"] = 1
    wrong_on = "weather.csv"  # the script answers wrongly on every question about this file
    with FakeOpenAI(literal_solver(lambda question: wrong_on in question)) as server:
        steps.append({"solve": {"sandbox": "process", "timeout_s": 60, "model": "solver-model",
                                "base_url": server.base_url, "interactive_requires_agreement": True}})
        recipe["steps"] = steps
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe))
        result = run_cli("run", str(path), "--no-progress", env={**os.environ, "OPENAI_API_KEY": "sk-unused"})
        assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    rows = task_rows(out)
    assert rows and any(wrong_on in r["task"] for r in rows) and any(wrong_on not in r["task"] for r in rows)
    for row in rows:
        assert row["solver_agrees"] is (wrong_on not in row["task"]), row["task"]
        config = "interactive" if row["solver_agrees"] and row["verified"] else "sft"
        assert (out / "dataset" / "data" / config).is_dir()
    by_config = {c: len(list((out / "dataset" / "data" / c).glob("*.parquet"))) for c in ("interactive", "sft")}
    assert all(by_config.values())
    agree = sum(r["solver_agrees"] for r in rows)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["tasks"]["solver"] == {"model": "solver-model", "agree": agree, "disagree": len(rows) - agree,
                                        "not_checked": 0, "agree_share": round(agree / len(rows), 4),
                                        "interactive_requires_agreement": True}
    assert stats["tasks"]["by_config"]["interactive"] == sum(r["solver_agrees"] and r["verified"] for r in rows)
    card = (out / "dataset" / "README.md").read_text()
    assert f"on {agree} of {len(rows)} tasks checked ({100 * agree / len(rows):.1f} %)" in card
    assert "`interactive` holds only tasks it solved" in card


def test_the_solvers_budget_counts_the_solvers_spend_only(tmp_path, table, full_and_hidden):
    from nbqa_builder.llm.store import SpendLedger
    from nbqa_builder.step import StopRun

    full, _ = full_and_hidden
    ledger = SpendLedger(tmp_path / "out" / "_llm" / "spend.sqlite")
    ledger.add("extract", "strong-model", 1000, 1000, 100.0)  # the extractor's spend, far above the solver's budget
    prices = {"solver-model": {"input": 1.0, "output": 1.0}}
    first, second = notebook_with(table, copy.deepcopy(full[:1])), notebook_with(table, copy.deepcopy(full[1:2]))
    with FakeOpenAI(literal_solver()) as server:
        solve(server, tmp_path / "out", [first], prices=prices, max_cost=0.5)
        assert first.tasks[0].solver_agrees is True
        spent = ledger.total(("solve",))
        assert 0 < spent < 0.5 and ledger.total() == pytest.approx(100.0 + spent)
        sent = len(server.requests)
        with pytest.raises(StopRun, match="max_cost reached.*by solve"):
            solve(server, tmp_path / "out", [second], prices=prices, max_cost=spent)
        assert len(server.requests) == sent and second.tasks[0].solver_agrees is None
