"""`fetch: git` against the fake GitHub's git side (`git http-backend` on 127.0.0.1): what only git mode
has. The behaviours both modes share (faults, kills at random moments, tokens) are tested in
test_github_source.py, in each mode."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import time

import pytest

pytest.importorskip("github", reason="the github extra (PyGithub) is not installed")

from nbqa_builder.sources.github import MAX_FAILURES_IN_A_ROW, CrawlError, CrawlPaused, crawl  # noqa: E402
from nbqa_builder.sources.local import find_repositories  # noqa: E402
from tests.fake_github import FakeGithub, FakeRepo, Faults, Limit, blob_sha  # noqa: E402
from tests.github_fixtures import (  # noqa: E402
    NO_GIT,
    TOKENS,
    build_world,
    csv_bytes,
    expected_files,
    files_holding,
    manifest,
    mirror_files,
    notebook,
    run_crawl_command,
    settings,
    stored_blobs,
)

pytestmark = NO_GIT


def small_world() -> list[FakeRepo]:
    return [r for r in build_world() if r.full_name in ("ana-lytics/retail-sales", "cgarcia/survey", "fpark/deep-tree")]


def crawl_world(world, tmp_path, monkeypatch, faults=None, limits=None, **overrides):
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    monkeypatch.delenv("GITHUB_TOKENS", raising=False)
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, faults=faults, limits=limits) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch="git", **overrides)
        mirror = crawl(source, tmp_path, progress=False)
    return mirror, server, source


def clones_left(output) -> list[str]:
    """What the crawl's git clones left under its scratch folder (a clone holds a git `config`)."""
    clones = output / "_work" / "crawl" / "tmp" / "git"
    return sorted(p.relative_to(clones).as_posix() for p in clones.glob("*/*")) if clones.exists() else []


def crawl_recipe(tmp_path, server, world, **overrides):
    """A recipe file for the crawl command, crawling `world` from `server` into tmp_path/out."""
    source = settings(server, repositories=[r.full_name for r in world], code_search=None, **overrides)
    recipe = tmp_path / "crawl.yaml"
    recipe.write_text(json.dumps({"name": "crawl", "source": source.model_dump(exclude_defaults=True), "steps": [], "output": "out"}))
    return recipe


def test_a_repository_makes_two_rest_requests_and_its_blobs_come_in_one_git_fetch(tmp_path, monkeypatch):
    world = small_world()
    mirror, server, source = crawl_world(world, tmp_path, monkeypatch)
    expected = expected_files(world, source)
    assert mirror_files(mirror) == expected
    fetched = []
    for repo in world:
        rest = [e["path"] for e in server.log if not e.get("git") and e["path"].startswith(f"/repos/{repo.full_name}")]
        assert len(rest) == 2, rest  # metadata, tree
        fetches = [e for e in server.log if e.get("git") and e["path"].startswith(f"/{repo.full_name}.git/") and e["command"] == "fetch"]
        # a shallow, blob-less clone of the branch's commit, then the chosen blobs at once
        assert len(fetches) == 2 and fetches[0]["wants"] == [server.commits[repo.full_name.lower()]]
        assert {"deepen 1", "filter blob:none"} <= set(fetches[0]["arguments"])
        mine = {blob_sha(content) for path, content in repo.files.items() if f"{repo.full_name.replace('/', '__')}/{path}" in expected}
        assert set(fetches[1]["wants"]) <= mine
        fetched += fetches[1]["wants"]
    # every file's content came once, a copy in two repositories included
    assert sorted(fetched) == sorted({blob_sha(content) for content in expected.values()})
    assert not list((tmp_path / "_work" / "crawl" / "tmp" / "git").glob("*/*.git")), "clones are kept after the crawl"


def test_a_repository_deleted_between_search_and_clone_is_recorded_and_leaves_nothing(tmp_path, monkeypatch):
    world = small_world() + [FakeRepo("pat/deleted", {"gone.ipynb": notebook(9), "gone.csv": csv_bytes(5, 9)}, vanish_after="repo")]
    mirror, server, source = crawl_world(world, tmp_path, monkeypatch)
    statuses = {r["repo"]: r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"}
    assert statuses == {**{r.full_name: "crawled" for r in world[:3]}, "pat/deleted": "error:404"}
    assert not [e for e in server.log if e["path"].startswith("/repos/pat/deleted/git/")], "a deleted repository was listed"
    assert "pat__deleted" not in {p.name for p in mirror.iterdir()}
    assert mirror_files(mirror) == expected_files(world, source)


def test_a_clone_over_max_clone_bytes_is_skipped_with_its_reason(tmp_path, monkeypatch):
    wide = FakeRepo("quinn/monorepo", {f"module{i:03d}/part{j}/code.py": b"x = %d\n" % (i * 10 + j) for i in range(150) for j in range(4)}
                    | {"notebook.ipynb": notebook(3)})
    world = small_world() + [wide]
    mirror, server, source = crawl_world(world, tmp_path, monkeypatch, max_clone_bytes=20_000)
    statuses = {r["repo"]: r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"}
    assert statuses["quinn/monorepo"] == "skipped:clone_too_large"
    assert {statuses[r.full_name] for r in world[:3]} == {"crawled"}  # the trees of the others fit
    assert "quinn__monorepo" not in {p.name for p in mirror.iterdir()}
    assert not [e for e in server.log if e["path"].startswith("/repos/quinn/monorepo/git/")]


def test_a_failing_git_server_is_recorded_as_retryable_and_the_next_run_finishes(tmp_path, monkeypatch):
    world = small_world()
    faults = Faults(always={"/cgarcia/survey.git/": "error_502"})
    mirror, server, source = crawl_world(world, tmp_path, monkeypatch, faults=faults, retries=2)
    statuses = {r["repo"]: r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"}
    assert statuses["cgarcia/survey"] == "error:502"
    assert statuses["ana-lytics/retail-sales"] == statuses["fpark/deep-tree"] == "crawled"
    mirror, server, source = crawl_world(world, tmp_path, monkeypatch)  # the server is back
    assert {r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"} == {"crawled"}
    assert mirror_files(mirror) == expected_files(world, source)
    # only the failed repository was asked again
    assert {e["path"].split(".git/")[0] for e in server.log if e.get("git")} == {"/cgarcia/survey"}


@pytest.mark.parametrize("failing", ["fetch ", "fetch+blobs"])
def test_a_git_fetch_that_failed_through_its_tries_is_tried_again_before_the_run_ends(tmp_path, monkeypatch, failing):
    world = small_world()
    request = "POST /cgarcia/survey.git/git-upload-pack " + failing
    mirror, server, source = crawl_world(world, tmp_path, monkeypatch, faults=Faults(first={request: "error_502"}), retries=1)
    assert [e for e in server.log if e["status"] == 502], "the fault was not served"
    assert {r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"} == {"crawled"}
    assert mirror_files(mirror) == expected_files(world, source)
    assert server.rest_requests() == 2 * len(world)


@pytest.mark.parametrize("during", ["clone", "blobs"])
def test_sigkill_during_a_git_fetch_then_resume_gives_the_worlds_files(tmp_path, during):
    world = small_world()
    # the fetch of fpark/deep-tree is held long enough for the kill to land in it
    request = "POST /fpark/deep-tree.git/git-upload-pack " + ("fetch " if during == "clone" else "fetch+blobs")
    output, logs = tmp_path / "out", tmp_path / "crawl.log"
    mirror = output / "_work" / "crawl" / "mirror"
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, faults=Faults(first={request: "slow"}, slow_s=5)) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, timeout_s=30)
        recipe = tmp_path / "crawl.yaml"
        recipe.write_text(json.dumps({"name": "killed", "source": source.model_dump(exclude_defaults=True), "steps": [], "output": "out"}))
        process = run_crawl_command(recipe, tmp_path, logs, tokens=TOKENS[:1])
        deadline = time.time() + 60
        while request.strip() not in server.started and time.time() < deadline:
            assert process.poll() is None, logs.read_text()[-2000:]
            time.sleep(0.01)
        time.sleep(0.3)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        held = [e for e in server.log if e.get("fault") == "slow"]
        assert not held, "the held fetch ended before the kill"
        stored_at_kill = stored_blobs(mirror)
        assert not files_holding(output, TOKENS[0])  # the killed crawl's clones hold no token
        final = run_crawl_command(recipe, tmp_path, logs, tokens=TOKENS[:1])
        assert final.wait(timeout=120) == 0, logs.read_text()[-3000:]
        deliveries = server.blob_deliveries()
    assert mirror_files(mirror) == expected_files(world, source)
    assert {r["status"] for r in manifest(output) if r["kind"] == "repository"} == {"crawled"}
    counts: dict[str, int] = {}
    for entry in deliveries:
        for sha in entry["blobs"]:
            counts[sha] = counts.get(sha, 0) + 1
    assert not [sha for sha, n in counts.items() if n > 1 and sha in stored_at_kill], "a stored blob was fetched again"
    assert not [sha for sha, n in counts.items() if n > 2], "a blob was fetched more than once after the kill"
    assert {r.name for r in find_repositories(mirror)} == {r.full_name for r in world}
    assert TOKENS[0] not in logs.read_text()


def test_a_token_revoked_between_metadata_and_clone_is_dropped_and_git_goes_on_with_another(tmp_path, monkeypatch, caplog):
    world = small_world()
    monkeypatch.setenv("GITHUB_TOKENS", ",".join(TOKENS))
    # token 1 makes the first request (a repository's metadata), then is revoked: its clone is refused
    faults = Faults(revoke_after=(1, TOKENS[0]))
    with FakeGithub(world, tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}, faults=faults) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch="git", git_workers=1)
        mirror = crawl(source, tmp_path, progress=False)
        refused = [e for e in server.log if e["status"] == 401]
    assert mirror_files(mirror) == expected_files(world, source)
    assert len(refused) == 1 and refused[0].get("git"), refused
    assert any("rejected token 1" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)
    assert {e["token"] for e in server.log if e["status"] == 200} == {"t1", "t2"}
    for token in TOKENS:
        assert token not in caplog.text and not files_holding(tmp_path, token)


def test_the_token_reaches_git_only_in_its_environment_and_is_left_nowhere(tmp_path, monkeypatch):
    # a `git` before the real one on PATH notes each command line and environment
    real = shutil.which("git")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {tmp_path}/argv.log\n'
                                 f'env | grep -v "^PWD=" >> {tmp_path}/env.log\nexec {real} "$@"\n')
    (bin_dir / "git").chmod(0o755)
    header = base64.b64encode(f"x-access-token:{TOKENS[0]}".encode()).decode()
    world = small_world()
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")  # the crawl's git commands only
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch="git")
        mirror = crawl(source, tmp_path / "out", progress=False)
    assert mirror_files(mirror) == expected_files(world, source)
    assert {e["token"] for e in server.log if e.get("git")} == {"t1"}, "git went without the token"
    argv = (tmp_path / "argv.log").read_text()
    assert "--filter=blob:none" in argv and TOKENS[0] not in argv and header not in argv
    env = (tmp_path / "env.log").read_text().splitlines()
    assert not [line for line in env if TOKENS[0] in line]  # not even GITHUB_TOKEN
    assert {line.split("=", 1)[0] for line in env if header in line} <= {f"GIT_CONFIG_VALUE_{i}" for i in range(20)}
    for secret in (TOKENS[0], header):
        assert not files_holding(tmp_path / "out", secret)


def test_without_a_token_a_repository_gone_before_its_clone_is_recorded_and_the_crawl_goes_on(tmp_path, monkeypatch):
    # GitHub answers an anonymous git request for a repository it does not serve publicly with 401
    world = small_world() + [FakeRepo("pat/deleted", {"gone.ipynb": notebook(9)}, vanish_after="repo")]
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKENS", raising=False)
    with FakeGithub(world) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch="git")
        mirror = crawl(source, tmp_path, progress=False)
        assert [e["status"] for e in server.log if e["path"].startswith("/pat/deleted.git/")] == [401]
    statuses = {r["repo"]: r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"}
    assert statuses == {**{r.full_name: "crawled" for r in world[:3]}, "pat/deleted": "error:404"}
    assert mirror_files(mirror) == expected_files(world, source)


def test_without_git_the_crawl_says_how_to_get_it(tmp_path, monkeypatch):
    world = small_world()[:1]
    monkeypatch.setenv("PATH", str(tmp_path))  # no git here
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}) as server:
        with pytest.raises(CrawlError, match="git command-line client.*fetch: api"):
            crawl(settings(server, repositories=[world[0].full_name], code_search=None), tmp_path / "out", progress=False)


def test_a_git_outage_pauses_the_crawl_and_records_no_repository_error(tmp_path, monkeypatch):
    # more repositories than the failures in a row that mean "the service is down"
    world = [FakeRepo(f"owner{i}/study{i}", {"study.ipynb": notebook(i), "data.csv": csv_bytes(5, i)}) for i in range(MAX_FAILURES_IN_A_ROW + 2)]
    outage = Faults(always={".git/info/refs": "error_502", ".git/git-upload-pack": "error_503"})
    with pytest.raises(CrawlPaused, match="git"):
        crawl_world(world, tmp_path, monkeypatch, faults=outage, retries=2)
    statuses = {r["repo"]: r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"}
    assert set(statuses.values()) == {"pending"}, statuses  # nothing recorded as the repositories' own failure
    assert not clones_left(tmp_path)
    mirror, server, source = crawl_world(world, tmp_path, monkeypatch)  # the service is back
    assert {r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"} == {"crawled"}
    assert mirror_files(mirror) == expected_files(world, source)


@pytest.mark.parametrize("ending", ["error", "paused"])
def test_a_crawl_that_ends_early_leaves_no_clone(tmp_path, monkeypatch, ending):
    world = small_world()
    if ending == "error":  # the only token is revoked once the clones are under way: exit 2
        with pytest.raises(CrawlError, match="rejected token 1") as raised:
            crawl_world(world, tmp_path, monkeypatch, faults=Faults(revoke_after=(8, TOKENS[0])))
        assert not isinstance(raised.value, CrawlPaused)
    else:  # the REST limit is spent after the metadata, until beyond max_wait_s: exit 75
        with pytest.raises(CrawlPaused, match="max_wait_s"):
            crawl_world(world, tmp_path, monkeypatch, limits={"core": Limit(3, 600)}, max_wait_s=1)
    assert {r["status"] for r in manifest(tmp_path) if r["kind"] == "repository"} != {"crawled"}
    assert not clones_left(tmp_path)


def test_sigterm_stops_the_crawl_resumably_and_leaves_no_clone(tmp_path):
    world = small_world()
    request = "POST /fpark/deep-tree.git/git-upload-pack fetch "
    logs, output = tmp_path / "crawl.log", tmp_path / "out"
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, faults=Faults(first={request: "slow"}, slow_s=5)) as server:
        recipe = crawl_recipe(tmp_path, server, world, timeout_s=30)
        process = run_crawl_command(recipe, tmp_path, logs, tokens=TOKENS[:1])
        wait_for_request(server, request, process, logs)
        assert clones_left(output)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 75, logs.read_text()[-2000:]  # paused: run again to resume
        assert not clones_left(output)
        assert "SIGTERM" in logs.read_text()
        final = run_crawl_command(recipe, tmp_path, logs, tokens=TOKENS[:1])
        assert final.wait(timeout=120) == 0, logs.read_text()[-3000:]
    assert {r["status"] for r in manifest(output) if r["kind"] == "repository"} == {"crawled"}


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="lists processes through /proc")
def test_no_git_process_outlives_a_killed_crawler(tmp_path):
    world = small_world()
    request = "POST /fpark/deep-tree.git/git-upload-pack fetch "
    logs = tmp_path / "crawl.log"
    with FakeGithub(world, tokens={TOKENS[0]: "t1"}, faults=Faults(first={request: "slow"}, slow_s=6)) as server:
        process = run_crawl_command(crawl_recipe(tmp_path, server, world, timeout_s=30), tmp_path, logs, tokens=TOKENS[:1])
        wait_for_request(server, request, process, logs)
        # the crawl command runs in a session of its own: what it started is in that session
        assert [name for _, name in session_processes(process.pid) if name.startswith("git")], "no git process ran"
        os.kill(process.pid, signal.SIGKILL)  # the crawler alone, not its process group
        process.wait()
        time.sleep(1.0)
        survivors = session_processes(process.pid)
        for pid, _ in survivors:
            os.kill(pid, signal.SIGKILL)
    assert not survivors, f"git processes outlived the crawler: {survivors}"


def test_git_fetches_rotate_over_the_tokens(tmp_path, monkeypatch):
    world = small_world()
    monkeypatch.setenv("GITHUB_TOKENS", ",".join(TOKENS))
    with FakeGithub(world, tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}) as server:
        source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch="git")
        mirror = crawl(source, tmp_path, progress=False)
    assert mirror_files(mirror) == expected_files(world, source)
    fetches = [e["token"] for e in server.log if e.get("git") and e.get("command") == "fetch"]
    assert len(fetches) == 2 * len(world) and set(fetches) == {"t1", "t2"}, fetches
    assert abs(fetches.count("t1") - fetches.count("t2")) <= 1


def wait_for_request(server, request, process, logs) -> None:
    """Until the server began `request` (held there by a slow fault)."""
    deadline = time.time() + 60
    while request.strip() not in server.started and time.time() < deadline:
        assert process.poll() is None, logs.read_text()[-2000:]
        time.sleep(0.01)
    time.sleep(0.3)


def session_processes(session: int) -> list[tuple[int, str]]:
    """(pid, name) of the live processes of a session, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue  # ended while we looked
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        # fields: state, ppid, pgrp, session, ...
        if int(fields[3]) == session and fields[0] != "Z":
            found.append((int(entry), name))
    return found
