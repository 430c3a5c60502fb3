"""`run` as a user meets it: the summary it ends with, progress, trials, overrides, bad outputs."""

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

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "demo.yaml"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed (apt-get install bubblewrap); .ci/run installs it")


def recipe_file(tmp_path: Path, sandbox_steps: bool = True, **executor) -> Path:
    """The demo recipe with absolute paths, its output under tmp_path; without execute and verify
    when the test needs no sandbox (a quicker run)."""
    recipe = yaml.safe_load(DEMO.read_text())
    recipe["source"]["path"] = str(ROOT / "examples" / "repos")
    recipe["output"] = str(tmp_path / "out")
    if not sandbox_steps:
        recipe["steps"] = [step for step in recipe["steps"] if not {"execute", "verify"} & set(step)]
    recipe["executor"].update(executor)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def run_cli(*args: str, cwd: Path = ROOT, wrap: list[str] | None = None) -> subprocess.CompletedProcess:
    command = [*(wrap or []), sys.executable, "-m", "nbqa_builder", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo run twice from the folder that holds it: the second has nothing to do."""
    tmp_path = tmp_path_factory.mktemp("run")
    recipe = recipe_file(tmp_path)
    first = run_cli("run", str(recipe), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli("run", str(recipe), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    return tmp_path, first, second


def test_a_run_ends_with_where_the_dataset_is_its_largest_drops_and_what_to_do_next(demo):
    tmp_path, first, _ = demo
    lines = first.stdout.splitlines()
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    by_config, hundred = stats["tasks"]["by_config"], stats["tasks"]["per_100_input_notebooks"]
    assert by_config["sft"] > 0  # the demo's notebooks that cannot re-run offline give sft tasks
    assert lines[0] == (f"demo: {stats['notebooks']['input']} notebooks in, {stats['notebooks']['kept']} kept, "
                        f"{stats['tasks']['written']} tasks (interactive {by_config['interactive']}, "
                        f"sft {by_config['sft']}, visualization 0; per 100 notebooks in: {hundred['tasks']} tasks, "
                        f"{hundred['sft']} sft, {hundred['interactive']} interactive) -> out/dataset")
    counts = sorted(((n, step["step"], reason) for step in stats["steps"] for reason, n in step["reasons"].items()),
                    key=lambda item: -item[0])[:3]
    assert lines[1].startswith("largest drops: " + "; ".join(f"{step} {reason} {n}" for n, step, reason in counts))
    # one count of kept notebooks: those in the dataset, re-run to their end or sft only
    tiers, kept = stats["notebooks"]["tiers"], stats["notebooks"]["kept"]
    assert tiers["reran_to_end"] >= 2 and tiers["reran_to_end"] + tiers["sft_only"] == kept
    causes = ", ".join(f"{cause} {n}" for cause, n in tiers["sft_only_by_cause"].items())
    assert lines[2] == (f"re-ran offline to their end: {tiers['reran_to_end']} of the {kept} kept notebooks "
                        f"({100 * tiers['reran_to_end'] / kept:.0f}%); sft only: {tiers['sft_only']} ({causes})")
    assert "{" not in first.stdout  # no raw dict
    commands = [line.strip() for line in lines if line.startswith("  ")]
    assert commands[0] == "python -m nbqa_builder stats out" and commands[2].startswith("python -m nbqa_builder push")
    # the commands it prints work as printed
    assert run_cli(*commands[0].split()[3:], cwd=tmp_path).returncode == 0
    loaded = subprocess.run(["bash", "-c", commands[1]], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert loaded.returncode == 0 and f"num_rows: {stats['tasks']['written']}" in loaded.stdout, loaded.stderr


def test_a_second_run_with_nothing_to_do_says_so(demo):
    _, first, second = demo
    assert second.stdout.splitlines()[0].startswith("nothing to do: every part of out was done by an earlier run")
    assert second.stdout.splitlines()[1:] == first.stdout.splitlines()
    assert "stage" not in second.stderr  # no progress for stages that do nothing


def test_progress_in_a_log_is_plain_lines(demo):
    _, first, _ = demo
    assert "\r" not in first.stderr and "\x1b" not in first.stderr
    lines = [line for line in first.stderr.splitlines() if line.startswith("stage ")]
    assert lines and all(re.fullmatch(r"stage \d: .+: \d+/\d+ notebooks \(\d+%\), [\d.]+ s, [\d.]+ nb/s", line)
                         for line in lines), first.stderr
    assert lines[-1].split(": ")[-1].startswith("27/27 notebooks (100%)")


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_moves_a_notebook_at_a_time(tmp_path, monkeypatch, workers):
    from nbqa_builder import pipeline, progress
    from nbqa_builder.executors import local as local_executor
    from nbqa_builder.recipe import load_recipe

    updates: dict[str, list[int]] = {}

    class Recording:
        def __init__(self, total, initial, desc, enabled):
            self.desc = desc
            updates[desc] = []

        def update(self, n):
            updates[self.desc].append(n)

        def close(self):
            pass

    monkeypatch.setattr(local_executor, "progress_bar", Recording)
    monkeypatch.setattr(progress, "REPORT_INTERVAL_S", 0.0)  # (in this process: workers=1)
    recipe = load_recipe(recipe_file(tmp_path, sandbox_steps=False, workers=workers, part_size=8))
    pipeline.Pipeline(recipe, progress=True).run()
    assert len(updates) == 2 and all(sum(counts) == 27 for counts in updates.values())
    if workers == 1:  # every notebook moves the bar as it is done, not a part of 8 at once
        assert all(set(counts) == {1} for counts in updates.values()), updates


def test_dry_run_says_what_would_run_and_writes_nothing(tmp_path):
    recipe = recipe_file(tmp_path)
    result = run_cli("run", str(recipe), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"dry run of {recipe}: nothing is written",
        f"source: {ROOT / 'examples' / 'repos'}: 4 repositories, 27 notebooks",
        "parts: 4 of at most 8 notebooks, on 2 workers",
        "steps: validate > filter > deps > filter#2 > redact > dedup > execute > extract > verify",
        "  stage 0: validate > filter > deps > filter#2 > redact > dedup (map): not started",
        "  stage 1: dedup (reduce) > execute > extract > verify: not started",
        "output: out",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml"]


def test_a_trial_on_a_few_notebooks_and_overrides_of_output_and_workers(tmp_path):
    recipe = recipe_file(tmp_path, sandbox_steps=False)
    limited = run_cli("run", str(recipe), "--limit", "5", "--output", "trial", "--workers", "1", "-q", cwd=tmp_path)
    assert limited.returncode == 0, limited.stderr
    assert limited.stdout.startswith("demo: 5 notebooks in,") and limited.stdout.count("\n") == 1
    assert limited.stderr == ""  # -q: no progress
    assert json.loads((tmp_path / "trial" / "stats.json").read_text())["notebooks"]["input"] == 5
    assert not (tmp_path / "out").exists()
    drawn = [run_cli("run", str(recipe), "--sample", "5", "--seed", "3", "--dry-run", "--workers", "1").stdout
             for _ in range(2)]
    assert drawn[0] == drawn[1] and "5 notebooks (a trial: drawn at random 5)" in drawn[0] and "on 1 worker\n" in drawn[0]


def test_verbose_says_what_each_stage_does_and_version_is_the_package_s(tmp_path):
    result = run_cli("-v", "run", str(recipe_file(tmp_path, sandbox_steps=False)), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert re.search(r"nbqa_builder.pipeline: stage 0 \(validate > .*\): 4 of 4 parts to run", result.stderr)
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run_cli("--version").stdout.strip() == f"nbqa_builder {version}"


# -- outputs that cannot be written: one line, exit 2, nothing half-written -----------------------


def test_an_output_that_is_a_file_is_one_line(tmp_path):
    recipe = recipe_file(tmp_path, sandbox_steps=False)
    (tmp_path / "taken").write_text("x")
    for output in ("taken", "taken/sub"):
        result = run_cli("run", str(recipe), "--output", output, cwd=tmp_path)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"error: output {tmp_path / output}") and "not a folder" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml", "taken"]


@needs_bwrap
def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path):
    recipe = recipe_file(tmp_path, sandbox_steps=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    result = run_cli("run", str(recipe), "--output", str(locked / "out"),
                     wrap=["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(locked), str(locked)])
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot write to {locked / 'out'}: Read-only file system")
    assert not any(locked.iterdir())


@needs_bwrap
@pytest.mark.parametrize("size_kb", [40, 150, 200])  # full while the parts, the last stage, the dataset are written
def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, size_kb):
    recipe = recipe_file(tmp_path, sandbox_steps=False)
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f"{sys.executable} -m nbqa_builder run {recipe} --output {disk}/out --no-progress 2> {tmp_path}/err; "
              f"echo $? > {tmp_path}/rc; find {disk}/out | sort > {tmp_path}/files")
    subprocess.run(["bwrap", "--dev-bind", "/", "/", "--size", str(size_kb * 1024), "--tmpfs", str(disk),
                    "bash", "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600, check=True)
    error = (tmp_path / "err").read_text()
    assert (tmp_path / "rc").read_text().strip() == "2" and len(error.splitlines()) == 1, error
    assert error.startswith(f"error: no space left on the device of {disk}/out; free some space")
    files = [Path(line).relative_to(disk / "out") for line in (tmp_path / "files").read_text().split()[1:]]
    assert not [f for f in files if "tmp" in f.name], files  # no staging file left
    assert not [f for f in files if f.parts[0] in ("dataset", "rejects", "stats.json")]  # no output half-written
