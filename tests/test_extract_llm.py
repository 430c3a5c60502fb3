"""The openai extract backend against a fake OpenAI-compatible server (tests/fake_openai.py).

The fake "model" reads the notebook the extractor sends (numbered cells with their outputs) and
answers from it: grounded tasks from cells whose output is one number, plus, where a test asks,
a fabricated answer and a cell number out of range. Nothing here is hard-coded per notebook.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from fake_openai import FakeOpenAI, Reply, error, ok, refusal
from nbqa_builder.deps.step import DepsStep
from nbqa_builder.extract.step import ExtractConfig, ExtractStep
from nbqa_builder.notebooks.validate import ValidateStep
from nbqa_builder.sources.local import describe_repository, read_notebook
from nbqa_builder.step import StopRun
from test_pipeline import ROOT, demo_recipe, run_cli, task_rows

FAKE_KEY = "sk-test-NEVER-WRITE-ME-7f3a9c1e"
FABRICATED = "98765.4321"
CELL = re.compile(r"^\[cell (\d+)\] code\n(.*?)\n\[cell \1\] output\n(.*?)(?=\n\n\[cell |\n\n\[\.\.\.|\Z)", re.S | re.M)
NUMBER = re.compile(r"^(?:np\.\w+\()?(-?\d+(?:\.\d+)?)\)?$")


def stage_of(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    return "score" if system.startswith("You rate") else "review" if system.startswith("You review") else "extract"


def numeric_cells(body: dict[str, Any]) -> list[tuple[int, str]]:
    """(cell, value rounded as a format would ask) for each cell whose output is one number."""
    found = []
    for cell, _source, output in CELL.findall(body["messages"][1]["content"]):
        match = NUMBER.match(output.strip())
        if match:
            value = match.group(1)
            found.append((int(cell), f"{float(value):.2f}" if "." in value else value))
    return found


def notebook_model(fabricate: bool = False, out_of_range: bool = False):
    """A scripted model that answers from the notebook it is shown."""

    def script(body: dict[str, Any]) -> Reply:
        stage = stage_of(body)
        cells = numeric_cells(body)
        if stage == "score":
            return ok({"score": 4 if cells else 2, "reason": "computed results" if cells else "tables only"})
        if stage == "review":
            count = len(re.findall(r"^Task \d+:", body["messages"][1]["content"], re.M))
            return ok({"verdicts": [{"task": i, "keep": True, "reason": ""} for i in range(count)]})
        tasks = [{"question": f"What is the value computed in step {cell}?", "concepts": ["Summary Statistics"],
                  "difficulty": "easy", "constraints": "Round to 2 decimal places.",
                  "format": f"@v{cell}[value] where value is rounded to 2 decimal places",
                  "answers": [{"name": f"v{cell}", "value": value}], "solution": [{"cell": cell, "thought": "Compute it."}],
                  "final_thought": f"It is {value}."} for cell, value in cells[:3]]
        if fabricate and cells:
            tasks.append({**tasks[0], "question": "A made-up number?", "answers": [{"name": "made_up", "value": FABRICATED}]})
        if out_of_range and cells:
            tasks.append({**tasks[0], "question": "Which cell?", "solution": [{"cell": 999, "thought": "Nowhere."}]})
        return ok({"tasks": tasks})

    return script


LLM_SETTINGS = {
    "backend": "openai", "score": {"model": "cheap-model", "min_score": 3}, "extract": {"model": "strong-model"},
    "review": {"model": "cheap-model"}, "timeout_s": 5, "max_wait_s": 0.2,
    "prices": {"cheap-model": {"input": 0.15, "output": 0.6}, "strong-model": {"input": 2.5, "output": 10.0}},
}


# ---------------------------------------------------------------------------------------------
# End to end: the demo recipe with the openai backend, run by the CLI.


def llm_recipe(tmp_path: Path, base_url: str, **settings: Any) -> Path:
    path = demo_recipe(tmp_path, executor={"workers": 1})
    recipe = yaml.safe_load(path.read_text())
    for entry in recipe["steps"]:
        if "extract" in entry:
            entry["extract"] = {**LLM_SETTINGS, "base_url": base_url, **settings}
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("llm")
    with FakeOpenAI(notebook_model(fabricate=True, out_of_range=True)) as server:
        recipe = llm_recipe(tmp_path, server.base_url)
        result = run_cli("run", str(recipe), env={**os.environ, "OPENAI_API_KEY": FAKE_KEY})
        assert result.returncode == 0, result.stderr
        yield tmp_path / "out", server, result, recipe


def rejects_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rejects" / "tasks.jsonl").read_text().splitlines()]


def test_every_notebook_ends_as_tasks_or_a_recorded_drop(llm_run):
    out, server, _, _ = llm_run
    stats = json.loads((out / "stats.json").read_text())
    rejects = [json.loads(line) for line in (out / "rejects" / "notebooks.jsonl").read_text().splitlines()]
    assert stats["notebooks"]["input"] == stats["notebooks"]["kept"] + len(rejects)
    extract = next(s for s in stats["steps"] if s["step"] == "extract")
    # the notebook of tables only is scored low by the model and dropped with that reason
    assert extract["reasons"] == {"low_quality_score": 1} and extract["out"] == 6
    assert all(r["reason"] for r in rejects)
    rows = task_rows(out)
    # the notebooks that cannot re-run offline give tasks too, grounded in their stored outputs; the
    # model's tasks there are on cells that need neither the URL, the missing file nor the Python 2
    # cell, so their solutions re-run with their files alone: interactive, as any task that re-runs.
    # (This model asks every notebook "What is the value computed in step N?": where two notebooks
    # compute the same value of the same file in the same cell, the task is written once.)
    duplicates = {r["path"] for r in rejects_of(out) if r["reason"] == "duplicate_task"}
    assert {row["ipynb_name"] for row in rows} | duplicates == {
        "notebooks/sales_summary.ipynb", "analysis.ipynb", "notebooks/outputs_stripped.ipynb",
        "notebooks/missing_returns.ipynb", "notebooks/network_rates.ipynb", "notebooks/python2.ipynb"}
    assert all(row["not_interactive"] is None and row["executable"] for row in rows)
    routed = {json.loads(line)["path"]: json.loads(line)["reason"]
              for line in (out / "rejects" / "not_interactive.jsonl").read_text().splitlines()}
    assert routed == {"notebooks/missing_returns.ipynb": "missing_file: ../data/returns.csv in cell 1",
                      "notebooks/network_rates.ipynb": "network_read: pd.read_csv(https://example.org/fx/eur-rates.csv) in cell 1",
                      "notebooks/python2.ipynb": "syntax_error: cell 1"}


def test_fabricated_answers_and_bad_cells_never_reach_the_shards(llm_run):
    out, _, _, _ = llm_run
    rows = task_rows(out)
    assert rows and all(FABRICATED not in row["label"] for row in rows)
    task_rejects = rejects_of(out)
    reasons = sorted(r["reason"] for r in task_rejects if r["reason"] != "duplicate_task")
    assert reasons == ["cell_out_of_range"] * 6 + ["ungrounded_answer"] * 6  # one of each per notebook extracted
    stats = json.loads((out / "stats.json").read_text())
    duplicates = len(task_rejects) - len(reasons)
    assert stats["tasks"]["dropped"] == {"cell_out_of_range": 6, "ungrounded_answer": 6,
                                         **({"duplicate_task": duplicates} if duplicates else {})}


def test_solutions_are_the_notebooks_own_code_and_outputs(llm_run):
    out, _, _, _ = llm_run
    for row in task_rows(out):
        notebook = json.loads(next((ROOT / "examples" / "repos").glob(f"*/{row['ipynb_name']}")).read_text())
        code_steps = row["solution"][:-1]
        assert [s["python_code"] for s in code_steps] == ["".join(notebook["cells"][i]["source"]) for i in row["cells"]]
        assert row["extractor_backend"] == "openai" and row["extractor_model"] == "strong-model"
        assert row["prompt_version"] == "score-1 extract-2 review-1"
        assert row["solution"][-1]["label"] == row["label"]
        # the slice brought in the cell that reads the data, so verify could re-run the solution
        assert "read_csv" in code_steps[0]["python_code"] and (row["verified"] or row["not_interactive"])


def test_counted_tokens_equal_the_servers_usage(llm_run):
    out, server, _, _ = llm_run
    metrics = json.loads((out / "stats.json").read_text())["metrics"]["extract"]
    prompt = sum(v for k, v in metrics.items() if k.endswith("_prompt_tokens"))
    completion = sum(v for k, v in metrics.items() if k.endswith("_completion_tokens"))
    assert (prompt, completion) == (server.usage_served["prompt_tokens"], server.usage_served["completion_tokens"])
    assert metrics["requests_sent"] == len(server.requests)
    expected_cost = sum(
        (metrics[f"{stage}_prompt_tokens"] * price["input"] + metrics[f"{stage}_completion_tokens"] * price["output"]) / 1e6
        for stage, price in (("score", LLM_SETTINGS["prices"]["cheap-model"]), ("extract", LLM_SETTINGS["prices"]["strong-model"]),
                             ("review", LLM_SETTINGS["prices"]["cheap-model"]))
    )
    assert metrics["cost_usd"] == pytest.approx(expected_cost) and metrics["cost_usd"] > 0


def test_the_api_key_is_in_no_output_file_and_no_log_line(llm_run):
    out, server, result, _ = llm_run
    assert all(r.headers.get("authorization") == f"Bearer {FAKE_KEY}" for r in server.requests)  # it was in use
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.parts[-4:-2] == ("_llm", "cache") for p in files) and (out / "_llm" / "spend.sqlite") in files
    assert [p for p in files if FAKE_KEY.encode() in p.read_bytes()] == []
    assert FAKE_KEY not in result.stdout + result.stderr


def test_a_second_run_sends_no_request_already_answered(llm_run, tmp_path):
    out, server, _, recipe = llm_run
    before = task_rows(out)
    sent = len(server.requests)
    for stage in (out / "_work").glob("stage-*"):
        shutil.rmtree(stage)  # every part must be computed again; only the cache remains
    result = run_cli("run", str(recipe), "--no-progress", env={**os.environ, "OPENAI_API_KEY": FAKE_KEY})
    assert result.returncode == 0, result.stderr
    assert len(server.requests) == sent
    assert task_rows(out) == before


# ---------------------------------------------------------------------------------------------
# Faults, on one real notebook through the step itself (fast).


@pytest.fixture
def sales_notebook():
    repo = describe_repository(ROOT / "examples" / "repos" / "acme__retail-analysis")
    notebook = read_notebook(repo, "notebooks/sales_summary.ipynb", 10_000_000)
    for step in (ValidateStep(), DepsStep()):
        step([notebook])
    assert notebook.kept
    return notebook


def extract_step(server: FakeOpenAI, output: Path, **settings: Any) -> ExtractStep:
    config = ExtractConfig.model_validate({**LLM_SETTINGS, "base_url": server.base_url, **settings})
    return ExtractStep(config, output=str(output))


def run_step(step: ExtractStep, notebook) -> None:
    try:
        step([notebook])
    finally:
        step.close()


def requests_of(server: FakeOpenAI, stage: str) -> list:
    return [r for r in server.requests if stage_of(r.body) == stage]


def test_429_waits_as_retry_after_says(sales_notebook, tmp_path):
    with FakeOpenAI(notebook_model(), faults=[error(429, "rate_limit_exceeded", retry_after="1")]) as server:
        run_step(extract_step(server, tmp_path, max_wait_s=5), sales_notebook)
    assert sales_notebook.kept and sales_notebook.tasks
    first, second = server.requests[:2]
    assert first.body == second.body and second.at - first.at >= 0.95


@pytest.mark.parametrize("faults", [
    [error(500, "server_error"), error(503, "overloaded")],
    [Reply(content="{}", delay_s=1.5)],  # slower than the client's timeout
], ids=["5xx", "timeout"])
def test_transient_failures_are_retried(sales_notebook, tmp_path, faults):
    with FakeOpenAI(notebook_model(), faults=faults) as server:
        run_step(extract_step(server, tmp_path, timeout_s=0.5), sales_notebook)
    assert sales_notebook.kept and sales_notebook.tasks
    assert len(requests_of(server, "score")) == len(faults) + 1


def test_a_server_that_keeps_failing_is_a_recorded_drop(sales_notebook, tmp_path):
    with FakeOpenAI(lambda body: error(500, "server_error")) as server:
        run_step(extract_step(server, tmp_path, max_attempts=3), sales_notebook)
    assert sales_notebook.drop_reason == "llm_unavailable"
    assert "3 attempts" in sales_notebook.checks["extract"]["error"]
    assert len(server.requests) == 3


def test_invalid_json_gets_one_repair_request(sales_notebook, tmp_path):
    with FakeOpenAI(notebook_model(), faults=[ok("here you go: {score: four")]) as server:
        run_step(extract_step(server, tmp_path), sales_notebook)
    assert sales_notebook.kept and sales_notebook.tasks
    repair = requests_of(server, "score")[1].body["messages"]
    assert repair[-2]["content"] == "here you go: {score: four" and "not valid JSON" in repair[-1]["content"]


@pytest.mark.parametrize("reply, reason", [
    (ok("not json"), "llm_invalid_json"),
    (ok({"score": 9}), "llm_invalid_json"),  # valid JSON, out of the 1-5 range
    (refusal(), "llm_refusal"),
    (error(400, "context_length_exceeded"), "llm_bad_request"),
])
def test_unusable_replies_are_recorded_drops(sales_notebook, tmp_path, reply, reason):
    with FakeOpenAI(lambda body: reply) as server:
        run_step(extract_step(server, tmp_path), sales_notebook)
    assert sales_notebook.drop_reason == reason and sales_notebook.dropped_by == "extract"
    assert len(server.requests) == (2 if reason == "llm_invalid_json" else 1)  # no retry of a 400


def test_insufficient_quota_stops_the_run_without_retrying(sales_notebook, tmp_path):
    with FakeOpenAI(lambda body: error(429, "insufficient_quota", "You exceeded your current quota")) as server:
        with pytest.raises(StopRun, match="quota"):
            run_step(extract_step(server, tmp_path), sales_notebook)
    assert len(server.requests) == 1 and sales_notebook.kept  # not dropped: a resume retries it


def test_visualisation_tasks_reference_the_chart_cell(tmp_path):
    from nbqa_builder.records import Cell, DataRef, Notebook

    png = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, "metadata": {}}
    notebook = Notebook("id", "o/r", "chart.ipynb", cells=[
        Cell("code", "import pandas as pd\ndf = pd.read_csv('d.csv')", 1),
        Cell("code", "df['x'].plot.hist()", 2, [png]),
        Cell("code", "df['x'].mean()", 3, []),
    ], data_refs=[DataRef("d.csv", 0, "pd.read_csv", "found", "d.csv", "a" * 64, 10, sites=[(0, 2, 5)])])
    draft = {"question": "Plot the distribution of x.", "concepts": ["Visualization"], "format": "a histogram",
             "answers": [], "is_visualization": True, "solution": [{"cell": 1, "thought": "Draw it."}]}
    no_chart = {**draft, "solution": [{"cell": 2, "thought": "Not a chart."}]}
    with FakeOpenAI(lambda body: ok({"tasks": [draft, no_chart]})) as server:
        run_step(extract_step(server, tmp_path, score=None, review=None), notebook)
    chart, other = notebook.tasks
    assert chart.drop_reason is None and chart.is_visualization and chart.cells == [0, 1]
    # the row keeps the chart's text form, never the image itself
    assert "iVBOR" not in json.dumps(chart.to_row()) and chart.solution[-2].code_output == "<Figure>"
    assert other.drop_reason == "no_chart_output"


def test_requests_run_concurrently_up_to_the_limit(sales_notebook, tmp_path):
    import copy

    notebooks = []
    for i in range(6):
        notebook = copy.deepcopy(sales_notebook)
        notebook.path = f"copy{i}.ipynb"  # a different notebook name: a different request
        notebooks.append(notebook)
    slow = notebook_model()
    with FakeOpenAI(lambda body: Reply(**{**slow(body).__dict__, "delay_s": 0.2})) as server:
        step = extract_step(server, tmp_path, max_concurrency=3, score=None, review=None)
        try:
            step(notebooks)
        finally:
            step.close()
    assert all(n.kept and n.tasks for n in notebooks)
    assert server.max_in_flight == 3


def test_max_cost_stops_the_run_and_counts_spend_across_resumes(sales_notebook, tmp_path):
    import copy

    from nbqa_builder.llm import SpendLedger

    with FakeOpenAI(notebook_model()) as server:
        first, second, again = sales_notebook, copy.deepcopy(sales_notebook), copy.deepcopy(sales_notebook)
        second.path = "other.ipynb"  # not answered yet
        run_step(extract_step(server, tmp_path), first)
        spent = SpendLedger(tmp_path / "_llm" / "spend.sqlite").total()
        assert first.kept and spent == pytest.approx(first.checks["metrics"]["extract"]["cost_usd"]) and spent > 0
        sent = len(server.requests)
        # a later process (a resume) with a budget that the spend on disk has reached
        with pytest.raises(StopRun, match="max_cost"):
            run_step(extract_step(server, tmp_path, max_cost=spent), second)
        assert len(server.requests) == sent and second.kept  # nothing sent, nothing dropped
        # a cached notebook still goes through: it costs nothing
        run_step(extract_step(server, tmp_path, max_cost=spent), again)
        assert again.kept and again.tasks and len(server.requests) == sent


def test_a_run_stopped_at_max_cost_exits_cleanly_and_resumes_with_a_larger_budget(tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    with FakeOpenAI(notebook_model()) as server:
        # one request at a time: with more, those in flight when the budget runs out still finish
        recipe = llm_recipe(tmp_path, server.base_url, max_cost=0.000001, max_concurrency=1)
        stopped = run_cli("run", str(recipe), "--no-progress", env=env)
        assert stopped.returncode == 3 and "max_cost reached" in stopped.stderr and "Traceback" not in stopped.stderr
        assert len(server.requests) == 1  # the first request spends the budget; no other is sent
        assert not (tmp_path / "out" / "stats.json").exists()
        data = yaml.safe_load(recipe.read_text())
        next(e for e in data["steps"] if "extract" in e)["extract"]["max_cost"] = 10.0
        recipe.write_text(yaml.safe_dump(data))
        resumed = run_cli("run", str(recipe), "--no-progress", env=env)
        assert resumed.returncode == 0, resumed.stderr
    assert task_rows(tmp_path / "out")
    first_body = server.requests[0].body
    assert sum(r.body == first_body for r in server.requests) == 1  # the paid reply was reused


def _write_spend_and_cache(work: str, worker: int) -> None:
    from nbqa_builder.llm import ReplyCache, SpendLedger

    ledger, cache = SpendLedger(Path(work) / "spend.sqlite"), ReplyCache(Path(work) / "cache")
    for i in range(40):
        ledger.add("extract", "m", 10, 1, 0.25)
        cache.put("ab" + "0" * 62, {"content": f"from worker {worker}", "refusal": None, "prompt_tokens": i, "completion_tokens": 1})


def test_spend_ledger_and_cache_are_shared_safely_by_two_worker_processes(tmp_path):
    import multiprocessing

    from nbqa_builder.llm import ReplyCache, SpendLedger

    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_spend_and_cache, args=(str(tmp_path), w)) for w in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [p.exitcode for p in workers] == [0, 0]
    assert SpendLedger(tmp_path / "spend.sqlite").total() == pytest.approx(2 * 40 * 0.25)
    assert ReplyCache(tmp_path / "cache").get("ab" + "0" * 62)["content"].startswith("from worker")
    assert not [p for p in (tmp_path / "cache").rglob("*.tmp")]


@pytest.mark.parametrize("name", ["local-llm.yaml", "nbqa-github.yaml"])
def test_shipped_llm_recipes_validate(name):
    if name == "nbqa-github.yaml" and shutil.which("bwrap") is None:
        pytest.skip("the paper's recipe executes in bubblewrap, which this machine lacks")
    result = run_cli("validate", str(ROOT / "recipes" / name))
    assert result.returncode == 0, result.stderr
    assert "extract" in result.stdout


def test_the_key_comes_from_the_environment_never_the_recipe(tmp_path):
    from nbqa_builder.recipe import RecipeError, parse_recipe

    text = (ROOT / "recipes" / "local-llm.yaml").read_text().replace("api_key_env: LOCAL_LLM_API_KEY", "api_key: sk-abc")
    with pytest.raises(RecipeError, match=r"steps\[6\]\.extract\.api_key: unknown key"):
        parse_recipe(text, "local-llm.yaml")
