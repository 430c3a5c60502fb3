"""The GitHub crawler against a fake GitHub on 127.0.0.1 (tests/fake_github.py): real HTTP, real faults."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("github", reason="the github extra (PyGithub) is not installed")

from nbqa_builder.recipe import GithubSource, RecipeError, parse_recipe  # noqa: E402
from nbqa_builder.sources.github import CrawlError, CrawlPaused, crawl, plan_crawl, read_repository_list  # noqa: E402
from tests.fake_github import LFS_POINTER, FakeGithub, FakeRepo, Faults, Limit, blob_sha, repos_from_folder  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
TOKENS = ("ghp_FAKEsecretTOKENaaaa1111", "ghp_FAKEsecretTOKENbbbb2222")
# repositories the code search cannot find (forks are left out of it, blocked ones are gone) or
# that it should not need to; the rest of the world is found by code search only
LISTED = ["gina/sales-fork", "hank/old-project", "ivan/gpl-notebooks", "judy/unlicensed", "leo/taken-down", "mia/missing"]
MAX_DATA = 2_000_000


def notebook(seed: int, reads: str = "data.csv") -> bytes:
    """A small analysis notebook; `seed` varies its size so that code-search size slices can split."""
    cells = [
        {"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {}, "outputs": [],
         "source": ["import pandas as pd\n", f"df = pd.read_csv('{reads}')\n", "# " + "x" * (seed * 37)]},
        {"cell_type": "code", "execution_count": 2, "id": "b", "metadata": {},
         "outputs": [{"name": "stdout", "output_type": "stream", "text": [f"{seed}\n"]}], "source": ["print(len(df))"]},
    ]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def csv_bytes(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return ("a,b,c\n" + "".join(f"{i},{rng.random():.6f},{rng.randint(0, 10**6)}\n" for i in range(rows))).encode()


def build_world() -> list[FakeRepo]:
    repos = repos_from_folder(HERE / "github_world")
    deep = {f"part{i}/sub{j}/analysis{i}{j}.ipynb": notebook(40 + 3 * i + j) for i in range(3) for j in range(3)}
    deep.update({f"part{i}/sub0/values.csv": csv_bytes(20, i) for i in range(3)})
    repos += [
        FakeRepo("dlee/big-files", {
            "analysis.ipynb": notebook(1, "data/large.csv"),
            "data/large.csv": csv_bytes(50_000, 1),  # over 1 MB: only the blob API serves it
            "data/huge.csv": csv_bytes(120_000, 2),  # over MAX_DATA: listed as too_large, never fetched
        }),
        FakeRepo("erin-o/lfs-data", {"model.ipynb": notebook(2), "data/measurements.csv": LFS_POINTER}),
        FakeRepo("fpark/deep-tree", deep),
        FakeRepo("gina/sales-fork", {"sales.ipynb": notebook(3)}, fork=True),
        FakeRepo("hank/old-project", {"old.ipynb": notebook(4)}, archived=True),
        FakeRepo("ivan/gpl-notebooks", {"gpl.ipynb": notebook(5)}, license="GPL-3.0"),
        FakeRepo("judy/unlicensed", {"mine.ipynb": notebook(6)}, license=None),
        FakeRepo("kate/vanishing", {"gone.ipynb": notebook(7), "gone.csv": csv_bytes(10, 7)}, vanishes=True),
        FakeRepo("leo/taken-down", {"dmca.ipynb": notebook(8)}, blocked=True),
    ]
    return repos


def add_corpus(repos: list[FakeRepo]) -> list[FakeRepo]:
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    return repos + repos_from_folder(CORPUS)


def settings(server: FakeGithub, **overrides) -> GithubSource:
    values = dict(
        kind="github",
        api_url=server.url,
        repositories=LISTED,
        code_search={"terms": "pandas", "result_cap": 3, "max_size": 400_000},
        max_data_file_bytes=MAX_DATA,
        timeout_s=1,  # the fake's slow replies take longer
        retry_backoff_s=0.01,
        request_interval_s=0,
        secondary_wait_s=0.2,
        max_wait_s=30,
    )
    values.update(overrides)
    return GithubSource.model_validate(values)


def expected_files(repos: list[FakeRepo], source: GithubSource) -> dict[str, bytes]:
    """The oracle: what a crawl must store, from the world and the settings alone."""
    expected = {}
    for repo in repos:
        if repo.fork or repo.archived or repo.blocked or repo.vanishes or repo.license not in source.licenses:
            continue
        for path, content in repo.files.items():
            suffix = Path(path).suffix.lower()
            if suffix in source.notebook_extensions:
                limit = source.max_notebook_bytes
            elif suffix in source.data_extensions:
                limit = source.max_data_file_bytes
            else:
                continue
            if len(content) <= limit and not content.startswith(b"version https://git-lfs"):
                expected[f"{repo.full_name.replace('/', '__')}/{path}"] = content
    return expected


def mirror_files(mirror: Path) -> dict[str, bytes]:
    return {p.relative_to(mirror).as_posix(): p.read_bytes() for p in mirror.rglob("*") if p.is_file() and p.name != ".nbqa-repo.json"}


def manifest(output: Path) -> list[dict]:
    lines = (output / "_work" / "crawl" / "manifest.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def comparable(rows: list[dict]) -> list[dict]:
    """The manifest without the vanishing repository's files: when it vanishes decides whether they were listed."""
    return [r for r in rows if not (r["repo"] == "kate/vanishing" and r["path"] is not None)]


def crawl_clean(tmp_path: Path, repos: list[FakeRepo], monkeypatch, **overrides) -> tuple[Path, FakeGithub]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    monkeypatch.delenv("GITHUB_TOKENS", raising=False)
    with FakeGithub(repos, tokens={TOKENS[0]: "t1"}, search_cap=3) as server:
        mirror = crawl(settings(server, **overrides), tmp_path / "out", progress=False)
    return mirror, server


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """One fault-free crawl of the world: the reference manifest."""
    tmp = tmp_path_factory.mktemp("clean")
    with pytest.MonkeyPatch.context() as monkeypatch:
        mirror, server = crawl_clean(tmp, build_world(), monkeypatch)
    return mirror, server


def test_clean_crawl_stores_exactly_the_worlds_files_with_provenance(clean_run):
    mirror, server = clean_run
    world = build_world()
    source = settings(server)
    assert mirror_files(mirror) == expected_files(world, source)
    rows = manifest(mirror.parents[2])
    repos = {r["repo"]: r["status"] for r in rows if r["kind"] == "repository"}
    # every repository is accounted for, those found only by code search (3 results a query) included
    assert set(repos) == {r.full_name for r in world} | {"mia/missing"}
    assert repos["gina/sales-fork"] == "skipped:fork"
    assert repos["hank/old-project"] == "skipped:archived"
    assert repos["ivan/gpl-notebooks"] == repos["judy/unlicensed"] == "skipped:license"
    assert repos["leo/taken-down"] == "error:451"
    assert repos["mia/missing"] == repos["kate/vanishing"] == "error:404"
    files = {(r["repo"], r["path"]): r for r in rows if r["path"]}
    assert files[("erin-o/lfs-data", "data/measurements.csv")]["status"] == "lfs_pointer"
    assert files[("dlee/big-files", "data/huge.csv")]["status"] == "too_large"
    assert all(r["status"] == "stored" for k, r in files.items() if "/".join(k).replace("/", "__", 1) in expected_files(world, source))
    # skipped repositories cost no tree listing and no download
    skipped = ("gina/sales-fork", "hank/old-project", "ivan/gpl-notebooks", "judy/unlicensed")
    assert not [e for e in server.log if any(f"/repos/{name}/" in e["path"] for name in skipped)]
    # the local source reads provenance from .nbqa-repo.json
    info = json.loads((mirror / "fpark__deep-tree" / ".nbqa-repo.json").read_text())
    assert info == {"repo": "fpark/deep-tree", "commit": server.commits["fpark/deep-tree"], "license": "MIT", "url": f"{server.url}/fpark/deep-tree"}
    # a file with the same content in two repositories is fetched once
    assert max(server.delivered_blobs().values()) == 1


def test_second_run_of_a_finished_crawl_asks_nothing(tmp_path, monkeypatch):
    world = [r for r in build_world() if r.full_name in ("cgarcia/survey", "erin-o/lfs-data")]
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None)
        crawl(source, tmp_path, progress=False)
        first, requests = manifest(tmp_path), len(server.log)
        crawl(source, tmp_path, progress=False)
        assert len(server.log) == requests
    assert manifest(tmp_path) == first


def test_all_faults_on_the_crawl_still_yields_exactly_the_worlds_files(clean_run, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    world = build_world()
    monkeypatch.setenv("GITHUB_TOKENS", ",".join(TOKENS))
    faults = Faults(rate=0.3, truncate_trees_over=5, exhaust_after=25, exhaust_for_s=2)
    limits = {"core": Limit(40, 2), "code_search": Limit(8, 2)}
    with FakeGithub(world, tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}, faults=faults, limits=limits, search_cap=3) as server:
        source = settings(server)
        mirror = crawl(source, tmp_path / "out", progress=False)
    assert mirror_files(mirror) == expected_files(world, source)
    assert comparable(manifest(tmp_path / "out")) == comparable(manifest(clean_run[0].parents[2]))
    assert max(server.delivered_blobs().values()) == 1, "a stored blob was fetched twice"
    # the faults did happen, and both tokens did work
    happened = {e["fault"] for e in server.log}
    assert happened >= {"secondary_403", "secondary_429", "error_502", "drop", "slow", "garbage", "primary_limit"}
    assert any(e["path"].endswith("/git/trees/" + server.commits["fpark/deep-tree"]) and not e["query"] for e in server.log)
    assert {e["token"] for e in server.log} == {"t1", "t2"}
    for token in TOKENS:
        assert token not in caplog.text
        assert not [p for p in tmp_path.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]


def run_crawl_command(recipe: Path, cwd: Path, log_file: Path) -> subprocess.Popen:
    env = {**os.environ, "GITHUB_TOKENS": ",".join(TOKENS), "PYTHONPATH": str(ROOT)}
    env.pop("GITHUB_TOKEN", None)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "nbqa_builder.commands.crawl", str(recipe), "-vv", "--no-progress"],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
        )


def test_sigkill_at_random_moments_then_resume_gives_the_clean_manifest(clean_run, tmp_path):
    world = build_world()
    faults = Faults(rate=0.15, kinds=("secondary_429", "error_502", "drop", "cut", "garbage"))
    with FakeGithub(world, tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}, faults=faults, search_cap=3) as server:
        source = settings(server).model_dump(exclude_defaults=True)
        recipe = tmp_path / "crawl.yaml"
        recipe.write_text(json.dumps({"name": "killed", "source": source, "steps": [], "output": "out"}))
        logs = tmp_path / "crawl.log"
        clean_requests = len(clean_run[1].log)
        rng = random.Random(20240905)
        kills = []
        for _ in range(3):
            start = len(server.log)
            target = start + rng.randint(1, max(2, clean_requests // 3))
            process = run_crawl_command(recipe, tmp_path, logs)
            while len(server.log) < target and process.poll() is None:
                time.sleep(0.002)
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills.append(len(server.log))
        assert len(set(kills)) == 3 and kills[-1] < clean_requests, "the kills did not land during the crawl"
        final = run_crawl_command(recipe, tmp_path, logs)
        assert final.wait(timeout=120) == 0, logs.read_text()[-3000:]
        log_entries = list(server.log)
    output = tmp_path / "out"
    assert comparable(manifest(output)) == comparable(manifest(clean_run[0].parents[2]))
    assert mirror_files(output / "_work" / "crawl" / "mirror") == expected_files(world, settings(server))
    # a blob is fetched again only when the crawl was killed right after receiving it
    delivered = [e for e in log_entries if e["status"] == 200 and e["fault"] is None]
    allowed: dict[str, int] = {}
    for kill in kills:
        before = [e for e in delivered if e["n"] < kill]
        if before and "/git/blobs/" in before[-1]["path"]:
            sha = before[-1]["path"].rsplit("/", 1)[1]
            allowed[sha] = allowed.get(sha, 0) + 1
    counts: dict[str, int] = {}
    for e in delivered:
        if "/git/blobs/" in e["path"]:
            sha = e["path"].rsplit("/", 1)[1]
            counts[sha] = counts.get(sha, 0) + 1
    assert {sha: n for sha, n in counts.items() if n > 1 + allowed.get(sha, 0)} == {}
    # the tokens never reach a log line or a file
    for token in TOKENS:
        assert token not in logs.read_text()
        assert not [p for p in output.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]


def test_a_wait_longer_than_max_wait_stops_cleanly_and_the_next_run_finishes(tmp_path, monkeypatch):
    world = [r for r in build_world() if r.full_name in ("ana-lytics/retail-sales", "bkim/weather-study", "cgarcia/survey")]
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, limits={"core": Limit(6, 600)}) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, max_wait_s=1)
        with pytest.raises(CrawlPaused, match="max_wait_s"):
            crawl(source, tmp_path, progress=False)
        partial = manifest(tmp_path)
        assert len(server.log) == 6 and partial  # stopped at the limit; what it did is in the manifest
        server.limits["core"] = Limit(1000, 600)  # the window resets
        server.windows.clear()
        mirror = crawl(source, tmp_path, progress=False)
    assert mirror_files(mirror) == expected_files(world, source)
    assert max(server.delivered_blobs().values()) == 1


def test_rate_limit_waits_show_in_the_progress_line(tmp_path, monkeypatch, capsys):
    world = [r for r in build_world() if r.full_name == "bkim/weather-study"]
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, limits={"core": Limit(3, 1)}) as server:
        source = settings(server, repositories=["bkim/weather-study"], code_search=None)
        mirror = crawl(source, tmp_path, progress=True)
    progress = capsys.readouterr().err
    assert re.search(r"waiting \d+s: core limit", progress), progress[-500:]
    assert mirror_files(mirror) == expected_files(world, source)
    assert not [e for e in server.log if e["fault"] == "primary_limit"], "the crawl ran into a limit it knew of"


def test_a_garbled_blob_is_recorded_and_the_rest_is_crawled(tmp_path, monkeypatch):
    world = [r for r in build_world() if r.full_name == "cgarcia/survey"]
    bad = blob_sha(world[0].files["responses.csv"])
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, faults=Faults(always={f"/git/blobs/{bad}": "garbage"})) as server:
        source = settings(server, repositories=["cgarcia/survey"], code_search=None, retries=2)
        mirror = crawl(source, tmp_path, progress=False)
    rows = {r["path"]: r["status"] for r in manifest(tmp_path) if r["path"]}
    assert rows == {"responses.csv": "error:bad_reply", "sales_copy.csv": "stored", "survey.ipynb": "stored"}
    expected = expected_files(world, source)
    del expected["cgarcia__survey/responses.csv"]
    assert mirror_files(mirror) == expected


def test_a_crawl_state_refuses_other_file_choice_settings(tmp_path, monkeypatch):
    world = [r for r in build_world() if r.full_name == "cgarcia/survey"]
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        crawl(settings(server, repositories=["cgarcia/survey"], code_search=None), tmp_path, progress=False)
        with pytest.raises(CrawlError, match="data_extensions"):
            crawl(settings(server, repositories=["cgarcia/survey"], code_search=None, data_extensions=[".csv"]), tmp_path, progress=False)


def test_a_rejected_token_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_notKnownHere")
    with FakeGithub(build_world()[:1], tokens={TOKENS[0]: "t1"}) as server:
        with pytest.raises(CrawlError, match="401") as error:
            crawl(settings(server, repositories=["ana-lytics/retail-sales"], code_search=None), tmp_path, progress=False)
    assert "ghp_notKnownHere" not in str(error.value)


def test_plan_for_47k_repositories_scales_with_the_tokens(tmp_path, monkeypatch):
    names = tmp_path / "repos.txt"
    names.write_text("# the paper's scale\n" + "".join(f"https://github.com/owner{i}/repo{i}\n" for i in range(47_000)))
    hours = {}
    with FakeGithub([], tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}, limits={"core": Limit(5000, 3600)}) as server:
        for count in (1, 2):
            monkeypatch.setenv("GITHUB_TOKENS", ",".join(TOKENS[:count]))
            text = plan_crawl(settings(server, repositories=[], repositories_file=str(names), code_search=None))
            assert "47,000" in text and f"{5000 * count:,}/hour" in text
            hours[count] = float(re.search(r"time: about ([\d,.]+) hours", text).group(1).replace(",", ""))
            for token in TOKENS:
                assert token not in text
    assert hours[1] == pytest.approx(2 * hours[2], rel=0.01)
    assert not [e for e in server.log if e["path"] != "/rate_limit"], "the plan crawled"


def test_bad_github_settings_are_clear_errors(tmp_path):
    def source(text: str) -> str:
        return f"name: x\nsource: {text}\nsteps: []\noutput: out\n"

    with pytest.raises(RecipeError, match="source.token: unknown key"):
        parse_recipe(source("{kind: github, repositories: [a/b], token: abc}"))
    with pytest.raises(RecipeError, match="at least one of repositories"):
        parse_recipe(source("{kind: github}"))
    with pytest.raises(RecipeError, match="'not-a-repo' is not an owner/name"):
        parse_recipe(source("{kind: github, repositories: [not-a-repo]}"))
    listing = tmp_path / "repos.txt"
    listing.write_text("a/b\n\nthis is not a repo\n")
    with pytest.raises(CrawlError, match=r"repos.txt:3: .*not a GitHub owner/name"):
        read_repository_list(listing)


@pytest.mark.corpus
@pytest.mark.slow
def test_the_corpus_crawled_through_faults_arrives_byte_for_byte(tmp_path, monkeypatch):
    world = add_corpus([])
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    faults = Faults(rate=0.2, kinds=("secondary_429", "error_503", "drop", "cut", "garbage"), truncate_trees_over=20)
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, faults=faults) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, max_data_file_bytes=50_000_000)
        mirror = crawl(source, tmp_path, progress=False)
    expected = expected_files(world, source)
    assert len(expected) > 100
    assert mirror_files(mirror) == expected
    assert max(server.delivered_blobs().values()) == 1
