"""The dataset card as the Hub and a reader see it: its header, its columns, its numbers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nbqa_builder.extract.heuristic import MAX_OUTPUT_CHARS, outputs_text
from nbqa_builder.records import FILE_SCHEMA, TASK_SCHEMA

ROOT = Path(__file__).resolve().parents[1]


def build(tmp_path: Path, source: Path) -> Path:
    """A quick build (no sandbox steps) of `source`; returns the dataset folder."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "card", "source": {"kind": "local", "path": str(source)},
        "steps": [{"validate": {}}, {"deps": {}}, {"filter": {"rules": ["no_code", "teaching_dataset"]}},
                  {"redact": {}}, {"extract": {"backend": "heuristic"}}],
        "output": str(tmp_path / "out"), "executor": {"workers": 1},
    }))
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "run", str(recipe), "--no-progress"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    return tmp_path / "out" / "dataset"


def header(dataset: Path) -> dict:
    return yaml.safe_load((dataset / "README.md").read_text().split("---")[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("card"), ROOT / "examples" / "repos")


def test_an_empty_source_folder_gives_a_card_whose_every_config_loads(tmp_path):
    (tmp_path / "empty").mkdir()
    dataset = build(tmp_path, tmp_path / "empty")
    configs = header(dataset)["configs"]
    assert [c["config_name"] for c in configs] == ["all", "interactive", "sft", "visualization", "files"]
    code = ("import json, sys\nfrom datasets import load_dataset\n"
            "out = {}\nfor config in json.loads(sys.argv[2]):\n"
            "    ds = load_dataset(sys.argv[1], config, split='train', streaming=True)\n"
            "    out[config] = [sum(1 for _ in ds), sorted(ds.features)]\nprint(json.dumps(out))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", code, str(dataset), json.dumps([c["config_name"] for c in configs])],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    for config, (rows, columns) in json.loads(result.stdout.splitlines()[-1]).items():
        schema = FILE_SCHEMA if config == "files" else TASK_SCHEMA
        assert rows == 0 and columns == sorted(schema.names), config


def test_a_mix_of_licenses_is_named_and_linked(demo):
    card = header(demo)
    assert card["license"] == "other" and card["license_name"] == "mixed-source-licenses"
    listed = (demo / card["license_link"]).read_text()
    stats = json.loads((demo / "stats.json").read_text())
    assert set(stats["licenses"]) == {"MIT", "Apache-2.0"}
    assert "| acme/retail-analysis | MIT |" in listed and "| lab/weather-stats | Apache-2.0 |" in listed


def test_one_license_the_hub_knows_is_the_card_s_license(tmp_path):
    shutil.copytree(ROOT / "examples" / "repos" / "lab__weather-stats", tmp_path / "repos" / "lab__weather-stats")
    card = header(build(tmp_path, tmp_path / "repos"))
    assert card["license"] == "apache-2.0" and "license_name" not in card


def test_the_size_category_counts_the_tasks(demo):
    tasks = json.loads((demo / "stats.json").read_text())["tasks"]["written"]
    assert 0 < tasks < 1000 and header(demo)["size_categories"] == ["n<1K"]


def test_every_column_is_documented(demo):
    card = (demo / "README.md").read_text()
    for field in [*TASK_SCHEMA, *FILE_SCHEMA]:
        assert re.search(rf"^\| `{field.name}` \| `{re.escape(str(field.type))}` \| \S.+ \|$", card, re.M), field.name


def test_concept_shares_are_of_tasks_not_of_concept_mentions(demo):
    stats = json.loads((demo / "stats.json").read_text())["tasks"]
    card = (demo / "README.md").read_text()
    assert sum(stats["concepts"].values()) > stats["written"]  # tasks have several concepts
    for concept, n in stats["concepts"].items():
        assert f"| {concept} | {n} | {100 * n / stats['written']:.1f} % |" in card


def test_the_truncation_marker_the_card_describes_is_the_one_written(demo):
    card = (demo / "README.md").read_text()
    [described] = re.findall(r"the marker `([^`]+)`", card)
    long_output = [{"output_type": "stream", "name": "stdout", "text": "x" * (MAX_OUTPUT_CHARS + 500)}]
    written = outputs_text(long_output)
    assert written.endswith(described.replace("N", "500"))


def test_the_paper_s_year_is_the_same_in_the_text_and_the_citation(demo):
    card = (demo / "README.md").read_text()
    cited = re.search(r"year\s*=\s*\{(\d{4})\}", card).group(1)
    assert set(re.findall(r"Li et al\.,[^)]*?(\d{4})", card)) == {cited}
