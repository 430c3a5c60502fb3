"""A bad recipe is one clear line naming the file, the line and the key; exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.recipe import RecipeError, load_recipe, parse_recipe

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
name: t
source: {kind: local, path: examples/repos}
steps:
  - validate: {}
  - deps: {}
  - filter:
      min_data_rows: 10
  - redact: {}
  - dedup: {exact: true}
  - extract: {backend: heuristic}
output: out/t
"""


def test_shipped_recipes_are_valid():
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        recipe = load_recipe(path)
        assert recipe.steps, path


def test_good_recipe_gives_typed_step_settings():
    recipe = parse_recipe(GOOD, "t.yaml")
    configs = dict(recipe.step_configs())
    assert configs["filter"].min_data_rows == 10
    assert configs["filter"].max_error_outputs == 0  # the default fills in


@pytest.mark.parametrize(
    "bad, expected",
    [
        (GOOD.replace("min_data_rows: 10", "min_data_rowz: 10"), "t.yaml:7: steps[2].filter.min_data_rowz: unknown key"),
        (GOOD.replace("min_data_rows: 10", "min_data_rows: many"), "t.yaml:7: steps[2].filter.min_data_rows:"),
        (GOOD.replace("name: t", "name: t\ncolour: red"), "t.yaml:2: colour: unknown key"),
        (GOOD.replace("kind: local", "kind: ftp"), "source"),
        (GOOD.replace("  - dedup: {exact: true}", "  - dedupe: {}"), "t.yaml:9: steps[4].dedupe: unknown step"),
        (GOOD.replace("output: out/t\n", ""), "output: Field required"),
        (GOOD.replace("  - validate: {}\n", ""), "the first step must be `validate`"),
        (GOOD.replace("  - deps: {}\n", ""), "steps[1].filter: needs the `deps` step before it"),
        (GOOD.replace("extract: {backend: heuristic}", "extract: {backend: magic}"), "steps[5].extract.backend:"),
        (GOOD.replace("  - redact: {}\n", ""), "steps[4].extract: needs the `redact` step before it (add `- redact: {}`"),
        (GOOD.replace("  - redact: {}\n  - dedup: {exact: true}", "  - dedup: {exact: true}\n  - redact: {}"),
         "steps[4].redact: must come before dedup"),
        ("name: [unclosed", "t.yaml:1: invalid YAML"),
        ("- just\n- a list\n", "a recipe is a mapping"),
    ],
)
def test_bad_recipe_error_names_key_and_line(bad, expected):
    with pytest.raises(RecipeError) as info:
        parse_recipe(bad, "t.yaml")
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_cli_bad_recipe_is_one_line_and_exit_2(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(GOOD.replace("min_data_rows: 10", "min_data_rowz: 10"))
    for command in ("validate", "run"):
        result = subprocess.run([sys.executable, "-m", "nbqa_builder", command, str(recipe)],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0
        assert "bad.yaml:7: steps[2].filter.min_data_rowz: unknown key" in result.stderr
        assert "Traceback" not in result.stderr


def test_cli_missing_recipe_file(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "validate", str(tmp_path / "nope.yaml")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "cannot read recipe" in result.stderr


GITHUB_PROCESS = """\
name: crawled
source:
  kind: github
  repositories: [someone/analysis]{trusted}
steps:
  - validate: {{}}
  - deps: {{}}
  - execute: {{sandbox: process}}
output: {output}
"""


def test_crawled_notebooks_in_the_process_sandbox_are_warned_of_and_refused(tmp_path):
    recipe = tmp_path / "crawled.yaml"
    recipe.write_text(GITHUB_PROCESS.format(trusted="", output=tmp_path / "out"))
    validated = subprocess.run([sys.executable, "-m", "nbqa_builder", "validate", str(recipe)],
                               capture_output=True, text=True, cwd=ROOT)
    assert validated.returncode == 0
    assert "warning:" in validated.stderr and "steps[2].execute: sandbox: process" in validated.stderr
    refused = subprocess.run([sys.executable, "-m", "nbqa_builder", "run", str(recipe)],
                             capture_output=True, text=True, cwd=ROOT, env={**os.environ, "GITHUB_TOKEN": ""})
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "trusted: true" in refused.stderr
    assert not (tmp_path / "out").exists()  # refused before crawling anything


def test_a_source_said_to_be_trusted_may_use_the_process_sandbox(tmp_path):
    recipe = tmp_path / "crawled.yaml"
    recipe.write_text(GITHUB_PROCESS.format(trusted="\n  trusted: true", output=tmp_path / "out"))
    validated = subprocess.run([sys.executable, "-m", "nbqa_builder", "validate", str(recipe)],
                               capture_output=True, text=True, cwd=ROOT)
    assert validated.returncode == 0 and validated.stderr == ""
