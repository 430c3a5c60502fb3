"""A recipe with a GitHub source: crawled into the mirror, then through the same steps."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from nbqa_builder.pipeline import Pipeline
from nbqa_builder.recipe import parse_recipe
from tests.fake_github import FakeGithub, repos_from_folder

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ghp_pipelineTestToken0123456789abcdefABCD"

RECIPE = """
name: gh
source:
  kind: github
  api_url: "{url}"
  repositories: [acme/retail-analysis, lab/weather-stats, school/ml-course]
  request_interval_s: 0
steps:
  - validate: {{}}
  - deps: {{}}
  - filter: {{decontaminate: {{names: [dabench_sample.csv]}}}}
  - redact: {{}}
  - dedup: {{exact: true}}
  - extract: {{backend: heuristic}}
output: "{output}"
executor: {{kind: local, workers: 1, part_size: 4}}
"""


def test_crawled_notebooks_flow_through_the_pipeline_with_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    repos = repos_from_folder(ROOT / "examples" / "repos")
    served = [r for r in repos if r.full_name != "misc/broken-notebooks"]
    output = tmp_path / "out"
    with FakeGithub(repos, tokens={TOKEN: "t"}) as server:
        recipe = parse_recipe(RECIPE.format(url=server.url, output=output), "gh.yaml")
        stats = Pipeline(recipe, progress=False).run()
    assert stats["notebooks"]["input"] == sum(1 for r in served for path in r.files if path.endswith(".ipynb"))
    rows = [row for path in (output / "dataset" / "data").glob("*/train-*.parquet") if path.parent.name != "files"
            for row in pq.read_table(path).to_pylist()]
    assert rows
    commits = {r.full_name: server.commits[r.full_name.lower()] for r in served}
    for row in rows:
        assert row["commit"] == commits[row["github_repo"]]
        # the repository's html_url as the API gave it (github.com on the real one)
        assert row["url"].endswith(f"/{row['github_repo']}/blob/{row['commit']}/{row['ipynb_name']}")
        assert row["license"] == "MIT"
    for path in output.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_run_plan_prints_the_estimate_without_crawling(tmp_path):
    import os
    import subprocess
    import sys

    repos = repos_from_folder(ROOT / "examples" / "repos")
    with FakeGithub(repos, tokens={TOKEN: "t"}) as server:
        recipe = tmp_path / "gh.yaml"
        recipe.write_text(RECIPE.format(url=server.url, output=tmp_path / "out"))
        result = subprocess.run([sys.executable, "-m", "nbqa_builder", "run", str(recipe), "--plan"],
                                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "GITHUB_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert "3" in result.stdout and "requests" in result.stdout.lower()
    assert TOKEN not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()  # nothing crawled, nothing written
    assert all(entry["path"] == "/rate_limit" for entry in server.log), "the plan crawled"


def test_run_plan_on_a_local_recipe_is_a_clear_error():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "run", "recipes/demo.yaml", "--plan"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "GitHub" in result.stderr
