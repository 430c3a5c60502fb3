"""Benchmark of the GitHub crawl: the same generated world crawled in both fetch modes, in one run.

    python bench/crawl.py                    # 200 repositories of 20-200 files, 50 ms a request (~10 min)
    python bench/crawl.py --repos 20         # a quick look

The world is served on 127.0.0.1 by the tests' fake GitHub (tests/fake_github.py): its REST API
and the same repositories over git's smart HTTP (`git http-backend`), every reply held back by a
simulated network latency. Each repository holds notebooks, data files (some without an extension,
read by a notebook), code, images and documents; a few share a data file. `fetch: api` (one REST
request a file) is the baseline of `fetch: git` (a shallow blob-less clone and one fetch of the
chosen blobs). For each mode it prints the REST requests, the git requests, the bytes served and the
wall time, checks that both mirrors hold exactly the world's chosen files, then prints the plan at
the paper's scale (47,000 repositories, one token). The last line is
`rest_requests_per_repo_git=<x> rest_requests_per_repo_api=<y> speedup=<z>` (speedup: api wall
time over git wall time). Goals: at most 3 REST requests a repository in git mode; the paper's
scale planned under a day with one token.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbqa_builder.sources.github import crawl, plan_crawl  # noqa: E402
from tests.fake_github import FakeGithub, FakeRepo, Faults, Limit  # noqa: E402
from tests.github_fixtures import csv_bytes, expected_files, mirror_files, notebook, settings  # noqa: E402

TOKEN = "ghp_benchTOKENnotARealOne0000"
PAPER_REPOS = 47_000


def generate_world(repos: int, min_files: int, max_files: int, seed: int) -> list[FakeRepo]:
    """`repos` repositories of `min_files` to `max_files` files: notebooks, data, code, images, docs."""
    rng = random.Random(seed)
    shared = [csv_bytes(rng.randint(20, 200), 10_000 + i) for i in range(5)]  # data copied between repositories
    world = []
    for r in range(repos):
        count = rng.randint(min_files, max_files)
        files: dict[str, bytes] = {"README.md": f"# project {r}\n".encode() * rng.randint(1, 20)}
        while len(files) < count:
            i = len(files)
            folder = rng.choice(["", "notebooks/", "data/", "src/", "docs/", "data/raw/"])
            kind = rng.random()
            if kind < 0.25:
                files[f"{folder}analysis{i}.ipynb"] = notebook(i, f"data{i}.csv")
            elif kind < 0.30:  # a data file without an extension, and the notebook that reads it
                files[f"data/table{i}"] = csv_bytes(rng.randint(10, 100), r * 1000 + i)
                files[f"reads{i}.ipynb"] = notebook(i, f"data/table{i}")
            elif kind < 0.60:
                files[f"{folder}data{i}.csv"] = rng.choice(shared) if rng.random() < 0.05 else csv_bytes(rng.randint(10, 150), r * 1000 + i)
            elif kind < 0.80:
                files[f"{folder}module{i}.py"] = b"def f(x):\n    return x * %d\n" % i * rng.randint(1, 30)
            elif kind < 0.90:
                files[f"{folder}figure{i}.png"] = rng.randbytes(rng.randint(2_000, 20_000))
            else:
                files[f"{folder}notes{i}.md"] = b"Some notes.\n" * rng.randint(1, 50)
        world.append(FakeRepo(f"owner{r:04d}/project{r:04d}", files))
    return world


def crawl_once(world: list[FakeRepo], server: FakeGithub, fetch: str, workers: int) -> dict:
    rest, git, rest_bytes, git_bytes = server.rest_requests(), server.git_requests(), server.bytes_served(False), server.bytes_served(True)
    source = settings(server, repositories=[r.full_name for r in world], code_search=None, fetch=fetch, git_workers=workers,
                      timeout_s=60, max_data_file_bytes=50_000_000)
    with tempfile.TemporaryDirectory(prefix=f"bench-crawl-{fetch}-") as output:
        started = time.perf_counter()
        mirror = crawl(source, Path(output), progress=False)
        seconds = time.perf_counter() - started
        exact = mirror_files(mirror) == expected_files(world, source)
    return {
        "rest": server.rest_requests() - rest,
        "git": server.git_requests() - git,
        "bytes": server.bytes_served(False) - rest_bytes + server.bytes_served(True) - git_bytes,
        "seconds": seconds,
        "exact": exact,
    }


def paper_scale_plan(server: FakeGithub) -> tuple[str, dict[str, float]]:
    """The plan for the paper's 47,000 repositories with one token, and the hours it gives per fetch mode."""
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as folder:
        names = Path(folder) / "repos.txt"
        names.write_text("".join(f"owner{i}/repo{i}\n" for i in range(PAPER_REPOS)))
        text = plan_crawl(settings(server, repositories=[], repositories_file=str(names), code_search=None, request_interval_s=0.25))
    hours = {}
    for mode in ("git", "api"):
        line = next(line for line in text.splitlines() if line.startswith(f"fetch: {mode}"))
        number, unit = re.search(r"about ([\d,.]+) (hours|minutes|seconds)\s*(?:\(|$)", line).groups()
        hours[mode] = float(number.replace(",", "")) / {"hours": 1, "minutes": 60, "seconds": 3600}[unit]
    return text, hours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--min-files", type=int, default=20)
    parser.add_argument("--max-files", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50,
                        help="added to every reply, REST and git: a stand-in for a round trip to GitHub")
    parser.add_argument("--git-workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["GITHUB_TOKEN"] = TOKEN
    os.environ.pop("GITHUB_TOKENS", None)

    world = generate_world(args.repos, args.min_files, args.max_files, args.seed)
    files = sum(len(r.files) for r in world)
    print(f"world: {len(world)} repositories, {files:,} files ({files / len(world):.0f} a repository), "
          f"{sum(len(c) for r in world for c in r.files.values()) / 1e6:.1f} MB; latency {args.latency_ms:g} ms a request")
    results = {}
    with FakeGithub(world, tokens={TOKEN: "bench"}, faults=Faults(latency_s=args.latency_ms / 1000),
                    limits={"core": Limit(1_000_000, 3600)}) as server:
        for fetch in ("git", "api"):
            results[fetch] = result = crawl_once(world, server, fetch, args.git_workers)
            print(f"fetch={fetch}: rest_requests={result['rest']:,} git_requests={result['git']:,} bytes={result['bytes']:,} "
                  f"wall_s={result['seconds']:.1f} mirror_exact={'yes' if result['exact'] else 'NO'}")
        with FakeGithub([], tokens={TOKEN: "bench"}, limits={"core": Limit(5000, 3600)}) as plan_server:
            plan_text, plan = paper_scale_plan(plan_server)
    print("\n".join("  " + line for line in plan_text.splitlines()))
    print(f"plan at the paper's scale ({PAPER_REPOS:,} repositories, 1 token): git {plan['git']:.1f} hours, "
          f"api {plan['api']:,.0f} hours (goal: git under 24)")
    if not all(r["exact"] for r in results.values()):
        raise SystemExit("a mirror differs from the world: the figures above are not comparable")
    per_repo = {fetch: results[fetch]["rest"] / len(world) for fetch in results}
    print(f"rest_requests_per_repo_git={per_repo['git']:.2f} rest_requests_per_repo_api={per_repo['api']:.2f} "
          f"speedup={results['api']['seconds'] / results['git']['seconds']:.1f}")


if __name__ == "__main__":
    main()
