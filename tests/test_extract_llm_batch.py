"""`llm: {mode: batch}`: the openai extractor through the Batch API of a fake server
(tests/fake_openai.py: /v1/files, /v1/batches, their retrieval, real HTTP on 127.0.0.1).

The fake model is the one of test_extract_llm.py: it answers from the notebook it is shown, in a
batch as in a synchronous request. Batches go through validating and in_progress; the tests script
failed, expired, cancelled and partly failed batches, a create call that times out after it went
through, and a run killed while its batch is in progress.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from fake_openai import BatchPlan, FakeOpenAI, Reply, error
from nbqa_builder.deps.step import DepsStep
from nbqa_builder.extract.step import ExtractConfig, ExtractStep
from nbqa_builder.notebooks.validate import ValidateStep
from nbqa_builder.sources.local import describe_repository, read_notebook
from nbqa_builder.step import StopRun
from test_extract_llm import FAKE_KEY, LLM_SETTINGS, notebook_model, stage_of
from test_pipeline import ROOT, task_rows

BATCH = {"mode": "batch", "poll_interval_s": 0.02, "max_poll_interval_s": 0.05}
PRICES = {"cheap-model": {"input": 0.15, "output": 0.6, "batch_input": 0.075, "batch_output": 0.3},
          "strong-model": {"input": 2.5, "output": 10.0, "batch_input": 1.25, "batch_output": 5.0}}


@pytest.fixture
def notebooks():
    """Three notebooks with numbers to ask about (copies of one under other names: other
    requests) and one of tables only, which the model scores low."""
    repo = describe_repository(ROOT / "examples" / "repos" / "acme__retail-analysis")
    sales = read_notebook(repo, "notebooks/sales_summary.ipynb", 10_000_000)
    tables = read_notebook(repo, "notebooks/only_tables.ipynb", 10_000_000)
    for step in (ValidateStep(), DepsStep()):
        step([sales, tables])
    assert sales.kept and tables.kept
    copies = []
    for i in range(2):
        other = copy.deepcopy(sales)
        other.path = f"notebooks/copy{i}.ipynb"
        copies.append(other)
    return [sales, *copies, tables]


def extract(server: FakeOpenAI, output: Path, notebooks: list, **settings: Any) -> None:
    config = ExtractConfig.model_validate({**LLM_SETTINGS, "prices": PRICES, "base_url": server.base_url,
                                           "llm": BATCH, **settings})
    step = ExtractStep(config, output=str(output))
    try:
        step(notebooks)
    finally:
        step.close()


def posts(server: FakeOpenAI, path: str) -> list:
    return [r for r in server.requests if r.method == "POST" and r.path == path]


def batch_requests(server: FakeOpenAI) -> list[list[dict]]:
    """The requests of each batch created, in order (from the uploaded input files)."""
    return [[json.loads(line) for line in server.files[b["input_file_id"]]["content"].decode().splitlines()]
            for b in sorted(server.batches.values(), key=lambda b: int(b["id"].split("_")[1]))]


def task_view(notebooks: list) -> list:
    return [(n.path, n.drop_reason, [(t.id, t.label, t.drop_reason) for t in n.tasks]) for n in notebooks]


def test_every_stage_goes_through_batches_and_gives_what_sync_gives(notebooks, tmp_path, capfd):
    synchronous = copy.deepcopy(notebooks)
    with FakeOpenAI(notebook_model()) as server:
        extract(server, tmp_path / "batch", notebooks)
    assert not posts(server, "/v1/chat/completions")  # nothing was sent one by one
    # one batch per round and model: score (4 notebooks), extract (the 3 with numbers), review
    rounds = batch_requests(server)
    assert [[stage_of(r["body"]) for r in batch] for batch in rounds] == [["score"] * 4, ["extract"] * 3, ["review"] * 3]
    assert [{r["body"]["model"] for r in batch} for batch in rounds] == [{"cheap-model"}, {"strong-model"}, {"cheap-model"}]
    assert all(b["status"] == "completed" for b in server.batches.values())
    # each batch was watched through its states, with its counts
    err = capfd.readouterr().err
    for batch_id in server.batches:
        assert f"batch {batch_id} " in err and "validating" in err and "in_progress" in err
        assert f"batch {batch_id} (" in err and "completed, " in err
    assert "4/4 done" in err and "3/3 done" in err

    with FakeOpenAI(notebook_model()) as sync_server:
        extract(sync_server, tmp_path / "sync", synchronous, llm={"mode": "sync"})
    assert task_view(notebooks) == task_view(synchronous) and notebooks[0].tasks
    assert notebooks[-1].drop_reason == "low_quality_score"


def test_the_cost_is_the_batch_price_and_the_ledger_says_so(notebooks, tmp_path):
    with FakeOpenAI(notebook_model()) as server:
        extract(server, tmp_path, notebooks)
    metrics: dict[str, float] = {}
    for notebook in notebooks:
        for key, value in notebook.checks["metrics"]["extract"].items():
            metrics[key] = metrics.get(key, 0) + value
    assert metrics["requests_sent"] == metrics["batch_requests"] == 10 and "cache_hits" not in metrics
    prompt = sum(v for k, v in metrics.items() if k.endswith("_prompt_tokens"))
    completion = sum(v for k, v in metrics.items() if k.endswith("_completion_tokens"))
    assert (prompt, completion) == (server.usage_served["prompt_tokens"], server.usage_served["completion_tokens"])
    price = {"score": PRICES["cheap-model"], "extract": PRICES["strong-model"], "review": PRICES["cheap-model"]}
    expected = sum((metrics[f"{s}_prompt_tokens"] * p["batch_input"] + metrics[f"{s}_completion_tokens"] * p["batch_output"]) / 1e6
                   for s, p in price.items())
    full_price = sum((metrics[f"{s}_prompt_tokens"] * p["input"] + metrics[f"{s}_completion_tokens"] * p["output"]) / 1e6
                     for s, p in price.items())
    assert metrics["cost_usd"] == pytest.approx(expected) and expected == pytest.approx(full_price / 2)
    with sqlite3.connect(tmp_path / "_llm" / "spend.sqlite") as db:
        rows = db.execute("SELECT mode, COUNT(*), SUM(cost) FROM spend GROUP BY mode").fetchall()
    assert rows == [("batch", 10, pytest.approx(expected))]


def test_a_later_synchronous_run_sends_nothing(notebooks, tmp_path):
    fresh = copy.deepcopy(notebooks)
    with FakeOpenAI(notebook_model()) as server:
        extract(server, tmp_path, notebooks)
        sent = len(server.requests)
        extract(server, tmp_path, fresh, llm={"mode": "sync"})
    assert len(server.requests) == sent
    assert task_view(fresh) == task_view(notebooks)
    assert all("requests_sent" not in n.checks["metrics"]["extract"] for n in fresh)


@pytest.mark.parametrize("plans, batches_per_stage", [
    ([BatchPlan(end="failed")], 2),                 # a batch that fails validation is sent again whole
    ([BatchPlan(end="expired", done=1)], 2),        # the three it did not answer in time go again
    ([BatchPlan(end="cancelled")], 2),
], ids=["failed", "expired", "cancelled"])
def test_requests_of_a_batch_that_did_not_finish_go_in_the_next(notebooks, tmp_path, plans, batches_per_stage):
    with FakeOpenAI(notebook_model(), batch_plans=plans) as server:
        extract(server, tmp_path, notebooks)
    first, again = batch_requests(server)[:2]
    answered = 1 if plans[0].end == "expired" else 0
    assert [r["custom_id"] for r in again] == [r["custom_id"] for r in first][answered:]
    assert all(stage_of(r["body"]) == "score" for r in first + again)
    assert len(server.batches) == 3 + batches_per_stage - 1
    assert [n.drop_reason for n in notebooks] == [None, None, None, "low_quality_score"]


def test_failed_items_are_sent_again_and_refused_ones_are_drops(notebooks, tmp_path):
    # the first score request answered fails with a 500, the second with a 400 (the server refuses it)
    faults = [error(500, "server_error"), error(400, "invalid_prompt", "the prompt is not allowed")]
    with FakeOpenAI(notebook_model(), faults=faults) as server:
        extract(server, tmp_path, notebooks)
    score, retry = batch_requests(server)[:2]
    assert [r["custom_id"] for r in retry] == [score[0]["custom_id"]]  # the 500, not the 400
    assert notebooks[0].kept and notebooks[0].tasks
    assert notebooks[1].drop_reason == "llm_bad_request" and "HTTP 400" in notebooks[1].checks["extract"]["error"]
    assert notebooks[2].kept and notebooks[3].drop_reason == "low_quality_score"


def test_a_request_that_keeps_failing_is_dropped_after_the_limit(notebooks, tmp_path):
    plans = [BatchPlan(end="expired", done=0)] * 2
    with FakeOpenAI(notebook_model(), batch_plans=plans) as server:
        extract(server, tmp_path, notebooks, llm={**BATCH, "max_batch_attempts": 2})
    assert len(server.batches) == 2  # the limit: two batches, nothing after
    assert {n.drop_reason for n in notebooks} == {"llm_batch_expired"}
    assert all("in 2 batches" in n.checks["extract"]["error"] for n in notebooks)


def test_a_create_call_that_times_out_after_it_went_through_is_not_repeated(notebooks, tmp_path):
    # the server creates the batch but answers after the client's time-out; the client must find it
    late = {"batches.create": [Reply(status=200, delay_s=1.0)]}
    with FakeOpenAI(notebook_model(), api_faults=late) as server:
        extract(server, tmp_path, notebooks[:1], timeout_s=0.3, score=None, review=None)
    assert len(posts(server, "/v1/batches")) == 1 and len(server.batches) == 1
    assert notebooks[0].kept and notebooks[0].tasks


def test_a_server_without_a_batch_api_stops_the_run_with_the_fix(notebooks, tmp_path):
    no_files = {"files.create": [error(404, "not_found", "Not Found")] * 10}
    with FakeOpenAI(notebook_model(), api_faults=no_files) as server:
        with pytest.raises(StopRun, match=r"404.*mode: sync"):
            extract(server, tmp_path, notebooks)
    assert not server.batches and all(n.kept for n in notebooks)  # nothing dropped: a resume redoes them


def test_batch_api_outages_are_retried_then_stop_the_run(notebooks, tmp_path):
    flaky = {"batches.retrieve": [error(503, "overloaded"), error(500, "server_error")]}
    with FakeOpenAI(notebook_model(), api_faults=flaky) as server:
        extract(server, tmp_path, notebooks[:1], max_wait_s=0.05, score=None, review=None)
    assert notebooks[0].tasks
    down = {"batches.retrieve": [error(503, "overloaded")] * 10}
    again = copy.deepcopy(notebooks[1:2])
    with FakeOpenAI(notebook_model(), api_faults=down) as server:
        with pytest.raises(StopRun, match="did not answer"):
            extract(server, tmp_path / "down", again, max_wait_s=0.05, max_attempts=3, score=None, review=None)


def test_max_cost_is_checked_before_a_batch_is_submitted(notebooks, tmp_path):
    from nbqa_builder.llm.store import SpendLedger

    with FakeOpenAI(notebook_model()) as server:
        extract(server, tmp_path, notebooks[:1], score=None, review=None)
        spent = SpendLedger(tmp_path / "_llm" / "spend.sqlite").total()
        created = len(server.batches)
        with pytest.raises(StopRun, match="max_cost"):
            extract(server, tmp_path, notebooks[1:2], score=None, review=None, max_cost=spent)
        assert len(server.batches) == created and notebooks[1].kept


class Killed(BaseException):
    """A SIGKILL at one point of the code: nothing after it runs, and no handler sees it."""


def spend_rows(output: Path) -> int:
    with sqlite3.connect(output / "_llm" / "spend.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM spend").fetchone()[0]


def test_a_run_killed_between_caching_a_batch_and_recording_its_spend_records_it_when_resumed(
        notebooks, tmp_path, monkeypatch):
    from nbqa_builder.llm.store import ReplyCache

    put = ReplyCache.put
    with FakeOpenAI(notebook_model()) as server:
        def put_then_die(cache, key, reply):
            put(cache, key, reply)
            first = batch_requests(server)[0]
            if reply.get("batch") and all(cache.get(r["custom_id"]) is not None for r in first):
                raise Killed  # every reply of the first batch cached, none of its spend recorded

        monkeypatch.setattr(ReplyCache, "put", put_then_die)
        with pytest.raises(Killed):
            extract(server, tmp_path, notebooks)
        assert spend_rows(tmp_path) == 0 and list((tmp_path / "_llm" / "batches").glob("*.jsonl"))
        monkeypatch.setattr(ReplyCache, "put", put)
        extract(server, tmp_path, copy.deepcopy(notebooks))
    sent = [r["custom_id"] for batch in batch_requests(server) for r in batch]
    assert len(sent) == len(set(sent))  # nothing paid for twice
    assert spend_rows(tmp_path) == len(sent)  # and every reply paid for is in the ledger
    assert not list((tmp_path / "_llm" / "batches").glob("*.jsonl"))  # the killed run's batch was collected


def test_a_sync_run_killed_between_caching_a_reply_and_recording_its_spend_records_it_when_resumed(
        notebooks, tmp_path, monkeypatch):
    from nbqa_builder.llm.store import SpendLedger

    add = SpendLedger.add

    def die(*args, **kwargs):
        raise Killed  # the reply is cached, its spend is not recorded

    with FakeOpenAI(notebook_model()) as server:
        monkeypatch.setattr(SpendLedger, "add", die)
        with pytest.raises(Killed):
            extract(server, tmp_path, notebooks[:1], llm={"mode": "sync"})
        monkeypatch.setattr(SpendLedger, "add", add)
        extract(server, tmp_path, copy.deepcopy(notebooks[:1]), llm={"mode": "sync"})
    sent = [json.dumps(r.body, sort_keys=True) for r in posts(server, "/v1/chat/completions")]
    assert sent and len(sent) == len(set(sent))  # nothing paid for twice
    assert spend_rows(tmp_path) == len(sent)  # and every reply paid for is in the ledger


# ---------------------------------------------------------------------------------------------
# A run killed while its batch is in progress, through the CLI.


def small_recipe(tmp_path: Path, base_url: str, **extract: Any) -> Path:
    recipe = {
        "name": "batch", "output": str(tmp_path / "out"),
        "source": {"kind": "local", "path": str(ROOT / "examples" / "repos"),
                   "include": ["notebooks/sales_summary.ipynb", "notebooks/only_tables.ipynb", "analysis.ipynb"]},
        "steps": [{"validate": {}}, {"deps": {}}, {"redact": {}},
                  {"extract": {**LLM_SETTINGS, "prices": PRICES, "base_url": base_url, "llm": BATCH, **extract}}],
        "executor": {"workers": 1},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nbqa_builder", *args]


def test_a_run_killed_while_its_batch_is_in_progress_resumes_that_batch(tmp_path):
    hold = threading.Event()
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    with FakeOpenAI(notebook_model(), batch_plans=[BatchPlan(hold=hold)]) as server:
        recipe = small_recipe(tmp_path, server.base_url)
        run = subprocess.Popen(cli("run", str(recipe), "--no-progress"), cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not any(b["_polls"] >= 2 for b in server.batches.values()):  # created and watched
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no batch was created"
            time.sleep(0.05)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        assert list(server.batches) == ["batch_1"]
        hold.set()  # the batch finishes while no run watches it
        resumed = subprocess.run(cli("run", str(recipe), "--no-progress"), cwd=ROOT, env=env, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
    out = tmp_path / "out"
    assert task_rows(out)
    # the resumed run watched batch_1 again and never sent its requests a second time
    assert any(r.path == "/v1/batches/batch_1" and r.at > 0 for r in server.requests)
    assert "batch batch_1 (cheap-model, score): completed" in resumed.stderr
    custom_ids = [r["custom_id"] for batch in batch_requests(server) for r in batch]
    assert len(custom_ids) == len(set(custom_ids)) and len(posts(server, "/v1/batches")) == len(server.batches) == 3
    # no key in the batch state, the cache, the shards or the logs
    files = [p for p in out.rglob("*") if p.is_file()]
    assert (out / "_llm" / "spend.sqlite") in files
    assert [p for p in files if FAKE_KEY.encode() in p.read_bytes()] == []
    assert FAKE_KEY not in resumed.stdout + resumed.stderr


def test_restart_after_an_outage_gives_the_failed_requests_a_new_chance(tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}
    with FakeOpenAI(notebook_model(), batch_plans=[BatchPlan(end="failed")] * 30) as down:  # every batch fails
        recipe = small_recipe(tmp_path, down.base_url)
        failed = subprocess.run(cli("run", str(recipe), "--no-progress"), cwd=ROOT, env=env, capture_output=True, text=True)
    assert failed.returncode == 0, failed.stderr
    assert not task_rows(tmp_path / "out") and "llm_batch_failed" in (tmp_path / "out" / "rejects" / "notebooks.jsonl").read_text()
    with FakeOpenAI(notebook_model()) as healthy:
        recipe = small_recipe(tmp_path, healthy.base_url)
        again = subprocess.run(cli("run", str(recipe), "--restart", "--no-progress"), cwd=ROOT, env=env,
                               capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert task_rows(tmp_path / "out") and healthy.batches  # the requests went out again, and were answered
    rejects = tmp_path / "out" / "rejects" / "notebooks.jsonl"
    assert not rejects.exists() or "llm_batch_failed" not in rejects.read_text()


@pytest.mark.parametrize("step, settings, message", [
    ("extract", {"llm": {"mode": "batches"}}, r"steps\[3\]\.extract\.llm\.mode: Input should be 'sync' or 'batch'"),
    ("extract", {"llm": {"mode": "batch", "stages": ["solve"]}}, r"llm\.stages: solve is not a stage of extract"),
    ("extract", {"llm": {"poll_interval_s": 60, "max_poll_interval_s": 5}}, r"poll_interval_s 60\.0 is above max_poll_interval_s"),
    ("extract", {"llm": {"mode": "batch", "max_requests": 60000}}, r"llm\.max_requests: Input should be less than or equal to 50000"),
    ("solve", {"model": "m", "sandbox": "process", "max_cost": 1}, r"max_cost needs a price for m"),
    ("solve", {"model": "m", "sandbox": "process", "llm": {"stages": ["review"]}}, r"review is not a stage of solve"),
    ("solve", {"sandbox": "process"}, r"steps\[4\]\.solve\.model: Field required"),
], ids=["mode", "extract-stages", "poll-order", "batch-size", "solve-price", "solve-stages", "solve-model"])
def test_bad_llm_settings_are_clear_recipe_errors(step, settings, message):
    from nbqa_builder.recipe import RecipeError, parse_recipe

    extract = {**LLM_SETTINGS, **(settings if step == "extract" else {})}
    steps = [{"validate": {}}, {"deps": {}}, {"redact": {}}, {"extract": extract}]
    if step == "solve":
        steps.append({"solve": settings})
    text = yaml.safe_dump({"name": "x", "source": {"kind": "local", "path": "."}, "steps": steps, "output": "out"})
    with pytest.raises(RecipeError, match=message):
        parse_recipe(text, "r.yaml")
