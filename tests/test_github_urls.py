"""Data that crawled notebooks read by URL, fetched at crawl time (sources/github/urls.py), against
the fake GitHub (tests/fake_github.py) and a fake web server (tests/fake_web.py) on 127.0.0.1;
then the deps step, which rewrites each fetched read to the local copy (deps/step.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("github", reason="the github extra (PyGithub) is not installed")

from nbqa_builder.deps.step import DepsStep  # noqa: E402
from nbqa_builder.notebooks.validate import ValidateStep  # noqa: E402
from nbqa_builder.records import FOUND, URL  # noqa: E402
from nbqa_builder.recipe import RecipeError, parse_recipe  # noqa: E402
from nbqa_builder.sources.github import crawl  # noqa: E402
from nbqa_builder.sources.local import describe_repository, list_notebooks, read_notebook  # noqa: E402
from tests.fake_git import build_repository  # noqa: E402
from tests.fake_github import FakeGithub, FakeRepo  # noqa: E402
from tests.fake_web import FakeWeb, Page  # noqa: E402
from tests.github_fixtures import FETCH_MODES, TOKENS, csv_bytes, files_holding, notebook, settings  # noqa: E402

READER = "ana/reader"
SHARED = csv_bytes(40, 1)
RAW = "https://raw.githubusercontent.com/data-org/shared/main/tables/sales.csv"
BLOB = "https://github.com/data-org/shared/blob/main/tables/sales.csv"  # the same file: stored once
NESTED = "https://raw.githubusercontent.com/data-org/shared/release/v2/deep/er/points.csv"  # a branch with a slash
GIST = "https://gist.githubusercontent.com/gister/abc123/raw/readings.csv"
GPL = "https://raw.githubusercontent.com/gpl-org/data/main/x.csv"
NOT_THERE = "https://raw.githubusercontent.com/data-org/shared/main/tables/nope.csv"
TOO_BIG = "https://raw.githubusercontent.com/data-org/shared/main/tables/big.csv"
ELSEWHERE = "https://data.example.org/files/x.csv"
PRIVATE = "https://raw.githubusercontent.com/data-org/secret/main/x.csv"
SHARED_FILES = {"tables/sales.csv": SHARED, "tables/big.csv": csv_bytes(400, 2), "deep/er/points.csv": csv_bytes(10, 3)}
TAGGED = "https://raw.githubusercontent.com/data-org/shared/v1.0/deep/er/points.csv"  # a tag
# a short commit id (the fake's commits are made from the files, so the id is known beforehand)
SHORT = ("https://github.com/data-org/shared/raw/"
         f"{build_repository(SHARED_FILES, 'data-org/shared').commit[:7]}"
         "/tables/sales.csv")
MAX_BYTES = 5_000


def github_world() -> tuple[list[FakeRepo], dict[str, dict[str, bytes]]]:
    reads = {"raw": RAW, "blob": BLOB, "nested": NESTED, "gist": GIST, "gpl": GPL, "missing": NOT_THERE,
             "big": TOO_BIG, "elsewhere": ELSEWHERE, "private": PRIVATE, "tagged": TAGGED, "short": SHORT}
    reader = FakeRepo(READER, {f"nb/{name}.ipynb": notebook(i, url) for i, (name, url) in enumerate(reads.items())})
    # the same file, its URL built from parts: fetched, but no constant of the code can be rewritten
    base, name = RAW.rsplit("/", 1)
    reader.files["nb/parts.ipynb"] = notebook(20, name).replace(f"pd.read_csv('{name}')".encode(),
                                                                 f"pd.read_csv({base + '/'!r} + '{name}')".encode())
    shared = FakeRepo("data-org/shared", dict(SHARED_FILES), license="Apache-2.0", other_branches=("release/v2",),
                      tags=("v1.0",))
    gpl = FakeRepo("gpl-org/data", {"x.csv": csv_bytes(10, 4)}, license="GPL-3.0")
    secret = FakeRepo("data-org/secret", {"x.csv": csv_bytes(10, 6)}, private=True)
    return [reader, shared, gpl, secret], {"abc123": {"readings.csv": csv_bytes(12, 5)}}


def crawl_world(tmp_path: Path, monkeypatch, fetch: str = "api", licenses: object = "default", **overrides) -> tuple[Path, FakeGithub]:
    repos, gists = github_world()
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    monkeypatch.delenv("GITHUB_TOKENS", raising=False)
    server = FakeGithub(repos, tokens={TOKENS[0]: "t1"}, gists=gists)
    with server:
        chosen = {} if licenses == "default" else {"licenses": licenses}
        source = settings(server, repositories=[READER], code_search=None, fetch=fetch,
                          fetch_urls={"max_bytes": MAX_BYTES, **overrides}, **chosen)
        mirror = crawl(source, tmp_path / "out", progress=False)
        server.requests_after_first = len(server.log)
        crawl(source, tmp_path / "out", progress=False)  # a second run: resumes, fetches nothing again
    return mirror, server


def deps_of(repo_dir: Path, path: str):
    notebook = read_notebook(describe_repository(repo_dir), path, 1 << 30)
    ValidateStep()([notebook])
    DepsStep()([notebook])
    return notebook


@pytest.mark.parametrize("fetch", FETCH_MODES)
def test_urls_into_other_github_repositories_and_gists_are_fetched_once_with_their_license(tmp_path, monkeypatch, fetch):
    mirror, server = crawl_world(tmp_path, monkeypatch, fetch)
    assert len(server.log) == server.requests_after_first, "a resumed crawl fetched a stored URL again"
    folder = mirror / "ana__reader"
    index = json.loads((folder / ".nbqa-fetched.json").read_text())
    files, failed = index["files"], index["failed"]
    assert set(files) == {RAW, BLOB, NESTED, TAGGED, SHORT}  # a tag and a short commit id are refs too
    assert (folder / files[RAW]["path"]).read_bytes() == SHARED == (folder / files[BLOB]["path"]).read_bytes()
    assert files[RAW]["path"] == ".nbqa-fetched/raw.githubusercontent.com/data-org/shared/main/tables/sales.csv"
    # the holding repository's license and commit beside the file; a gist has none
    commit = server.commits["data-org/shared"]
    assert (files[RAW]["license"], files[RAW]["source"]) == ("Apache-2.0", f"data-org/shared@{commit}:tables/sales.csv")
    assert files[NESTED]["source"].endswith(":deep/er/points.csv")
    assert files[TAGGED]["source"] == f"data-org/shared@{commit}:deep/er/points.csv"
    assert files[SHORT]["source"] == files[RAW]["source"] and SHORT.split("/")[-3] == commit[:7]
    # stored once by content: the raw and the blob URL share one file of the store
    store = tmp_path / "out" / "_work" / "crawl" / "fetched"
    assert sorted(p.name for p in store.iterdir()) == sorted({entry["sha256"] for entry in files.values()})
    assert len(list(store.iterdir())) == 2
    # each failure with its reason; a gist has no license, so source.licenses keeps it out
    kinds = {url: entry["reason"].split(":", 1)[0] for url, entry in failed.items()}
    assert kinds == {GPL: "license", GIST: "license", NOT_THERE: "not_found", TOO_BIG: "over_cap",
                     ELSEWHERE: "host_not_allowed", PRIVATE: "private"}
    assert "GPL-3.0" in failed[GPL]["reason"] and str(MAX_BYTES) in failed[TOO_BIG]["reason"]
    # the big file was never downloaded, the GPL one neither
    assert not [e for e in server.log if "/git/blobs/" in e["path"] and ("gpl-org" in e["path"] or "secret" in e["path"])]
    # four URLs into one repository: its metadata and its branch asked once
    asked = [e["path"].split("?")[0] for e in server.log]
    assert asked.count("/repos/data-org/shared") == 1 and asked.count("/repos/data-org/shared/branches/main") == 1
    # the token is in no file the crawl wrote
    assert not files_holding(tmp_path / "out", TOKENS[0])


def test_the_deps_step_rewrites_a_fetched_url_to_its_copy_and_records_why_others_failed(tmp_path, monkeypatch):
    mirror, _ = crawl_world(tmp_path, monkeypatch)
    folder = mirror / "ana__reader"
    fetched = deps_of(folder, "nb/raw.ipynb")
    [ref] = fetched.data_refs
    local = "../.nbqa-fetched/raw.githubusercontent.com/data-org/shared/main/tables/sales.csv"
    assert (ref.status, ref.as_written, ref.resolved) == (FOUND, local, local[3:])
    assert fetched.checks["rewritten_reads"] == {RAW: local}
    assert local in fetched.cells[0].source and RAW not in fetched.cells[0].source
    assert fetched.checks["deps"]["complete"] and "url_fetch" not in fetched.checks

    for name, url, kind in (("gpl", GPL, "license"), ("gist", GIST, "license"), ("missing", NOT_THERE, "not_found"), ("big", TOO_BIG, "over_cap"),
                            ("elsewhere", ELSEWHERE, "host_not_allowed")):
        notebook = deps_of(folder, f"nb/{name}.ipynb")
        assert [(r.status, r.as_written) for r in notebook.data_refs] == [(URL, url)], name
        assert list(notebook.checks["url_fetch"]) == [url] and notebook.checks["url_fetch"][url].startswith(kind + ":")
        assert url in notebook.cells[0].source  # the code is left as its author wrote it
    parts = deps_of(folder, "nb/parts.ipynb")
    assert [(r.status, r.as_written) for r in parts.data_refs] == [(URL, RAW)]
    assert parts.checks["url_fetch"][RAW].startswith("not_rewritten:")


def test_a_gist_is_fetched_where_the_recipe_keeps_unlicensed_files(tmp_path, monkeypatch):
    mirror, _ = crawl_world(tmp_path, monkeypatch, licenses=None)
    folder = mirror / "ana__reader"
    entry = json.loads((folder / ".nbqa-fetched.json").read_text())["files"][GIST]
    assert (entry["license"], entry["source"]) == (None, "gist:abc123:readings.csv")
    assert (folder / entry["path"]).read_bytes() == csv_bytes(12, 5)
    assert [r.status for r in deps_of(folder, "nb/gist.ipynb").data_refs] == [FOUND]
    # the GPL repository is kept too, its license recorded
    assert json.loads((folder / ".nbqa-fetched.json").read_text())["files"][GPL]["license"] == "GPL-3.0"


def test_a_copy_of_a_url_is_not_found_by_its_file_name_for_a_local_read(tmp_path, monkeypatch):
    mirror, _ = crawl_world(tmp_path, monkeypatch)
    folder = mirror / "ana__reader"
    (folder / "nb" / "local.ipynb").write_bytes(notebook(9, "sales.csv"))  # a file of the repository that is not there
    [ref] = deps_of(folder, "nb/local.ipynb").data_refs
    assert ref.status == "missing"
    # a notebook fetched by URL is data of another repository, not one of this repository's notebooks
    fetched = folder / ".nbqa-fetched" / "raw.githubusercontent.com" / "x" / "y" / "main" / "read.ipynb"
    fetched.parent.mkdir(parents=True)
    fetched.write_bytes(notebook(10))
    assert ".nbqa-fetched" not in "".join(list_notebooks(describe_repository(folder), ["**/*.ipynb", "*/*/*/*/*/*.ipynb"]))


def test_github_urls_are_not_fetched_when_the_recipe_turns_them_off(tmp_path, monkeypatch):
    mirror, server = crawl_world(tmp_path, monkeypatch, github=False)
    index = json.loads((mirror / "ana__reader" / ".nbqa-fetched.json").read_text())
    assert index["files"] == {}
    assert {entry["reason"] for entry in index["failed"].values()} >= {"host_not_allowed: fetch_urls.github is off"}
    assert not [e for e in server.log if "data-org" in e["path"] or "/gists/" in e["path"]]


# -- other hosts ---------------------------------------------------------------------------------


OK_CSV = csv_bytes(30, 7)
WEB_PAGES = {
    "/data/ok.csv": Page(OK_CSV),
    "/data/moved.csv": Page(location="/data/ok.csv"),  # a redirect inside the allowed host
    "/data/slow.csv": Page(OK_CSV, delay_s=3),
    "/data/page.csv": Page(b"<!DOCTYPE html><html><body>Sign in</body></html>", content_type="text/html; charset=utf-8"),
    "/data/big.csv": Page(csv_bytes(400, 8)),
    "/data/away.csv": Page(location="http://127.0.0.2:9/x.csv"),  # a redirect to a host not allowed
}


def web_reader(web: FakeWeb) -> FakeRepo:
    names = ["ok", "moved", "slow", "page", "gone", "big", "away"]
    files = {f"nb/{name}.ipynb": notebook(i, f"{web.url}/data/{name}.csv") for i, name in enumerate(names)}
    files["nb/keyed.ipynb"] = notebook(9, f"{web.url}/data/ok.csv?token=s3cr3t")
    return FakeRepo(READER, files)


def test_an_allowed_host_is_fetched_by_plain_get_and_each_failure_has_its_reason(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    monkeypatch.delenv("GITHUB_TOKENS", raising=False)
    with FakeWeb(WEB_PAGES) as web, FakeGithub([web_reader(web)], tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=[READER], code_search=None, fetch="api",
                          fetch_urls={"hosts": [web.host], "max_bytes": MAX_BYTES, "timeout_s": 1})
        mirror = crawl(source, tmp_path / "out", progress=False)
        log = list(web.log)
        crawl(source, tmp_path / "out", progress=False)
        again = web.log[len(log):]
    folder = mirror / "ana__reader"
    index = json.loads((folder / ".nbqa-fetched.json").read_text())
    url = f"{web.url}/data/%s.csv"
    assert set(index["files"]) == {url % "ok", url % "moved"}
    assert (folder / index["files"][url % "ok"]["path"]).read_bytes() == OK_CSV
    assert index["files"][url % "ok"]["path"] == f".nbqa-fetched/{web.host.replace(':', '_')}/data/ok.csv"
    reasons = {u.rsplit("/", 1)[-1]: entry["reason"] for u, entry in index["failed"].items()}
    assert reasons["slow.csv"].startswith("timeout:")
    assert reasons["page.csv"].startswith("html:")
    assert reasons["gone.csv"].startswith("not_found:") and "404" in reasons["gone.csv"]
    assert reasons["big.csv"].startswith("over_cap:")
    assert reasons["away.csv"].startswith("host_not_allowed:") and "127.0.0.2" in reasons["away.csv"]
    assert reasons["ok.csv?token=s3cr3t"].startswith("credentials_in_url:")
    # plain GET, no credentials: the GitHub token never reaches another host
    assert {e["method"] for e in log} == {"GET"}
    assert not [e for e in log if "Authorization" in e["headers"] or "Cookie" in e["headers"]]
    assert not [e for e in log if "token=" in e["path"]]
    assert "ok.csv?token=***" in caplog.text and "s3cr3t" not in caplog.text and TOKENS[0] not in caplog.text
    # a resumed crawl asks again only what failed for a passing reason (the timeout)
    assert [e["path"] for e in again] == ["/data/slow.csv"]
    # nothing lost: each notebook keeps its read, fetched (rewritten) or a URL with its reason
    for name in ("slow", "page", "gone", "big", "away"):
        read = deps_of(folder, f"nb/{name}.ipynb")
        assert [r.status for r in read.data_refs] == [URL]
        assert read.checks["url_fetch"][url % name] == index["failed"][url % name]["reason"]
    assert [r.status for r in deps_of(folder, "nb/moved.ipynb").data_refs] == [FOUND]


def test_other_hosts_are_off_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    with FakeWeb(WEB_PAGES) as web, FakeGithub([web_reader(web)], tokens={TOKENS[0]: "t1"}) as server:
        source = settings(server, repositories=[READER], code_search=None, fetch="api")
        mirror = crawl(source, tmp_path / "out", progress=False)
    assert web.log == []
    index = json.loads((mirror / "ana__reader" / ".nbqa-fetched.json").read_text())
    assert index["files"] == {}
    assert all(entry["reason"].startswith(("host_not_allowed:", "credentials_in_url:")) for entry in index["failed"].values())


@pytest.mark.parametrize("hosts, message", [
    (["https://data.example.org"], "is not a host name"),
    (["data.example.org/files"], "is not a host name"),
])
def test_fetch_url_hosts_must_be_host_names(hosts, message):
    text = f"""
name: x
source: {{kind: github, repositories: [a/b], fetch_urls: {{hosts: {json.dumps(hosts)}}}}}
steps: [{{validate: {{}}}}]
output: out
"""
    with pytest.raises(RecipeError, match=message):
        parse_recipe(text, "x.yaml")


# -- a full run ----------------------------------------------------------------------------------


SALES = "region,amount\n" + "".join(f"{region},{(i * 7) % 23 + 0.5}\n"
                                    for i, region in zip(range(150), ["north", "south", "east"] * 50))
RUN_RECIPE = """
name: urls
source:
  kind: github
  api_url: "{url}"
  repositories: [{reader}]
  request_interval_s: 0
  fetch: api
steps:
  - validate: {{}}
  - deps: {{}}
  - filter: {{}}
  - redact: {{}}
  - dedup: {{exact: true}}
  - execute: {{sandbox: bwrap, runs: 1, timeout_s: 60}}
  - extract: {{backend: heuristic}}
  - verify: {{sandbox: bwrap, runs: 1, timeout_s: 60}}
output: "{output}"
executor: {{kind: local, workers: 1, part_size: 4}}
"""


ELSEWHERE = "https://data.example.org/tables/regions.csv"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)")
def test_a_run_fetches_the_url_rewrites_the_notebook_and_re_runs_it_offline(tmp_path, monkeypatch):
    from nbqa_builder.pipeline import Pipeline
    from tests.notebook_factory import NotebookFactory

    # the author's notebook read the table from another repository by URL; it ran on a local stand-in
    written = tmp_path / "written"
    written.mkdir()
    (written / "sales.csv").write_text(SALES)
    factory = NotebookFactory()
    try:
        factory.write(written, "nb/analysis.ipynb", [
            "import pandas as pd",
            "sales = pd.read_csv('../sales.csv')",
            "sales['amount'].mean()",
            "sales[sales['region'] == 'north']['amount'].max()",
        ], saved_as={"'../sales.csv'": repr(RAW)})
        # a second notebook reads its table from a host the recipe does not allow: kept for sft
        factory.write(written, "nb/elsewhere.ipynb", [
            "import pandas as pd\nregions = pd.read_csv('../sales.csv')",
            "regions['amount'].median()",
        ], saved_as={"'../sales.csv'": repr(ELSEWHERE)})
    finally:
        factory.close()
    reader = FakeRepo(READER, {"nb/analysis.ipynb": (written / "nb" / "analysis.ipynb").read_bytes(),
                               "nb/elsewhere.ipynb": (written / "nb" / "elsewhere.ipynb").read_bytes()})
    shared = FakeRepo("data-org/shared", {"tables/sales.csv": SALES.encode()}, license="Apache-2.0")
    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    monkeypatch.delenv("GITHUB_TOKENS", raising=False)
    output = tmp_path / "out"
    with FakeGithub([reader, shared], tokens={TOKENS[0]: "t1"}) as server:
        recipe = parse_recipe(RUN_RECIPE.format(url=server.url, reader=READER, output=output), "urls.yaml")
        stats = Pipeline(recipe, progress=False).run()
    assert stats["notebooks"]["input"] == 2
    sft = [row for path in (output / "dataset" / "data" / "sft").glob("train-*.parquet")
           for row in pq.read_table(path).to_pylist()]
    assert sft and {row["ipynb_name"] for row in sft} == {"nb/elsewhere.ipynb"}
    for row in sft:  # the reason names the read and why it was not fetched; the label is the stored output's
        assert row["not_interactive"].startswith(f"network_read: pd.read_csv({ELSEWHERE}) in cell 0 (not fetched: "
                                                 "host_not_allowed"), row["not_interactive"]
        assert not row["deps_complete"] and not row["reference_checked"] and row["label"].startswith("@median_amount[")
    rows = [row for path in (output / "dataset" / "data" / "interactive").glob("train-*.parquet")
            for row in pq.read_table(path).to_pylist()]
    assert rows, json.dumps(stats, indent=1)[:3000]
    local = "../.nbqa-fetched/raw.githubusercontent.com/data-org/shared/main/tables/sales.csv"
    for row in rows:
        assert row["executable"] and row["deps_complete"] and row["verified"]
        assert [f["path"] for f in row["data_files"]] == [local]
        assert row["data_files"][0]["sha256"] == hashlib.sha256(SALES.encode()).hexdigest()
        code = "".join(step["python_code"] or "" for step in row["solution"])
        assert local in code and "https://" not in code
    # the published file says where it came from and under which license: the holding repository's
    files = [row for path in (output / "dataset" / "data" / "files").glob("train-*.parquet")
             for row in pq.read_table(path).to_pylist()]
    [published] = [row for row in files if row["sha256"] == hashlib.sha256(SALES.encode()).hexdigest()]
    [origin] = published["origins"]
    assert origin["license"] == "Apache-2.0" != reader.license
    assert origin["source"].startswith("data-org/shared@") and origin["source"].endswith(":tables/sales.csv")
    assert not files_holding(output, TOKENS[0])


def fetched_state(output: Path) -> dict[str, bytes]:
    """The index and the copies a crawl left in the reader's folder, and the store."""
    folder = output / "_work" / "crawl" / "mirror" / "ana__reader"
    state = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if ".nbqa-fetched" in p.as_posix() and p.is_file()}
    state.update({f"store/{p.name}": p.read_bytes() for p in (output / "_work" / "crawl" / "fetched").iterdir()})
    return state


def test_sigkill_while_fetching_urls_then_resume_gives_the_clean_result(tmp_path, monkeypatch):
    import random
    import signal
    import time

    from tests.github_fixtures import run_crawl_command

    crawl_world(tmp_path / "clean", monkeypatch, licenses=None)
    clean = fetched_state(tmp_path / "clean" / "out")
    repos, gists = github_world()
    output = tmp_path / "out"
    with FakeGithub(repos, tokens={TOKENS[0]: "t1", TOKENS[1]: "t2"}, gists=gists) as server:
        source = settings(server, repositories=[READER], code_search=None, fetch="api", licenses=None,
                          fetch_urls={"max_bytes": MAX_BYTES})
        recipe = tmp_path / "crawl.yaml"
        recipe.write_text(json.dumps({"name": "killed", "source": source.model_dump(exclude_defaults=True) | {"licenses": None},
                                      "steps": [], "output": "out"}))
        logs = tmp_path / "crawl.log"
        rng = random.Random(7)
        urls_log = output / "_work" / "crawl" / "urls.jsonl"
        fetched_at_kill = []
        for _ in range(3):
            target = len(server.log) + rng.randint(4, 16)
            process = run_crawl_command(recipe, tmp_path, logs)
            while len(server.log) < target and process.poll() is None:
                time.sleep(0.002)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            fetched_at_kill.append(len(urls_log.read_text().splitlines()) if urls_log.exists() else 0)
        final = run_crawl_command(recipe, tmp_path, logs)
        assert final.wait(timeout=120) == 0, logs.read_text()[-3000:]
    fetched_in_all = len(urls_log.read_text().splitlines())
    assert any(0 < fetched < fetched_in_all for fetched in fetched_at_kill), "no kill landed while URLs were fetched"
    assert fetched_state(output) == clean
    for token in TOKENS:
        assert token not in logs.read_text() and not files_holding(output, token)
