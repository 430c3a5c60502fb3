"""`<output>/_llm/`: the LLM replies and the spend ledger survive `run --restart`, and only
`--forget-llm-cache` forgets the replies (never the spend). Through the CLI, against the fake
OpenAI-compatible server of tests/fake_openai.py."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from fake_openai import FakeOpenAI
from test_extract_llm import FAKE_KEY, LLM_SETTINGS, notebook_model
from test_pipeline import ROOT, run_cli, task_rows

ENV = {**os.environ, "OPENAI_API_KEY": FAKE_KEY}


def recipe_file(tmp_path: Path, base_url: str, **extract) -> Path:
    recipe = {
        "name": "restart", "output": str(tmp_path / "out"),
        "source": {"kind": "local", "path": str(ROOT / "examples" / "repos"),
                   "include": ["notebooks/sales_summary.ipynb", "notebooks/only_tables.ipynb", "analysis.ipynb"]},
        "steps": [{"validate": {}}, {"deps": {}}, {"redact": {}},
                  {"extract": {**LLM_SETTINGS, "base_url": base_url, "max_concurrency": 1, **extract}}],
        "executor": {"workers": 1},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def set_budget(recipe: Path, max_cost: float) -> None:
    data = yaml.safe_load(recipe.read_text())
    data["steps"][-1]["extract"]["max_cost"] = max_cost
    recipe.write_text(yaml.safe_dump(data))


def chat_bodies(server: FakeOpenAI) -> list[str]:
    return [json.dumps(r.body, sort_keys=True) for r in server.requests if r.path == "/v1/chat/completions"]


def stats_of(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def test_restart_sends_no_request_already_answered_and_stats_show_the_spend_of_every_run(tmp_path):
    out = tmp_path / "out"
    with FakeOpenAI(notebook_model()) as server:
        recipe = recipe_file(tmp_path, server.base_url, max_cost=0.000001)
        stopped = run_cli("run", str(recipe), "--no-progress", env=ENV)
        assert stopped.returncode == 3 and "max_cost reached" in stopped.stderr
        assert len(chat_bodies(server)) == 1  # one request paid, then the budget is spent
        set_budget(recipe, 10.0)
        second = run_cli("run", str(recipe), "--restart", "--no-progress", env=ENV)
        assert second.returncode == 0, second.stderr
        sent = chat_bodies(server)
        assert len(sent) == len(set(sent)) > 1  # the paid reply was not asked again
        first_stats = stats_of(out)
        third = run_cli("run", str(recipe), "--restart", "--no-progress", env=ENV)
        assert third.returncode == 0, third.stderr
        assert chat_bodies(server) == sent  # a third run sends nothing at all
    spend, metrics = first_stats["llm_spend"], first_stats["metrics"]["extract"]
    # the ledger holds both runs: every request once, and the dataset's price (each reply used once)
    assert spend["requests"] == len(sent) and metrics["requests_sent"] == len(sent) - 1
    assert spend["cost_usd"] == pytest.approx(metrics["cost_usd"]) and spend["cost_usd"] > 0
    assert set(spend["by_stage"]) == {"score", "extract", "review"} and set(spend["by_mode"]) == {"sync"}
    final = stats_of(out)
    assert final["llm_spend"] == spend and "requests_sent" not in final["metrics"]["extract"]
    assert final["metrics"]["extract"]["cache_hits"] == len(sent)
    assert task_rows(out)


def test_forget_llm_cache_asks_again_and_keeps_the_spend(tmp_path):
    out = tmp_path / "out"
    with FakeOpenAI(notebook_model()) as server:
        recipe = recipe_file(tmp_path, server.base_url)
        assert run_cli("run", str(recipe), "--no-progress", env=ENV).returncode == 0
        before, sent = stats_of(out)["llm_spend"], chat_bodies(server)
        again = run_cli("run", str(recipe), "--restart", "--forget-llm-cache", "--no-progress", env=ENV)
        assert again.returncode == 0, again.stderr
        assert chat_bodies(server) == sent + sent  # every request asked, and paid, again
    assert f"forgot {len(sent)} cached LLM replies" in again.stderr
    after = stats_of(out)["llm_spend"]
    assert after["requests"] == 2 * before["requests"] and after["cost_usd"] == pytest.approx(2 * before["cost_usd"])


def test_the_cache_and_ledger_of_an_older_run_in_work_are_kept_by_restart(tmp_path):
    """An output folder made before `_llm/` existed kept both in `_work/`, which --restart deletes:
    they are moved to `_llm/` first, the old ledger without its `mode` column included."""
    out = tmp_path / "out"
    with FakeOpenAI(notebook_model()) as server:
        recipe = recipe_file(tmp_path, server.base_url)
        assert run_cli("run", str(recipe), "--no-progress", env=ENV).returncode == 0
        sent = chat_bodies(server)
        spent = stats_of(out)["llm_spend"]["cost_usd"]
        shutil.move(out / "_llm" / "cache", out / "_work" / "llm-cache")
        with sqlite3.connect(out / "_work" / "llm-spend.sqlite") as old:
            old.execute("CREATE TABLE spend (at REAL, stage TEXT, model TEXT, prompt_tokens INTEGER,"
                        " completion_tokens INTEGER, cost REAL)")
            old.execute("INSERT INTO spend VALUES (0, 'extract', 'strong-model', 1, 1, ?)", (spent,))
        shutil.rmtree(out / "_llm")
        again = run_cli("run", str(recipe), "--restart", "--no-progress", env=ENV)
        assert again.returncode == 0, again.stderr
        assert chat_bodies(server) == sent
    assert not (out / "_work" / "llm-cache").exists()
    assert stats_of(out)["llm_spend"]["cost_usd"] == pytest.approx(spent)
