"""A bad recipe is one clear line naming the file, the line and the key; exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.recipe import RecipeError, load_recipe, parse_recipe
from tests.shipped_recipes import shipped_recipe_paths, shipped_step_configs

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
    for path, step_configs in shipped_step_configs():
        assert step_configs, path


def test_without_bubblewrap_only_the_sandbox_steps_are_refused_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bwrap
    with pytest.raises(RecipeError) as refused:
        load_recipe(ROOT / "recipes" / "nbqa-github.yaml")
    lines = str(refused.value).splitlines()
    assert len(lines) >= 2  # execute and verify, at least
    for line in lines:
        assert re.search(r"nbqa-github\.yaml:\d+: steps\[\d+\]\.\w+\.sandbox: .*run `apt-get install bubblewrap`", line)
    # the tests that read the shipped settings read every recipe all the same
    assert [path for path, _ in shipped_step_configs()] == shipped_recipe_paths()


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
    assert all(line.startswith("t.yaml") for line in message.splitlines())  # each problem: file, line, key


def test_every_problem_of_a_recipe_is_reported_with_did_you_mean(tmp_path):
    bad = (GOOD.replace("min_data_rows: 10", "min_data_rowz: 10")
               .replace("name: t", "name: t\nouptut: x")
               .replace("  - dedup: {exact: true}", "  - dedupe: {exact: true}")
               .replace("{kind: local, path: examples/repos}", "{kind: local, path: examples/repos, layuot: single}"))
    with pytest.raises(RecipeError) as info:
        parse_recipe(bad, "t.yaml")
    lines = str(info.value).splitlines()
    assert lines == [
        "t.yaml:2: ouptut: unknown key (did you mean output?)",
        "t.yaml:3: source.layuot: unknown key (did you mean layout?)",
        "t.yaml:8: steps[2].filter.min_data_rowz: unknown key (did you mean min_data_rows?)",
        "t.yaml:10: steps[4].dedupe: unknown step (did you mean dedup?) (known: dedup, deps, execute, extract, "
        "filter, redact, solve, validate, verify)",
    ]
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(bad)
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "validate", str(recipe)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"error: {line.replace('t.yaml', str(recipe))}" for line in lines]


def test_a_key_of_another_part_is_not_suggested_as_itself():
    # `trusted` belongs to the github source; a local source has none (it once said "did you mean trusted?")
    bad = GOOD.replace("{kind: local, path: examples/repos}", "{kind: local, path: examples/repos, trusted: true}")
    with pytest.raises(RecipeError) as info:
        parse_recipe(bad, "t.yaml")
    assert str(info.value) == ("t.yaml:2: source.trusted: unknown key (trusted is a key of another part of a "
                               "recipe, not of this one: see docs/recipe.md)")


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
  - redact: {{}}
  - execute: {{sandbox: process}}
output: {output}
"""


def test_crawled_notebooks_in_the_process_sandbox_are_warned_of_and_refused(tmp_path):
    recipe = tmp_path / "crawled.yaml"
    recipe.write_text(GITHUB_PROCESS.format(trusted="", output=tmp_path / "out"))
    validated = subprocess.run([sys.executable, "-m", "nbqa_builder", "validate", str(recipe)],
                               capture_output=True, text=True, cwd=ROOT)
    assert validated.returncode == 0
    assert "warning:" in validated.stderr and "steps[3].execute: sandbox: process" in validated.stderr
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


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *args], capture_output=True, text=True, cwd=cwd,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=600)


def test_paths_in_a_recipe_are_relative_to_the_recipe_file(tmp_path):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "repos" / "lab__weather-stats", project / "repos" / "lab__weather-stats")
    (project / "recipes").mkdir()
    recipe = project / "recipes" / "weather.yaml"
    recipe.write_text("name: weather\nsource: {kind: local, path: ../repos}\n"
                      "steps: [validate: {}, deps: {}, redact: {}, extract: {backend: heuristic}]\noutput: ../out\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("run", str(recipe), "--no-progress", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (project / "out" / "dataset" / "README.md").is_file() and not list(elsewhere.iterdir())
    card = (project / "out" / "dataset" / "README.md").read_text()
    assert "path: ../repos" in card and str(tmp_path) not in card  # as the recipe spells it, not this machine's


def test_a_source_folder_that_is_not_there_is_named_resolved(tmp_path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "x.yaml").write_text(
        "name: x\nsource: {kind: local, path: examples/repos}\nsteps: [validate: {}]\noutput: out\n")
    result = run_cli("run", "recipes/x.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: source folder {tmp_path / 'recipes' / 'examples' / 'repos'} does not "
                                     "exist (source.path 'examples/repos' in recipes/x.yaml is relative to the "
                                     "recipe's folder)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipes"]  # nothing written
