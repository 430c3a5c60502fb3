"""The GitHub crawler against a fake GitHub on 127.0.0.1 (tests/fake_github.py): real HTTP, real git,
real faults; each crawl behaviour in both fetch modes (`git`, the default, and `api`)."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import time

import pytest

pytest.importorskip("github", reason="the github extra (PyGithub) is not installed")

from nbqa_builder.deps.resolve import RepoFiles, resolve_data_refs  # noqa: E402
from nbqa_builder.deps.analyze import find_data_refs  # noqa: E402
from nbqa_builder.notebooks.parse import load_json, to_cells  # noqa: E402
from nbqa_builder.records import Notebook  # noqa: E402
from nbqa_builder.recipe import RecipeError, parse_recipe  # noqa: E402
from nbqa_builder.sources.github import CrawlError, CrawlPaused, crawl, read_repository_list  # noqa: E402
from nbqa_builder.sources.local import find_repositories  # noqa: E402
from tests.fake_git import http_backend_path  # noqa: E402
from tests.fake_github import FakeGithub, FakeRepo, Faults, Limit, blob_sha  # noqa: E402
from tests.github_fixtures import (  # noqa: E402
    FETCH_MODES,
    NO_GIT,
    TOKENS,
    add_corpus,
    build_world,
    comparable,
    crawl_clean,
    csv_bytes,
    expected_files,
    files_holding,
    manifest,
    mirror_files,
    notebook,
    run_crawl_command,
    settings,
)


@pytest.fixture(scope="module")
def clean_runs(tmp_path_factory):
    """One fault-free crawl of the world in each fetch mode: the reference manifests."""
    runs = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for fetch in ("git", "api") if http_backend_path() else ("api",):
            runs[fetch] = crawl_clean(tmp_path_factory.mktemp(f"clean-{fetch}"), build_world(), monkeypatch, fetch=fetch)
    return runs


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_clean_crawl_stores_exactly_the_worlds_files_with_provenance(clean_runs, fetch):
    mirror, server = clean_runs[fetch]
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
    # skipped repositories cost no tree listing and no download, over REST or git
    skipped = ("gina/sales-fork", "hank/old-project", "ivan/gpl-notebooks", "judy/unlicensed")
    assert not [e for e in server.log if any(f"/repos/{name}/" in e["path"] or f"/{name}.git/" in e["path"] for name in skipped)]
    # the local source reads provenance from .nbqa-repo.json; only crawled repositories have a folder
    info = json.loads((mirror / "fpark__deep-tree" / ".nbqa-repo.json").read_text())
    assert info == {"repo": "fpark/deep-tree", "commit": server.commits["fpark/deep-tree"], "license": "MIT", "url": f"{server.url}/fpark/deep-tree"}
    assert {r.name for r in find_repositories(mirror)} == {name for name, status in repos.items() if status == "crawled"}
    # a file with the same content in two repositories is fetched once
    assert max(server.delivered_blobs().values()) == 1


@NO_GIT
def test_both_fetch_modes_give_the_same_mirror_and_manifest_and_git_spares_the_rest_limit(clean_runs):
    (git_mirror, git_server), (api_mirror, api_server) = clean_runs["git"], clean_runs["api"]
    assert mirror_files(git_mirror) == mirror_files(api_mirror)
    assert manifest(git_mirror.parents[2]) == manifest(api_mirror.parents[2])
    assert api_server.git_requests() == 0 and git_server.git_requests() > 0
    # fetch: git asks REST only for searches, metadata and trees; the files came over git
    assert not [e for e in git_server.log if "/git/blobs/" in e["path"] or "/branches/" in e["path"]]
    listed = [r for r in manifest(git_mirror.parents[2]) if r["kind"] == "repository" and r["commit"]]
    core = [e for e in git_server.log if not e.get("git") and e["path"].startswith("/repos/")]
    assert len(core) <= 3 * len(listed)


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_second_run_of_a_finished_crawl_asks_nothing(tmp_path, monkeypatch, fetch):
    world = [r for r in build_world() if r.full_name in ("cgarcia/survey", "erin-o/lfs-data")]
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch=fetch)
        crawl(source, tmp_path, progress=False)
        first, requests = manifest(tmp_path), len(server.log)
        crawl(source, tmp_path, progress=False)
        assert len(server.log) == requests
    assert manifest(tmp_path) == first


# on git requests: each kind of fault at least once, wherever the random share puts the others
GIT_FAULTS = {
    "GET /bkim/weather-study.git/info/refs": "drop",
    "POST /ana-lytics/retail-sales.git/git-upload-pack ls-refs": "error_502",
    "POST /fpark/deep-tree.git/git-upload-pack fetch+blobs": "cut",
    "POST /dlee/big-files.git/git-upload-pack fetch+blobs": "error_503",
    "POST /cgarcia/survey.git/git-upload-pack fetch ": "drop",  # the clone's fetch (no blobs)
}


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_all_faults_on_the_crawl_still_yields_exactly_the_worlds_files(clean_runs, tmp_path, monkeypatch, caplog, fetch):
    caplog.set_level(logging.DEBUG)
    world = build_world()
    monkeypatch.setenv("GITHUB_TOKENS", ",".join(TOKENS))
    faults = Faults(rate=0.3, truncate_trees_over=5, exhaust_after=25, exhaust_for_s=2, first=dict(GIT_FAULTS))
    limits = {"core": Limit(40, 2), "code_search": Limit(8, 2)}
    with FakeGithub(world, tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}, faults=faults, limits=limits, search_cap=3) as server:
        source = settings(server, fetch=fetch)
        mirror = crawl(source, tmp_path / "out", progress=False)
    assert mirror_files(mirror) == expected_files(world, source)
    assert comparable(manifest(tmp_path / "out")) == comparable(manifest(clean_runs[fetch][0].parents[2]))
    assert max(server.delivered_blobs().values()) == 1, "a stored blob was fetched twice"
    # the faults did happen, and both tokens did work
    happened = {e["fault"] for e in server.log if not e.get("git")}
    assert happened >= {"secondary_403", "secondary_429", "error_502", "drop", "slow", "garbage", "primary_limit"}
    root = server.commit_trees[server.commits["fpark/deep-tree"]]
    assert any(e["path"].endswith(("/git/trees/" + server.commits["fpark/deep-tree"], "/git/trees/" + root)) and not e["query"]
               for e in server.log), "the truncated tree was not walked"
    assert {e["token"] for e in server.log if not e.get("git")} == {"t1", "t2"}
    if fetch == "git":
        assert {e["fault"] for e in server.log if e.get("git")} >= {"drop", "error_502", "error_503", "cut"}
    for token in TOKENS:
        assert token not in caplog.text
        assert not files_holding(tmp_path, token)


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_sigkill_at_random_moments_then_resume_gives_the_clean_manifest(clean_runs, tmp_path, fetch):
    world = build_world()
    faults = Faults(rate=0.15, kinds=("secondary_429", "error_502", "drop", "cut", "garbage"))
    output = tmp_path / "out"
    mirror = output / "_work" / "crawl" / "mirror"
    with FakeGithub(world, tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}, faults=faults, search_cap=3) as server:
        source = settings(server, fetch=fetch, git_workers=2).model_dump(exclude_defaults=True)
        recipe = tmp_path / "crawl.yaml"
        recipe.write_text(json.dumps({"name": "killed", "source": {**source, "fetch": fetch}, "steps": [], "output": "out"}))
        logs = tmp_path / "crawl.log"
        clean_requests = len(clean_runs[fetch][1].log)
        rng = random.Random(20240905)
        kills = []  # (the server's log length at the kill, the blobs the mirror held then)
        for _ in range(3):
            start = len(server.log)
            target = start + rng.randint(1, max(2, clean_requests // 3))
            process = run_crawl_command(recipe, tmp_path, logs)
            while len(server.log) < target and process.poll() is None:
                time.sleep(0.002)
            os.killpg(process.pid, signal.SIGKILL)  # the crawl and its git processes
            process.wait()
            kills.append((len(server.log), {blob_sha(c) for c in mirror_files(mirror).values()} if mirror.exists() else set()))
            for token in TOKENS:  # nothing a killed crawl leaves (a clone's git config, a log) holds a token
                assert not files_holding(output, token)
        assert len({k for k, _ in kills}) == 3 and kills[-1][0] < clean_requests, "the kills did not land during the crawl"
        final = run_crawl_command(recipe, tmp_path, logs)
        assert final.wait(timeout=120) == 0, logs.read_text()[-3000:]
        deliveries = server.blob_deliveries()
    assert comparable(manifest(output)) == comparable(manifest(clean_runs[fetch][0].parents[2]))
    assert mirror_files(mirror) == expected_files(world, settings(server))
    # a blob is fetched again only when a kill came after it was delivered and before it was stored
    last_delivery: dict[str, int] = {}
    refetched = []
    for entry in deliveries:
        for sha in entry["blobs"]:
            if sha in last_delivery:
                between = [stored for at, stored in kills if last_delivery[sha] < at <= entry["n"]]
                if not between or any(sha in stored for stored in between):
                    refetched.append(sha)
            last_delivery[sha] = entry["n"]
    assert refetched == [], "a stored blob was fetched again"
    # the tokens never reach a log line or a file
    for token in TOKENS:
        assert token not in logs.read_text()
        assert not files_holding(output, token)


@pytest.mark.parametrize("fetch, core_limit", [("git", 3), ("api", 6)])
def test_a_wait_longer_than_max_wait_stops_cleanly_and_the_next_run_finishes(tmp_path, monkeypatch, fetch, core_limit):
    world = [r for r in build_world() if r.full_name in ("ana-lytics/retail-sales", "bkim/weather-study", "cgarcia/survey")]
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, limits={"core": Limit(core_limit, 600)}) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, max_wait_s=1, fetch=fetch)
        with pytest.raises(CrawlPaused, match="max_wait_s"):
            crawl(source, tmp_path, progress=False)
        partial = manifest(tmp_path)
        assert server.rest_requests() == core_limit and partial  # stopped at the limit; what it did is in the manifest
        server.limits["core"] = Limit(1000, 600)  # the window resets
        server.windows.clear()
        mirror = crawl(source, tmp_path, progress=False)
    assert mirror_files(mirror) == expected_files(world, source)
    assert max(server.delivered_blobs().values()) == 1


def test_rate_limit_waits_show_in_the_progress_line(tmp_path, monkeypatch, capsys):
    world = [r for r in build_world() if r.full_name == "bkim/weather-study"]
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, limits={"core": Limit(3, 1)}) as server:
        source = settings(server, repositories=["bkim/weather-study"], code_search=None, fetch="api")
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
        source = settings(server, repositories=["cgarcia/survey"], code_search=None, retries=2, fetch="api")
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


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_a_rejected_token_is_a_clear_error(tmp_path, monkeypatch, fetch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_notKnownHere")
    with FakeGithub(build_world()[:1], tokens={TOKENS[0]: "t1"}) as server:
        with pytest.raises(CrawlError, match="401") as error:
            crawl(settings(server, repositories=["ana-lytics/retail-sales"], code_search=None, fetch=fetch), tmp_path, progress=False)
    assert "ghp_notKnownHere" not in str(error.value)


# -- loose ends found from outside (issue 19) ------------------------------------------------------

READER = "popular/reads-anything"


def reading_world() -> list[FakeRepo]:
    """A repository whose notebooks read files that no data extension names."""
    files = {
        "analysis/popularity.ipynb": notebook(1, "../data/popularity-contest"),
        "analysis/stations.ipynb": notebook(2, "C:\\Users\\me\\Desktop\\stations", call="pd.read_table"),
        "data/popularity-contest": csv_bytes(30, 1),  # read relative to the notebook's folder
        "raw/stations": csv_bytes(10, 2),  # read by an absolute path: found by its name
        "data/unread-table": csv_bytes(10, 3),  # no extension, read by no notebook
        "src/helpers.py": b"def helper():\n    return 1\n",
        "data/sales.csv": csv_bytes(5, 4),
    }
    return [FakeRepo(READER, files), FakeRepo("other/plain", {"plain.ipynb": notebook(3, "plain.csv"), "plain.csv": csv_bytes(4, 5)})]


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_files_without_a_data_extension_that_notebooks_read_are_fetched(tmp_path, monkeypatch, fetch):
    world = reading_world()
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch=fetch)
        mirror = crawl(source, tmp_path, progress=False)
        requests = len(server.log)
        crawl(source, tmp_path, progress=False)
        assert len(server.log) == requests, "a finished crawl asked again"
    stored = mirror_files(mirror)
    folder = "popular__reads-anything"
    assert stored[f"{folder}/data/popularity-contest"] == world[0].files["data/popularity-contest"]
    assert stored[f"{folder}/raw/stations"] == world[0].files["raw/stations"]
    assert f"{folder}/data/unread-table" not in stored and f"{folder}/src/helpers.py" not in stored
    rows = {r["path"]: r for r in manifest(tmp_path) if r["repo"] == READER and r["path"]}
    assert rows["data/popularity-contest"]["kind"] == "data" and rows["data/popularity-contest"]["status"] == "stored"
    assert "data/unread-table" not in rows
    # the deps step, reading the mirror, finds every file the notebooks read
    repo_dir = mirror / folder
    for path in ("analysis/popularity.ipynb", "analysis/stations.ipynb"):
        refs = find_data_refs(to_cells(load_json((repo_dir / path).read_bytes())))
        resolve_data_refs(Notebook(notebook_id="x", repo=READER, path=path), refs, RepoFiles(repo_dir))
        assert [ref.status for ref in refs] == ["found"], (path, refs)


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_a_file_a_notebook_reads_is_still_bound_by_the_size_limit(tmp_path, monkeypatch, fetch):
    world = [FakeRepo("big/reads", {"a.ipynb": notebook(1, "measurements"), "measurements": csv_bytes(2000, 1)})]
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=["big/reads"], code_search=None, fetch=fetch, max_data_file_bytes=1000)
        mirror = crawl(source, tmp_path, progress=False)
        assert blob_sha(world[0].files["measurements"]) not in server.delivered_blobs()
    rows = {r["path"]: r["status"] for r in manifest(tmp_path) if r["path"]}
    assert rows == {"a.ipynb": "stored", "measurements": "too_large"}
    assert set(mirror_files(mirror)) == {"big__reads/a.ipynb"}


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_a_revoked_token_is_dropped_with_a_warning_and_the_crawl_goes_on(tmp_path, monkeypatch, caplog, fetch):
    revoked = "ghp_REVOKEDtokenCCCC3333"
    world = [r for r in build_world() if r.full_name in ("ana-lytics/retail-sales", "cgarcia/survey", "fpark/deep-tree")]
    monkeypatch.setenv("GITHUB_TOKENS", f"{revoked},{TOKENS[0]}")  # the revoked one first: it is tried first
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch=fetch)
        mirror = crawl(source, tmp_path, progress=False)
        rejected = [e for e in server.log if e["status"] == 401]
    assert mirror_files(mirror) == expected_files(world, source)
    assert {r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"} == {"crawled"}
    assert len(rejected) == 1, "the revoked token was used again after GitHub rejected it"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("rejected token 1" in w and "dropped" in w for w in warnings), warnings
    assert revoked not in caplog.text and not files_holding(tmp_path, revoked)


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_a_repository_that_vanishes_mid_crawl_leaves_nothing_in_the_mirror(tmp_path, monkeypatch, fetch):
    # it vanishes once a first blob is served: in fetch: api after one file; in fetch: git after its
    # first batch, before the file its notebook reads comes in the second
    vanishing = FakeRepo("nora/short-lived", {"first.ipynb": notebook(1, "table"), "table": csv_bytes(5, 1),
                                              "second.csv": csv_bytes(6, 2)}, vanish_after="blob")
    staying = FakeRepo("olga/steady", {"steady.ipynb": notebook(2, "steady.csv"), "steady.csv": csv_bytes(7, 3)})
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub([vanishing, staying], tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=[vanishing.full_name, staying.full_name], code_search=None, fetch=fetch)
        mirror = crawl(source, tmp_path, progress=False)
        assert server.delivered_blobs(), "nothing of the vanishing repository was fetched before it vanished"
    rows = manifest(tmp_path)
    assert {r["repo"]: r["status"] for r in rows if r["kind"] == "repository"} == {
        "nora/short-lived": "error:404", "olga/steady": "crawled"}
    assert not [r for r in rows if r["repo"] == "nora/short-lived" and r["status"] == "stored"]
    assert sorted(p.name for p in mirror.iterdir()) == ["olga__steady"]
    assert [r.name for r in find_repositories(mirror)] == ["olga/steady"]


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
@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_the_corpus_crawled_through_faults_arrives_byte_for_byte(tmp_path, monkeypatch, fetch):
    world = add_corpus([])
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    faults = Faults(rate=0.2, kinds=("secondary_429", "error_503", "drop", "cut", "garbage"), truncate_trees_over=20)
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, faults=faults) as server:
        # no slow replies here: a longer timeout lets the fake pack the largest fetches (it answers
        # once git http-backend is done, where GitHub streams as it packs)
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, max_data_file_bytes=50_000_000,
                          fetch=fetch, timeout_s=30)
        mirror = crawl(source, tmp_path, progress=False)
    expected = expected_files(world, source)
    assert len(expected) > 100
    assert mirror_files(mirror) == expected
    assert max(server.delivered_blobs().values()) == 1
