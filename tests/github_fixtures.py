"""The world the crawler's tests serve (tests/fake_github.py), the settings to crawl it, and the oracle:
what a crawl must store, computed from the world and the settings alone."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.recipe import GithubSource
from tests.fake_git import http_backend_path
from tests.fake_github import LFS_POINTER, FakeGithub, FakeRepo, blob_sha, repos_from_folder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = ROOT.parent / "shared" / "corpus"
TOKENS = ("ghp_FAKEsecretTOKENaaaa1111", "ghp_FAKEsecretTOKENbbbb2222")
# fetch: git needs the git client, and the fake GitHub serves git with git http-backend
NO_GIT = pytest.mark.skipif(http_backend_path() is None, reason="git or git http-backend is missing (apt-get install git)")
FETCH_MODES = (pytest.param("git", marks=NO_GIT), "api")
# repositories the code search cannot find (forks are left out of it, blocked ones are gone) or
# that it should not need to; the rest of the world is found by code search only
LISTED = ["gina/sales-fork", "hank/old-project", "ivan/gpl-notebooks", "judy/unlicensed", "leo/taken-down", "mia/missing"]
MAX_DATA = 2_000_000


def notebook(seed: int, reads: str = "data.csv", call: str = "pd.read_csv") -> bytes:
    """A small analysis notebook; `seed` varies its size so that code-search size slices can split."""
    cells = [
        {"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {}, "outputs": [],
         "source": ["import pandas as pd\n", f"df = {call}({reads!r})\n", "# " + "x" * (seed * 37)]},
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
        FakeRepo("kate/vanishing", {"gone.ipynb": notebook(7), "gone.csv": csv_bytes(10, 7)}, vanish_after="tree"),
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
    """The oracle: what a crawl must store, from the world and the settings alone. A file without
    a data extension is stored when a notebook of its repository names it, relative to the
    notebook's folder or to the repository root, in a string of its code."""
    expected = {}
    for repo in repos:
        if repo.fork or repo.archived or repo.blocked or repo.vanish_after or repo.license not in source.licenses:
            continue
        named = _named_by_notebooks(repo.files, source)
        for path, content in repo.files.items():
            suffix = Path(path).suffix.lower()
            if suffix in source.notebook_extensions:
                limit = source.max_notebook_bytes
            elif suffix in source.data_extensions or path in named:
                limit = source.max_data_file_bytes
            else:
                continue
            if len(content) <= limit and not content.startswith(b"version https://git-lfs"):
                expected[f"{repo.full_name.replace('/', '__')}/{path}"] = content
    return expected


def _named_by_notebooks(files: dict[str, bytes], source: GithubSource) -> set[str]:
    named = set()
    for path, content in files.items():
        if Path(path).suffix.lower() not in source.notebook_extensions:
            continue
        folder = os.path.dirname(path)
        code = "".join("".join(c.get("source", "")) for c in json.loads(content).get("cells", []) if c.get("cell_type") == "code")
        for literal in re.findall(r"""['"]([^'"\n]+)['"]""", code):
            for candidate in (os.path.normpath(os.path.join(folder, literal)), os.path.normpath(literal)):
                if candidate in files:
                    named.add(candidate)
    return named


def mirror_files(mirror: Path) -> dict[str, bytes]:
    """The repositories' own files in the mirror: not the provenance file, nor what their
    notebooks read by URL (tests/test_github_urls.py)."""
    return {p.relative_to(mirror).as_posix(): p.read_bytes() for p in mirror.rglob("*")
            if p.is_file() and p.name != ".nbqa-repo.json" and not p.relative_to(mirror).parts[1].startswith(".nbqa-fetched")}


def manifest(output: Path) -> list[dict]:
    lines = (output / "_work" / "crawl" / "manifest.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def comparable(rows: list[dict]) -> list[dict]:
    """The manifest without the vanishing repository's files: when it vanishes decides whether they were listed."""
    return [r for r in rows if not (r["repo"] == "kate/vanishing" and r["path"] is not None)]


def crawl_clean(tmp_path: Path, repos: list[FakeRepo], monkeypatch, **overrides) -> tuple[Path, FakeGithub]:
    from nbqa_builder.sources.github import crawl

    monkeypatch.setenv("GITHUB_TOKEN", TOKENS[0])
    monkeypatch.delenv("GITHUB_TOKENS", raising=False)
    with FakeGithub(repos, tokens={TOKENS[0]: "t1"}, search_cap=3) as server:
        mirror = crawl(settings(server, **overrides), tmp_path / "out", progress=False)
    return mirror, server


def run_crawl_command(recipe: Path, cwd: Path, log_file: Path, tokens: tuple[str, ...] = TOKENS) -> subprocess.Popen:
    """The crawl command in its own process group (a kill takes its git processes too, as when a machine stops)."""
    env = {**os.environ, "GITHUB_TOKENS": ",".join(tokens), "PYTHONPATH": str(ROOT)}
    env.pop("GITHUB_TOKEN", None)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "nbqa_builder.commands.crawl", str(recipe), "-vv", "--no-progress"],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def files_holding(folder: Path, secret: str) -> list[Path]:
    """Files under `folder` whose bytes hold `secret`."""
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def stored_blobs(mirror: Path) -> set[str]:
    """The git blob ids of the files in the mirror."""
    return {blob_sha(content) for content in mirror_files(mirror).values()} if mirror.exists() else set()
