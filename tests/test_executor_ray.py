"""The demo recipe on a Ray cluster that the tests start on 127.0.0.1: the same rows, stats and
rejects as the local executor; a Ray worker killed mid-run loses nothing and doubles nothing; a
run killed and run again, with its parts in object storage, gives the same dataset."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.test_pipeline import ROOT, demo_recipe, run_cli, task_rows

pytest.importorskip("ray", reason="the Ray executor's tests need Ray: pip install '.[ray]'")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    address: str
    head_pid: int  # the `ray start` process: every Ray process of the cluster descends from it


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    """A one-node Ray cluster with 2 CPUs; `ray start --block` stops what it started on SIGTERM.
    Drivers join it at 127.0.0.1:<port>, which Ray resolves to this node's address."""
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    # a throwaway cluster of the tests: no token (else the cluster and the drivers the tests run
    # must find the same one in ~/.ray)
    environment = pytest.MonkeyPatch()
    environment.setenv("RAY_AUTH_MODE", "disabled")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the workers import this checkout
    command = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--disable-usage-stats",
        "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
        "--dashboard-agent-listen-port", str(free_port()),
        "--temp-dir", str(temp),
    ]
    head = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    started = []
    for line in head.stdout:  # it prints this, then blocks; or it ends, and so does stdout
        started.append(line)
        if "Ray runtime started" in line:
            break
    assert "Ray runtime started" in started[-1], "".join(started)
    # its later lines go nowhere, so a full pipe never stops it
    threading.Thread(target=head.stdout.read, daemon=True).start()
    yield Cluster(f"127.0.0.1:{port}", head.pid)
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(60)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)  # what it started, should it have left any
    environment.undo()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("local")
    result = run_cli("run", str(demo_recipe(tmp_path)), "--no-progress")
    assert result.returncode == 0, result.stderr
    return tmp_path / "out"


def ray_recipe(tmp_path: Path, address: str, **executor) -> Path:
    return demo_recipe(tmp_path, executor={"kind": "ray", "address": address, **executor})


def same_outputs(out: Path, expected: Path) -> None:
    assert task_rows(out) == task_rows(expected)
    stats, local = (json.loads((o / "stats.json").read_text()) for o in (out, expected))
    for timing in ("elapsed_s", "step_seconds"):  # how long, not what
        stats.pop(timing), local.pop(timing)
    assert stats == local
    assert (out / "rejects" / "notebooks.jsonl").read_text() == (expected / "rejects" / "notebooks.jsonl").read_text()


def test_the_demo_on_ray_gives_the_local_executors_rows(cluster: Cluster, local_run: Path, tmp_path: Path):
    result = run_cli("run", str(ray_recipe(tmp_path, cluster.address)))
    assert result.returncode == 0, result.stderr
    assert "(ray)" in result.stderr  # the progress lines say where the stages ran
    assert task_rows(tmp_path / "out")
    same_outputs(tmp_path / "out", local_run)
    # the same folder layout: parts, summaries, the dedup map's keys and its reduce
    work = tmp_path / "out" / "_work"
    assert (work / "stage-0" / "reduce.json").is_file() and list(work.glob("stage-0/part-*.keys.pkl"))


def running_part_tasks(cluster: Cluster) -> list[psutil.Process]:
    """The cluster's Ray worker processes running a part (Ray titles a worker with the task it
    runs); only this test's cluster, never another Ray on the machine."""
    found = []
    with contextlib.suppress(psutil.Error):
        for process in psutil.Process(cluster.head_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any("ray::_part_task" in arg for arg in process.cmdline()):
                    found.append(process)
    return found


def test_a_ray_worker_killed_mid_run_loses_nothing_and_doubles_nothing(cluster: Cluster, local_run: Path,
                                                                        tmp_path: Path):
    recipe = ray_recipe(tmp_path, cluster.address, part_size=4)
    run = subprocess.Popen([sys.executable, "-m", "nbqa_builder", "run", str(recipe), "--no-progress"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 120
    # the sandbox stage takes seconds a part: kill a worker there, in the middle of a part
    while killed is None and run.poll() is None and time.monotonic() < deadline:
        if list((tmp_path / "out" / "_work").glob("stage-0/reduce.json")):
            workers = running_part_tasks(cluster)
            if workers:
                killed = workers[0].pid
                workers[0].kill()
        time.sleep(0.05)
    out, err = run.communicate(timeout=300)
    assert killed is not None, "no worker was caught running a part"
    assert run.returncode == 0, err
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE
    same_outputs(tmp_path / "out", local_run)


def test_a_run_killed_and_run_again_on_ray_gives_the_same_dataset(cluster: Cluster, local_run: Path,
                                                                   tmp_path: Path):
    """With `storage`, the parts live in the store (here a file:// one) and nowhere else; the run
    again skips the parts the killed one finished."""
    store = tmp_path / "store"
    recipe = ray_recipe(tmp_path, cluster.address, part_size=4, storage=store.as_uri())
    run = subprocess.Popen([sys.executable, "-m", "nbqa_builder", "run", str(recipe), "--no-progress"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(store.glob("stage-1/part-*.json")) and run.poll() is None:
        assert time.monotonic() < deadline, "no part of the second stage finished in two minutes"
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (tmp_path / "out" / "dataset").exists(), "the run finished before it was killed"
    assert not list((tmp_path / "out" / "_work").glob("stage-*/part-*.json"))  # parts are in the store
    finished = {p.name: p.stat().st_mtime_ns for p in store.glob("stage-*/part-*.json")}
    result = run_cli("run", str(recipe), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert {p.name: p.stat().st_mtime_ns for p in store.glob("stage-*/part-*.json") if p.name in finished} == finished
    same_outputs(tmp_path / "out", local_run)


def test_a_recipe_asks_ray_for_a_sandbox_steps_memory_and_bounds_llm_parts():
    import yaml

    from nbqa_builder.executors.ray import stage_resources
    from nbqa_builder.recipe import parse_recipe
    from nbqa_builder.stages import plan_stages

    demo = yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text())
    recipe = parse_recipe(yaml.safe_dump(demo))
    first, sandbox = (stage_resources(recipe, stage) for stage in plan_stages(recipe))
    assert (first.num_cpus, first.memory_mb, first.max_in_flight) == (1, 0, None)
    assert sandbox.memory_mb > 4096 and sandbox.max_in_flight is None
    demo["steps"] = [s if "extract" not in s else {"extract": {"backend": "openai", "extract": {"model": "m"}}}
                     for s in demo["steps"]]
    demo["executor"] = {"kind": "ray", "resources": {"verify": {"memory_mb": 100_000}}}
    llm = parse_recipe(yaml.safe_dump(demo))
    sandbox = stage_resources(llm, plan_stages(llm)[1])
    assert sandbox.max_in_flight == 2 and sandbox.memory_mb == 100_000
    # the blind solver is both: a sandbox's memory, and few parts at once
    demo["steps"].insert(-1, {"solve": {"model": "m", "sandbox": "process"}})
    solve = parse_recipe(yaml.safe_dump(demo))
    sandbox = stage_resources(solve, plan_stages(solve)[1])
    assert sandbox.max_in_flight == 2 and sandbox.memory_mb == 100_000


def test_an_llm_step_with_storage_that_nodes_do_not_share_is_refused(tmp_path: Path):
    recipe = demo_recipe(tmp_path, executor={"kind": "ray", "address": "local", "storage": (tmp_path / "s").as_uri()})
    import yaml

    settings = yaml.safe_load(recipe.read_text())
    settings["steps"] = [s if "extract" not in s else {"extract": {"backend": "openai", "extract": {"model": "m"}}}
                         for s in settings["steps"]]
    recipe.write_text(yaml.safe_dump(settings))
    result = run_cli("run", str(recipe), "--no-progress")
    assert result.returncode == 2, result.stderr
    assert "_llm/" in result.stderr and "shared file system" in result.stderr
    assert not (tmp_path / "out" / "_work").exists() and not (tmp_path / "s").exists()
