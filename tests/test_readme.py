"""The README as a new user meets it: its first commands work in a fresh clone, in a clean virtual
environment, and what it points to is in the repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def first_commands() -> list[str]:
    """The lines of the README's first shell block, without their comments."""
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_first_commands_make_a_virtual_environment_and_keep_the_two_commands():
    commands = first_commands()
    assert commands[0].startswith("python3 -m venv .venv") and ". .venv/bin/activate" in commands[0]
    assert commands[1] == "pip install -e '.[exec]' && python -m nbqa_builder run recipes/demo.yaml"
    assert commands[2] == "pip install -e '.[dev]' && pytest"


def test_the_readme_says_which_python_and_how_long_the_tests_take():
    needed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert needed == ">=3.11" and "Python 3.11 or newer" in README
    assert re.search(r"the tests \(~\d+ min on CI\)", README)
    # each time as measured, with where and how loaded
    measured = " ".join(README[README.index("How long, as measured:"):].split("\n\n")[0].split())
    assert re.search(r"full CI run \(`python3 -m pytest`, every extra, [\d,]+ tests\) took \d+ s", measured)
    assert re.search(r"`pytest -m \"not slow\"` took \d+ s on a 2-core machine (busy|quiet)", measured)


def test_the_readme_says_what_the_test_command_skips():
    assert "The tests install every extra" not in README  # [dev] does not
    skips = " ".join(README[README.index("`pytest` runs every test"):].split("\n\n")[0].split())
    for reason in ("`[ray]`", "`[train]`", "`bwrap` is missing", "marked `corpus`", "NBQA_HUB_TEST_REPO"):
        assert reason in skips, reason
    slow = [line for path in (ROOT / "tests").glob("test_*.py")
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip() == "@pytest.mark.slow"]
    assert f"the {['one', 'two', 'three', 'four', 'five'][len(slow) - 1]} slowest" in skips


def installed_extras(command: str) -> set[str]:
    return set(re.search(r"pip install (?:-q )?-e '\.\[([\w,]+)\]'", command).group(1).split(","))


def test_one_documented_command_installs_and_runs_what_ci_runs():
    block = README[README.index("What CI runs"):]
    block = re.search(r"```bash\n(.*?)```", block, re.S).group(1)
    torch_line, install_line = [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    assert torch_line == "pip install torch --index-url https://download.pytorch.org/whl/cpu"  # the CPU build
    assert install_line == "pip install -e '.[all]' && pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.index("pip install -q torch==") < ci.index("pip install -q -e")  # torch first there too
    install = next(line for line in ci.splitlines() if line.startswith("python3 -m pip install -q -e"))
    assert installed_extras(install) == {"all"}
    assert "\n".join((install, "python3 -m pytest")) in ci  # then the whole suite
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def closure(name: str) -> set[str]:
        nested = [installed_extras(f"pip install -e '.[{m.group(1)}]'") for requirement in extras[name]
                  if (m := re.fullmatch(r"nbqa_builder\[([\w,]+)\]", requirement))]
        return {name}.union(*(closure(inner) for names in nested for inner in names))

    assert closure("all") == set(extras)  # every extra


def test_what_the_set_up_makes_is_ignored_by_git():
    # the README's virtual environment, the demo's output and the editable install's metadata
    made = [".venv/bin/python", "out/demo/stats.json", "nbqa_builder.egg-info/PKG-INFO"]
    checked = subprocess.run(["git", "check-ignore", "--no-index", *made], capture_output=True, text=True, cwd=ROOT)
    if checked.returncode == 128:
        pytest.skip(f"not a git checkout: {checked.stderr.strip()}")
    assert checked.stdout.split() == made


def test_what_the_readme_points_to_is_in_the_repository():
    assert "../" not in README  # nothing outside the clone (the design notes live in docs/)
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert {"docs/architecture.md", "docs/nbqa.md", "docs/recipe.md"} <= set(links)
    for link in links:
        if "://" not in link:
            assert (ROOT / link).is_file(), link
    for doc in (ROOT / "docs").glob("*.md"):
        assert "../shared" not in doc.read_text(encoding="utf-8"), doc


def fresh_clone(target: Path) -> Path:
    """The repository's files as a clone has them (committed or not, never what git ignores)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, cwd=ROOT)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell a clone's files")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


LOAD_CONFIGS = """
import json, sys
from datasets import load_dataset
out = {}
for config, rows in json.loads(sys.argv[1]).items():
    ds = load_dataset("out/demo/dataset", config, split="train", streaming=not rows)
    out[config] = [ds.num_rows if rows else sum(1 for _ in ds), sorted(ds.features)]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_the_first_command_works_in_a_clean_virtual_environment_and_every_config_loads(tmp_path):
    clone = fresh_clone(tmp_path / "clone")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HF_HOME"] = str(tmp_path / "hf")
    make_venv, demo = first_commands()[:2]
    result = subprocess.run(["bash", "-c", f"{make_venv.replace('python3', sys.executable, 1)} && {demo}"],
                            capture_output=True, text=True, cwd=clone, env=env, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "re-ran offline to their end:" in result.stdout and "-> out/demo/dataset" in result.stdout
    venv_python = clone / ".venv" / "bin" / "python"
    where = subprocess.run([str(venv_python), "-c", "import nbqa_builder; print(nbqa_builder.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)  # (not the clone: its folder would shadow)
    assert where.stdout.strip() == str(clone / "nbqa_builder" / "__init__.py")  # the clone's own install

    dataset = clone / "out" / "demo" / "dataset"
    configs = [entry["config_name"] for entry in
               yaml.safe_load((dataset / "README.md").read_text().split("---")[1])["configs"]]
    stats = json.loads((dataset / "stats.json").read_text())
    by_config = stats["tasks"]["by_config"]
    rows = {**by_config, "all": by_config["interactive"] + by_config["sft"], "files": stats["files"]["count"]}
    loaded = subprocess.run([str(venv_python), "-c", LOAD_CONFIGS, json.dumps({c: rows[c] for c in configs})],
                            capture_output=True, text=True, cwd=clone, env={**env, "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    got = json.loads(loaded.stdout.splitlines()[-1])
    assert set(got) == set(configs) == {"all", "interactive", "sft", "visualization", "files"}
    for config, (count, columns) in got.items():
        assert count == rows[config], config
        assert columns, config
