"""`crawl --plan` / `run --plan`: the requests and hours of a crawl in both fetch modes, against the fake
GitHub, a closed port and a server that never answers."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("github", reason="the github extra (PyGithub) is not installed")

from nbqa_builder.sources.github import CrawlPaused, crawl, plan_crawl  # noqa: E402
from tests.fake_github import FakeGithub, FakeRepo, Limit  # noqa: E402
from tests.github_fixtures import ROOT, TOKENS, csv_bytes, notebook, settings  # noqa: E402


def hours_of(text: str, mode: str) -> float:
    """The hours the plan gives for a fetch mode."""
    line = next(line for line in text.splitlines() if line.startswith(f"fetch: {mode}"))
    number, unit = re.search(r"about ([\d,.]+) (hours|minutes|seconds)\s*(?:\(|$)", line).groups()
    return float(number.replace(",", "")) / {"hours": 1, "minutes": 60, "seconds": 3600}[unit]


def rest_requests_of(text: str, mode: str) -> int:
    line = next(line for line in text.splitlines() if line.startswith(f"fetch: {mode}"))
    return int(re.search(r"about ([\d,]+) REST requests", line).group(1).replace(",", ""))


def test_plan_at_the_papers_scale_takes_under_a_day_with_one_token_in_git_mode(tmp_path, monkeypatch):
    names = tmp_path / "repos.txt"
    names.write_text("# the paper's scale\n" + "".join(f"https://github.com/owner{i}/repo{i}\n" for i in range(47_000)))
    plans = {}
    with FakeGithub([], tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}, limits={"core": Limit(5000, 3600)}) as server:
        for count in (1, 2):
            monkeypatch.setenv("GITHUB_TOKENS", ",".join(TOKENS[:count]))
            plans[count] = plan_crawl(settings(server, repositories=[], repositories_file=str(names), code_search=None))
            assert "47,000" in plans[count] and f"{5000 * count:,}/hour" in plans[count]
            for token in TOKENS:
                assert token not in plans[count]
        api_plan = plan_crawl(settings(server, repositories=[], repositories_file=str(names), code_search=None, fetch="api"))
    one = plans[1]
    assert "fetch: git (this recipe)" in one and "with fetch: git" in one.splitlines()[-1]
    assert "fetch: api (this recipe)" in api_plan and "with fetch: api" in api_plan.splitlines()[-1]
    assert hours_of(one, "git") < 24, one
    assert hours_of(one, "api") > 20 * hours_of(one, "git")
    # the REST work is shared by the tokens: twice the tokens, half the hours (the git work aside)
    assert hours_of(plans[1], "api") == pytest.approx(2 * hours_of(plans[2], "api"), rel=0.01)
    assert hours_of(plans[2], "git") < hours_of(plans[1], "git")
    assert not [e for e in server.log if e["path"] != "/rate_limit"], "the plan crawled"


def three_repositories() -> list[FakeRepo]:
    return [FakeRepo(f"team{i}/pandas-study{i}", {f"nb{j}.ipynb": notebook(i * 10 + j) for j in range(3)}
                     | {f"data/t{j}.csv": csv_bytes(20, i * 10 + j) for j in range(4)}, description="pandas analysis")
            for i in range(3)]


def test_plan_counts_a_repository_found_by_every_discovery_key_once(monkeypatch):
    world = three_repositories()
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=[r.full_name for r in world], repo_search="pandas",
                          code_search={"terms": "pandas", "result_cap": 1000, "max_size": 400_000})
        text = plan_crawl(source)
    assert re.search(r"repositories: about 3 \(", text), text
    assert "repository search: 3 results in 3 repositories" in text and "code search: 9 notebooks in 3 repositories" in text
    assert rest_requests_of(text, "git") == 3 * 2


def test_plan_of_a_paused_crawl_counts_the_files_of_the_trees_it_listed(tmp_path, monkeypatch):
    world = three_repositories()
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    files = sum(len(r.files) for r in world)
    # fetch: api lists each repository (3 requests) then fetches its files: stop with the last one's files half done
    first_run = 3 * 3 + files - 4
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, limits={"core": Limit(first_run, 600)}) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch="api", max_wait_s=1)
        with pytest.raises(CrawlPaused):
            crawl(source, tmp_path, progress=False)
        server.limits["core"] = Limit(5000, 3600)  # a new window
        server.windows.clear()
        text = plan_crawl(source, tmp_path)
        before = server.rest_requests()
        crawl(source, tmp_path, progress=False)
        measured = server.rest_requests() - before
    assert re.search(r"0 repositories to list, 1 listed with 4 files to fetch", text), text
    assert rest_requests_of(text, "api") == measured == 4
    assert "fit in what is left of this hour's limit: no wait" in text
    # 4 requests are a few round trips, not a share of the hour's window
    assert hours_of(text, "api") * 3600 < 10


def run_plan(recipe: Path, command: str = "crawl") -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", command, str(recipe), "--plan"], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "GITHUB_TOKEN": TOKENS[0], "PYTHONPATH": str(ROOT)}, timeout=120)
    return result, time.monotonic() - started


@pytest.mark.parametrize("command, network", [("crawl", "closed port"), ("crawl", "no reply"), ("run", "closed port")])
def test_plan_without_github_says_so_within_seconds_with_exit_code_2(tmp_path, command, network):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if network == "closed port":
        listener.close()
    else:
        listener.listen(8)  # connections are made, never answered
    try:
        source = {"kind": "github", "api_url": f"http://127.0.0.1:{port}", "repositories": ["a/b"], "repo_search": "pandas",
                  "code_search": {"terms": "pandas"}}
        recipe = tmp_path / "plan.yaml"
        recipe.write_text(json.dumps({"name": "offline", "source": source, "steps": [], "output": str(tmp_path / "out")}))
        result, seconds = run_plan(recipe, command)
    finally:
        listener.close()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "GitHub cannot be reached" in result.stderr and f"127.0.0.1:{port}" in result.stderr
    assert seconds < 20
    assert TOKENS[0] not in result.stdout + result.stderr
