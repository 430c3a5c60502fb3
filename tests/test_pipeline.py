"""The demo recipe end to end: outputs, accounting, reproducibility, resume after SIGKILL; a run's
sandbox: one that cannot start stops the run, and a killed run leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pyarrow.parquet as pq
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from nbqa_builder.filters.rules import RULES
from nbqa_builder.records import TASK_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "demo.yaml"


def demo_recipe(tmp_path: Path, **changes) -> Path:
    recipe = yaml.safe_load(DEMO.read_text())
    recipe["source"]["path"] = str(ROOT / "examples" / "repos")
    recipe["output"] = str(tmp_path / "out")
    for key, value in changes.items():
        recipe[key] = {**recipe.get(key, {}), **value}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *args], capture_output=True, text=True,
                          cwd=ROOT, **kwargs)


def task_rows(out: Path) -> list[dict]:
    rows = []
    for path in sorted((out / "dataset" / "data").glob("*/train-*.parquet")):
        if path.parent.name != "files":
            rows += pq.read_table(path).to_pylist()
    return rows


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("demo")
    result = run_cli("run", str(demo_recipe(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "nb/s" in result.stderr  # progress is shown
    return tmp_path / "out"


def test_demo_writes_dataset_stats_and_rejects(demo_run: Path):
    assert (demo_run / "dataset" / "README.md").is_file()
    # the demo's tasks are re-run and verified, so they land in `interactive`
    assert list((demo_run / "dataset" / "data" / "interactive").glob("train-00000-of-*.parquet"))
    stats = json.loads((demo_run / "stats.json").read_text())
    assert stats["tasks"]["written"] > 0
    assert (demo_run / "rejects" / "notebooks.jsonl").is_file()


def test_demo_tasks_say_what_their_label_computes(demo_run: Path):
    """The demo's cells that prepare the data before a value (rows dropped for a missing discount,
    a derived revenue, warm days only) give tasks that state that step, with the true value."""
    import pandas as pd

    rows = {row["task"]: row for row in task_rows(demo_run)}
    assert not [t for t, row in rows.items() if "as the notebook does" in t + row["constraints"]]
    sales = pd.read_csv(ROOT / "examples" / "repos" / "acme__retail-analysis" / "data" / "sales.csv")
    weather = pd.read_csv(ROOT / "examples" / "repos" / "lab__weather-stats" / "data" / "weather.csv")
    expected = {
        "Drop the rows where `discount` is missing": f"@row_count[{len(sales.dropna(subset=['discount']))}]",
        "Set the column `revenue` to (`units` * `price`)": f"@sum_revenue[{(sales.units * sales.price).sum():.2f}]",
        "Keep only the rows where `temp_c` > 20": f"@mean_rain_mm[{weather[weather.temp_c > 20].rain_mm.mean():.2f}]",
    }
    for step, label in expected.items():
        matching = [row for text, row in rows.items() if step in text and row["label"] == label]
        assert matching, (step, label, sorted(rows))
        assert all(row["verified"] and row["reference_agrees"] for row in matching)
    raw_mean = f"@mean_rain_mm[{weather.rain_mm.mean():.2f}]"
    assert raw_mean != expected["Keep only the rows where `temp_c` > 20"]  # the trap matters


def test_the_same_task_from_two_notebooks_is_one_row(demo_run: Path):
    # two example notebooks that dedup keeps apart (their code differs) count the rows of the same
    # sales.csv: one row, the other recorded as a duplicate
    rows = task_rows(demo_run)
    identities = [(r["task"], r["label"], tuple(sorted(f["sha256"] for f in r["data_files"]))) for r in rows]
    assert len(identities) == len(set(identities))
    rejects = [json.loads(line) for line in (demo_run / "rejects" / "tasks.jsonl").read_text().splitlines()]
    duplicates = [r for r in rejects if r["reason"] == "duplicate_task"]
    assert duplicates and all(r["path"] and r["repo"] for r in duplicates)
    kept = {r["task"] for r in rows if r["ipynb_name"] != duplicates[0]["path"]}
    assert "Using `sales.csv`, what is the number of rows?" in kept
    stats = json.loads((demo_run / "stats.json").read_text())
    assert stats["tasks"]["dropped"]["duplicate_task"] == len(duplicates)


def test_every_published_file_says_where_it_came_from_and_its_license(demo_run: Path):
    files = [row for path in (demo_run / "dataset" / "data" / "files").glob("train-*.parquet")
             for row in pq.read_table(path).to_pylist()]
    # the repositories whose tasks read each file, with their licenses
    readers = {}
    for task in task_rows(demo_run):
        for data_file in task["data_files"]:
            readers.setdefault(data_file["sha256"], set()).add((task["github_repo"], task["license"]))
    assert files
    for row in files:
        assert row["origins"], row["paths"]
        for origin in row["origins"]:  # the example repositories: a local source, so no commit
            repo, _, path = origin["source"].partition(":")
            assert (repo, origin["license"]) in readers[row["sha256"]]
            assert path.endswith(tuple(p.rsplit("/", 1)[-1] for p in row["paths"]))


def test_audit_agrees_with_every_interactive_task_of_the_demo(demo_run: Path):
    result = run_cli("audit", str(demo_run / "dataset"), "--sandbox", "process")
    assert result.returncode == 0, result.stdout + result.stderr
    interactive = json.loads((demo_run / "stats.json").read_text())["tasks"]["by_config"]["interactive"]
    assert interactive > 0
    assert result.stdout.splitlines()[-1] == (f"tasks={interactive} verified={interactive} "
                                              f"reference_agrees={interactive} wrong=0")


def test_every_notebook_is_accounted_for(demo_run: Path):
    stats = json.loads((demo_run / "stats.json").read_text())
    notebooks = sorted(p.relative_to(ROOT / "examples" / "repos") for p in (ROOT / "examples" / "repos").rglob("*.ipynb"))
    rejects = [json.loads(line) for line in (demo_run / "rejects" / "notebooks.jsonl").read_text().splitlines()]
    assert stats["notebooks"]["input"] == len(notebooks)
    assert stats["notebooks"]["input"] == stats["notebooks"]["kept"] + len(rejects)
    assert stats["notebooks"]["dropped"] == sum(s["dropped"] for s in stats["steps"])
    for step in stats["steps"]:
        assert step["in"] == step["out"] + step["dropped"] == step["out"] + sum(step["reasons"].values())
    kept_sources = {row["ipynb_name"] for row in task_rows(demo_run)}
    dropped = {(r["repo"], r["path"]) for r in rejects}
    assert len(dropped) == len(rejects)
    assert not any(path in kept_sources for _, path in dropped)


def test_every_rule_has_a_kept_and_a_dropped_example(demo_run: Path):
    stats = json.loads((demo_run / "stats.json").read_text())
    reasons = stats["drop_reasons"]
    expected = {
        "no_code", "out_of_order", "unexecuted_code_cells", "error_outputs", "neural_network", "gpu",
        "external_api", "teaching_dataset", "benchmark_contamination", "too_little_data", "no_data_file",
        "invalid_json", "invalid_encoding", "invalid_notebook", "not_python", "exact_duplicate", "no_tasks",
    }
    assert expected <= set(reasons), expected - set(reasons)
    # what stops a re-run offline decides the tier, not the verdict: those notebooks are kept for sft
    tiers = stats["notebooks"]["tiers"]
    assert tiers["sft_only_by_cause"] == {"network_read": 1, "missing_file": 1, "syntax_error": 1}
    assert tiers["reran_to_end"] + tiers["sft_only"] == stats["notebooks"]["kept"]
    assert not {"network_read", "missing_file", "missing_data_file", "syntax_error"} & set(reasons)
    # a notebook stored without outputs is not dropped for it: its re-run gives it outputs
    assert "no_outputs" not in reasons and stats["metrics"]["execute"]["outputs_from_rerun"] == 1
    stripped = [row for row in task_rows(demo_run) if row["ipynb_name"] == "notebooks/outputs_stripped.ipynb"]
    assert stripped and all(row["verified"] for row in stripped)
    assert len(RULES) == 13  # a new rule needs an example notebook here too (or a route, above)
    # the kept notebooks passed every rule
    assert stats["steps"][[s["step"] for s in stats["steps"]].index("filter#2")]["out"] >= 2


def test_rejects_say_why(demo_run: Path):
    rejects = {r["path"]: r for r in map(json.loads, (demo_run / "rejects" / "notebooks.jsonl").read_text().splitlines())}
    assert rejects["truncated.ipynb"]["reason"] == "invalid_json" and rejects["truncated.ipynb"]["detail"]
    assert rejects["notebooks/out_of_order.ipynb"]["step"] == "filter"
    assert rejects["notebooks/sales_summary_copy.ipynb"]["reason"] == "exact_duplicate:acme/retail-analysis:notebooks/sales_summary.ipynb"
    assert rejects["survival.ipynb"]["reason"] == "teaching_dataset"  # renamed titanic, caught by its header


def test_load_dataset_reads_the_tasks(demo_run: Path):
    from datasets import load_dataset

    tasks = load_dataset(str(demo_run / "dataset"), split="train")
    assert tasks.num_rows == len(task_rows(demo_run))
    assert set(TASK_SCHEMA.names) == set(tasks.column_names)
    row = tasks[0]
    assert row["label"].startswith("@") and row["solution"][-1]["label"] == row["label"]
    files = load_dataset(str(demo_run / "dataset"), "files", split="train")
    shas = {f["sha256"] for f in files}
    assert all(f["sha256"] in shas for t in tasks for f in t["data_files"])
    shards = [str(p) for p in sorted((demo_run / "dataset" / "data").glob("*/*.parquet")) if p.parent.name in ("interactive", "sft")]
    plain = load_dataset("parquet", data_files=shards, split="train")
    assert plain.num_rows == tasks.num_rows
    assert all(row["verified"] and row["deterministic"] for row in load_dataset(str(demo_run / "dataset"), "interactive", split="train"))


def test_two_runs_give_the_same_rows(demo_run: Path, tmp_path: Path):
    # the second one also takes its notebooks through the steps one at a time, not 16
    result = run_cli("run", str(demo_recipe(tmp_path, executor={"chunk_size": 1})), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert task_rows(tmp_path / "out") == task_rows(demo_run)


def test_killed_run_resumes_to_the_same_rows(demo_run: Path, tmp_path: Path):
    recipe = demo_recipe(tmp_path, executor={"workers": 1, "part_size": 2})
    work = tmp_path / "out" / "_work"
    for finished_before_kill in (1, 4):  # kill mid-run, twice, at different points
        process = subprocess.Popen([sys.executable, "-m", "nbqa_builder", "run", str(recipe), "--no-progress"],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while len(list(work.glob("stage-*/part-*.json"))) < finished_before_kill and process.poll() is None:
            assert time.monotonic() < deadline, "no part finished in two minutes"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (tmp_path / "out" / "dataset").exists(), "the run finished before it was killed"
    result = run_cli("run", str(recipe), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert task_rows(tmp_path / "out") == task_rows(demo_run)


def test_a_resumed_run_reuses_finished_parts(demo_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Resume is "run again": finished parts are read back, never computed again (their files are
    untouched and their steps are not called), and the rows are those of one clean run."""
    from collections import Counter

    from nbqa_builder import pipeline as pipeline_module
    from nbqa_builder import stages
    from nbqa_builder.executors import local as local_executor
    from nbqa_builder.recipe import load_recipe
    from nbqa_builder.step import Step

    recipe = load_recipe(demo_recipe(tmp_path, executor={"workers": 1, "part_size": 4}))
    pipeline_module.Pipeline(recipe, progress=False).run()
    work = tmp_path / "out" / "_work"
    last = max(work.glob("stage-*"), key=lambda folder: int(folder.name.split("-")[1]))
    markers = sorted(last.glob("part-*.json"))
    lost = markers[-2:]  # killed while its last two parts were under way
    for marker in lost:
        marker.unlink()
        marker.with_suffix(".pkl").unlink()
    finished = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in work.rglob("part-*")}
    plan = json.loads((work / "plan.json").read_text())
    lost_parts = [int(marker.stem.split("-")[1]) for marker in lost]

    parts_run: list[tuple[int, int]] = []
    notebooks_seen: Counter[str] = Counter()
    run_part, step_call = local_executor.run_part, Step.__call__

    def counting_run_part(steps, job):
        parts_run.append((job.stage.index, job.part))
        return run_part(steps, job)

    def counting_call(step, batch):
        notebooks_seen[step.label] += len(batch)
        return step_call(step, batch)

    monkeypatch.setattr(local_executor, "run_part", counting_run_part)
    monkeypatch.setattr(Step, "__call__", counting_call)
    pipeline_module.Pipeline(recipe, progress=False).run()

    stage = int(last.name.split("-")[1])
    assert parts_run == [(stage, part) for part in lost_parts]
    lost_notebooks = sum(len(plan["parts"][part]) for part in lost_parts)
    last_steps = [label for label, (name, _) in zip(recipe.step_labels(), recipe.step_configs())
                  if label in stages.plan_stages(recipe)[stage].names]
    assert last_steps and notebooks_seen == Counter({label: lost_notebooks for label in last_steps})
    for path, (mtime, content) in finished.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content, path
    assert task_rows(tmp_path / "out") == task_rows(demo_run)


def test_stats_command_prints_the_funnel(demo_run: Path):
    result = run_cli("stats", str(demo_run))
    assert result.returncode == 0
    assert "filter" in result.stdout and "out_of_order=1" in result.stdout


def test_rerun_of_a_changed_recipe_into_the_same_output_is_refused(demo_run: Path, tmp_path: Path):
    first = demo_recipe(tmp_path)
    assert run_cli("run", str(first), "--no-progress").returncode == 0
    recipe = yaml.safe_load(first.read_text())
    data_filter = next(step["filter"] for step in recipe["steps"] if "min_data_rows" in step.get("filter", {}))
    data_filter["min_data_rows"] = 5
    first.write_text(yaml.safe_dump(recipe))
    result = run_cli("run", str(first), "--no-progress")
    assert result.returncode == 2 and "different recipe" in result.stderr
    assert run_cli("run", str(first), "--no-progress", "--restart").returncode == 0


def test_inspect_prints_every_check():
    notebook = ROOT / "examples" / "repos" / "acme__retail-analysis" / "notebooks" / "out_of_order.ipynb"
    result = run_cli("inspect", str(notebook), "--repo", str(notebook.parents[1]), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] and not report["in_order"]
    assert report["verdict"] == "drop" and report["drop_reason"] == "out_of_order"
    assert report["data_files"][0]["status"] == "found"
    assert report["data_files"][0]["resolved"] == "data/sales.csv"
    assert set(report["rules"]) == set(RULES)
    for key in ("code_cells", "unexecuted_code_cells", "error_outputs"):
        assert key in report


def test_inspect_broken_notebook_reports_instead_of_crashing():
    notebook = ROOT / "examples" / "repos" / "misc__broken-notebooks" / "truncated.ipynb"
    result = run_cli("inspect", str(notebook), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert not report["valid"] and report["drop_reason"] == "invalid_json"


def test_parts_are_bounded_by_count_and_by_bytes(tmp_path: Path):
    from nbqa_builder.pipeline import split_parts

    sizes = [10, 10, 10, 50, 10, 10, 200, 10]
    files = []
    for index, size in enumerate(sizes):
        files.append(tmp_path / f"{index}.ipynb")
        files[-1].write_bytes(b"x" * size)
    parts = split_parts(list(range(len(sizes))), files, max_items=3, max_bytes=60)
    assert parts == [[0, 1, 2], [3, 4], [5], [6], [7]]  # 200 bytes alone: one file is never split
    assert sum(parts, []) == list(range(len(sizes)))


def test_a_one_worker_run_from_an_unguarded_script_runs_once(tmp_path: Path):
    # no `if __name__ == "__main__"`: a spawned process would run the script again
    recipe = yaml.safe_load(demo_recipe(tmp_path, executor={"workers": 1}).read_text())
    recipe["steps"] = [step for step in recipe["steps"] if not {"execute", "verify"} & set(step)]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    script = tmp_path / "build.py"
    script.write_text(
        "from nbqa_builder.pipeline import Pipeline\n"
        "from nbqa_builder.recipe import load_recipe\n"
        "print('script body runs')\n"
        f"Pipeline(load_recipe({str(tmp_path / 'recipe.yaml')!r}), progress=False).run()\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("script body runs") == 1
    assert (tmp_path / "out" / "dataset" / "funnel.png").exists()


# ---------------------------------------------------------------------------------------------
# the bwrap sandbox in a run: one that cannot start stops the run; a killed run leaves nothing

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


def sandboxed_recipe(tmp_path: Path, cells: list[str], notebooks: int = 1, workers: int = 1) -> Path:
    """Notebooks of `cells` in one repository; validate, deps, execute in bwrap; one part each."""
    repo = tmp_path / "repos" / "someone__analysis"
    repo.mkdir(parents=True)
    for index in range(notebooks):
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), repo / f"n{index}.ipynb")
    recipe = {
        "name": "sandboxed",
        "source": {"kind": "local", "path": str(tmp_path / "repos")},
        "steps": [{"validate": {}}, {"deps": {}}, {"redact": {}},
                  {"execute": {"sandbox": "bwrap", "timeout_s": 600, "runs": 1}}],
        "output": str(tmp_path / "out"),
        "executor": {"workers": workers, "part_size": 1},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def own_tmp(tmp_path: Path) -> dict[str, str]:
    """An environment whose temporary folders (the sandboxes' job folders) are the test's: a run
    killed with SIGKILL cannot remove its own."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp")}


@needs_bwrap
def test_a_sandbox_that_cannot_start_stops_the_run_and_a_resume_redoes_its_part(tmp_path: Path):
    recipe = sandboxed_recipe(tmp_path, ["print(6 * 7)"])
    # as in many containers: a user namespace in which no further one may be made
    no_namespaces = ["bwrap", "--dev-bind", "/", "/", "--unshare-user", "--uid", "1000", "--gid", "1000",
                     "--disable-userns", "--"]
    failed = subprocess.run([*no_namespaces, sys.executable, "-m", "nbqa_builder", "run", str(recipe), "--no-progress"],
                            capture_output=True, text=True, cwd=ROOT, env=own_tmp(tmp_path))
    assert failed.returncode == 2, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the bwrap sandbox could not start"), failed.stderr
    assert "bwrap: " in lines[0] and "; fix: " in lines[0]
    assert not list((tmp_path / "out" / "_work").glob("stage-*/part-*.json"))  # not done
    resumed = run_cli("run", str(recipe), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    with open(tmp_path / "out" / "_work" / "stage-0" / "part-00000.pkl", "rb") as handle:
        (notebook,) = pickle.load(handle)
    assert notebook.checks["executable"] is True and notebook.checks["execution"]["status"] == "ok"


@needs_bwrap
def test_sigkill_of_a_run_leaves_no_process_behind(tmp_path: Path):
    recipe = sandboxed_recipe(tmp_path, ["import time\ntime.sleep(300)"], notebooks=2, workers=2)
    run = subprocess.Popen([sys.executable, "-m", "nbqa_builder", "run", str(recipe), "--no-progress"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=own_tmp(tmp_path))
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while sum(p.name() == "bwrap" for p in family) < 2:  # both pool workers are in a notebook
            assert time.monotonic() < deadline and run.poll() is None, "the sandboxes did not start"
            time.sleep(0.2)
            family = psutil.Process(run.pid).children(recursive=True)
        time.sleep(1)
        family = psutil.Process(run.pid).children(recursive=True)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        _, alive = psutil.wait_procs(family, timeout=15)
        assert alive == [], [(p.pid, p.name()) for p in alive]
    finally:
        for process in family:
            with contextlib.suppress(psutil.Error):
                process.kill()
