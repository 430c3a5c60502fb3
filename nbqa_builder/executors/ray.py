"""The Ray executor: the same recipe, steps, parts and outputs as the local one, on a Ray cluster.

`executor: {kind: ray, address: local | auto | host:port | ray://host:10001}`.

- Per-record stages run as Ray tasks over the plan's parts. Each task calls `stages.run_part`,
  the function the local executor's processes call, with the steps that its Ray worker process
  built for the stage the first time it got one of its parts (a sandbox step keeps one warm
  sandbox worker per Ray worker). Parts are the unit of resume, as locally: a part is done when
  its summary is written, a re-run skips done parts, and a task whose worker dies is run again by
  Ray (`max_retries`) and rewrites the same files whole, so nothing is lost or written twice.
  Ray Data's streaming blocks would not survive a killed driver; the parts do.
- Resources are asked per step (`STEP_DEFAULTS`, overridden by `executor.resources`): a CPU for
  the cheap steps, a CPU and the sandbox's memory for `execute` and `verify`, and a bounded number
  of parts in flight for an LLM `extract` (each part already sends `max_concurrency` requests).
- A global step's reduce runs as map (its keys, written by the parts), shuffle and reduce
  (`GlobalStep.reduce_sharded`, see `dedup/sharded.py`): scatter tasks cut each group of parts'
  keys into shards in Ray's object store, one reduce task per shard, so no node holds all keys.
- `_work/` is `<output>/_work` when every node reads it (one machine, or a shared file system);
  `executor.storage` puts it in object storage instead (`executors/storage.py`). The driver
  writes the dataset, `stats.json` and `rejects/` into `<output>` with the local writer.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import hashlib
import json
import logging
import math
import pickle
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from nbqa_builder.executors.base import PlannedRun
from nbqa_builder.executors.local import StepCache, keep_freed_memory
from nbqa_builder.executors.storage import StorageError, WorkStore, part_outputs
from nbqa_builder.llm.store import adopt_work_layout, retry_failed_requests
from nbqa_builder.recipe import RayResources, Recipe, RecipeError
from nbqa_builder.stages import PartJob, Stage, build_stage_steps, recipe_fingerprint, run_part
from nbqa_builder.step import GlobalStep

log = logging.getLogger(__name__)

# Tries of a task whose worker process or node died (a step's own error is not retried: it fails the run).
TASK_RETRIES = 4
# A sandbox step's task asks for the sandbox's memory limit plus its warm worker (pandas, sklearn...).
SANDBOX_WORKER_MB = 512
# An LLM extract's parts in flight: each sends `max_concurrency` requests at once already.
LLM_PARTS_IN_FLIGHT = 2
# A reduce shard per this many notebooks (at least one per CPU): a shard's rows stay in the
# tens of MB at the paper's 1.6 M notebooks (bench/scale.py measures them).
NOTEBOOKS_PER_SHARD = 50_000
# Map parts read by one scatter task at most.
PARTS_PER_SCATTER = 64


def _sandbox_defaults(config: Any) -> dict[str, Any]:
    return {"num_cpus": 1, "memory_mb": config.memory_mb + SANDBOX_WORKER_MB}


def uses_llm(name: str, config: Any) -> bool:
    """Whether a step sends requests to an LLM (and keeps replies and spend in <output>/_llm/)."""
    return name == "solve" or (name == "extract" and config.backend != "heuristic")


def _extract_defaults(config: Any) -> dict[str, Any]:
    return {"max_in_flight": LLM_PARTS_IN_FLIGHT} if uses_llm("extract", config) else {}


def _solve_defaults(config: Any) -> dict[str, Any]:
    return {**_sandbox_defaults(config), "max_in_flight": LLM_PARTS_IN_FLIGHT}  # a sandbox and an LLM


# step name -> its tasks' resources from its settings; a step not named gets one CPU
STEP_DEFAULTS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "execute": _sandbox_defaults,
    "verify": _sandbox_defaults,
    "extract": _extract_defaults,
    "solve": _solve_defaults,
}


def stage_resources(recipe: Recipe, stage: Stage) -> RayResources:
    """What a task of the stage asks for: the most CPUs and memory any of its steps asks, and
    the fewest parts in flight."""
    configs = recipe.step_configs()
    positions = stage.steps + ([stage.global_step] if stage.global_step is not None else [])
    cpus, memory, in_flight = 1.0, 0, None
    for position in positions:
        name, config = configs[position]
        asked = {**STEP_DEFAULTS.get(name, lambda c: {})(config),
                 **recipe.executor.resources.get(name, RayResources()).model_dump(exclude_none=True)}
        cpus = max(cpus, asked.get("num_cpus", 1))
        memory = max(memory, asked.get("memory_mb", 0))
        if asked.get("max_in_flight"):
            in_flight = min(in_flight or asked["max_in_flight"], asked["max_in_flight"])
    return RayResources(num_cpus=cpus, memory_mb=memory, max_in_flight=in_flight)


# ---------------------------------------------------------------------------------------------
# In the Ray worker processes


_worker_steps: StepCache | None = None


def _steps_for(key: Any, build: Callable) -> list:
    global _worker_steps
    if _worker_steps is None:
        keep_freed_memory()
        _worker_steps = StepCache()
        atexit.register(_worker_steps.close)
    return _worker_steps.get(key, build)


def _part_task(job: PartJob, store: WorkStore, run_key: str) -> dict[str, Any]:
    folder = store.task_folder(run_key)
    stage = job.stage.index
    if stage > 0:
        store.fetch(folder, f"stage-{stage - 1}/part-{job.part:05d}.pkl")
        store.fetch(folder, f"stage-{stage - 1}/reduce.json", keep=True)
    (folder / f"stage-{stage}").mkdir(parents=True, exist_ok=True)
    steps = _steps_for((run_key, stage), functools.partial(build_stage_steps, job.recipe, job.stage))
    summary = run_part(steps, dataclasses.replace(job, work=str(folder)))
    store.publish(folder, part_outputs(stage, job.part))
    if not store.shared and stage > 0:
        (folder / f"stage-{stage - 1}" / f"part-{job.part:05d}.pkl").unlink(missing_ok=True)
    return summary


def _read_keys(store: WorkStore, stage: int, parts: list[int]) -> list:
    keys: list = []
    for part in parts:
        keys += pickle.loads(store.read_bytes(f"stage-{stage}/part-{part:05d}.keys.pkl"))
    return keys


def _scatter_task(fn: Callable, store: WorkStore, stage: int, parts: list[int], broadcast: Any, n_shards: int):
    pieces = fn(_read_keys(store, stage, parts), broadcast, n_shards)
    assert len(pieces) == n_shards, "a scatter returns one piece per shard"
    return tuple(pieces) if n_shards > 1 else pieces[0]


def _reduce_task(fn: Callable, own_input: Any, *pieces: Any) -> Any:
    return fn(list(pieces), own_input)


def _whole_reduce_task(step: GlobalStep, store: WorkStore, stage: int, n_parts: int) -> dict[str, str]:
    return step.reduce(_read_keys(store, stage, list(range(n_parts))))


class RayShuffle:
    """`dedup.sharded.ShuffleRunner` on Ray: pieces stay in the object store, on the node that made them."""

    def __init__(self, ray: Any, store: WorkStore, stage: int, groups: list[list[int]]) -> None:
        self.ray, self.store, self.stage, self.groups = ray, store, stage, groups

    def scatter(self, fn: Callable, broadcast: Any, n_shards: int) -> list[list]:
        shared = self.ray.put(broadcast)
        task = self.ray.remote(_scatter_task).options(num_returns=n_shards, max_retries=TASK_RETRIES)
        scattered = []
        for parts in self.groups:
            refs = task.remote(fn, self.store, self.stage, parts, shared, n_shards)
            scattered.append(list(refs) if n_shards > 1 else [refs])
        return scattered

    def reduce(self, fn: Callable, scattered: list[list], inputs: list[Any]) -> list[Any]:
        task = self.ray.remote(_reduce_task).options(max_retries=TASK_RETRIES)
        refs = [task.remote(fn, inputs[s], *[pieces[s] for pieces in scattered]) for s in range(len(inputs))]
        return _get(self.ray, refs)


# ---------------------------------------------------------------------------------------------
# The driver


def _import_ray(recipe: Recipe):
    try:
        import ray
    except ImportError:
        raise RecipeError(f"{recipe.path or 'recipe'}: executor.kind ray needs Ray: "
                          "pip install 'nbqa_builder[ray]'") from None
    return ray


def _connect(ray: Any, recipe: Recipe) -> bool:
    """Join (or start) the cluster; True when this call did, so the run disconnects at its end."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    address = recipe.executor.address
    if address == "local":
        ray.init(num_cpus=recipe.executor.workers, include_dashboard=False, **quiet)
        return True
    try:
        ray.init(address=address, **quiet)
    except ConnectionError as exc:
        raise RecipeError(f"{recipe.path or 'recipe'}: executor.address {address}: no Ray cluster to join ({exc}); "
                          "start one with `ray start --head`, or use address: local") from None
    return True


def _get(ray: Any, refs: Any) -> Any:
    """ray.get, raising a task's own exception (a SandboxError, StopRun...) as the local run would."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise


class RayExecutor:
    """Runs a planned run on a Ray cluster: `RayExecutor(pipeline).run(restart)`."""

    def __init__(self, pipeline: PlannedRun) -> None:
        self.pipeline = pipeline

    def run(self, restart: bool = False) -> dict[str, Any]:
        pipeline = self.pipeline
        recipe = pipeline.recipe
        ray = _import_ray(recipe)
        store = WorkStore(pipeline.work, recipe.executor.storage)
        try:
            store.fs  # noqa: B018 (a storage URL nothing can open is the recipe's error, before any work)
        except StorageError as exc:
            raise RecipeError(f"{recipe.path or 'recipe'}: executor.storage {exc}") from None
        llm_steps = [label for (name, config), label in zip(recipe.step_configs(), recipe.step_labels())
                     if uses_llm(name, config)]
        if llm_steps and recipe.executor.storage:
            # each node would keep its own replies and ledger, and max_cost would count one node's spend
            raise RecipeError(f"{recipe.path or 'recipe'}: executor.storage is for nodes that do not share <output>, "
                              f"but {llm_steps[0]} keeps its LLM replies and spend in <output>/_llm/, which every node "
                              "must share: put <output> on a shared file system and leave storage out")
        # as the local run: the LLM replies and spend of older runs are moved to <output>/_llm/
        adopt_work_layout(pipeline.output)
        connected_here = _connect(ray, recipe)
        started = time.time()  # like the local run's, without starting the cluster
        pipeline.parts_run = 0
        try:
            if restart:
                retry_failed_requests(pipeline.output)
                store.remove_all()
                shutil.rmtree(pipeline.work, ignore_errors=True)
            if not store.shared and store.exists("plan.json") and not (pipeline.work / "plan.json").exists():
                pipeline.work.mkdir(parents=True, exist_ok=True)
                (pipeline.work / "plan.json").write_bytes(store.read_bytes("plan.json"))
            repositories, parts = pipeline.plan()
            plan_bytes = (pipeline.work / "plan.json").read_bytes()
            if not store.shared and not store.exists("plan.json"):
                store.write_bytes("plan.json", plan_bytes)
            # names the tasks' mirrors of `_work/` and their steps: new for each run of the driver, so
            # that no node reuses a reduce.json it kept from an earlier run of the same plan
            run_key = hashlib.sha256(plan_bytes).hexdigest()[:16] + recipe_fingerprint(recipe) + uuid.uuid4().hex[:8]
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            total = sum(len(p) for p in parts)
            for stage in pipeline.stages:
                _run_stage(ray, pipeline, store, stage, [dataclasses.asdict(r) for r in repositories], parts,
                           total, run_key, cpus)
                if stage.global_step is not None:
                    _reduce(ray, recipe, store, stage, len(parts), total, cpus)
            if not store.shared:
                _fetch_final(store, pipeline.work, pipeline.stages[-1].index, len(parts))
        finally:
            if connected_here:
                ray.shutdown()
        from nbqa_builder.publish.writer import write_outputs

        return write_outputs(recipe, pipeline.stages, pipeline.work, len(parts), elapsed_s=time.time() - started)


def _largest_node_memory_mb(ray: Any) -> float:
    sizes = [node.get("Resources", {}).get("memory", 0) for node in ray.nodes() if node.get("Alive")]
    return max(sizes, default=0) / 2**20


def _run_stage(ray: Any, pipeline: PlannedRun, store: WorkStore, stage: Stage, repositories: list[dict],
               parts: list, total: int, run_key: str, cpus: int) -> None:
    recipe = pipeline.recipe
    folder = f"stage-{stage.index}"
    if store.shared:
        (pipeline.work / folder).mkdir(parents=True, exist_ok=True)
    done = store.names(folder)
    todo = [p for p in range(len(parts)) if f"part-{p:05d}.json" not in done]
    resources = stage_resources(recipe, stage)
    memory_mb = resources.memory_mb or 0
    largest = _largest_node_memory_mb(ray)
    if memory_mb > largest > 0:
        # Ray would wait for a node that never comes; the sandbox enforces its own limit anyway
        log.warning("stage %s asks %d MB per task; the largest node offers %d MB: asking that", stage.label,
                    memory_mb, largest)
        memory_mb = int(largest)
    task = ray.remote(_part_task).options(num_cpus=resources.num_cpus, memory=memory_mb * 2**20 or None,
                                          max_retries=TASK_RETRIES, retry_exceptions=False)
    limit = resources.max_in_flight or max(1, int(cpus / resources.num_cpus)) * 2
    pipeline.parts_run += len(todo)
    waiting = set(todo)
    done_already = sum(len(parts[p]) for p in range(len(parts)) if p not in waiting)
    pending: dict[Any, int] = {}
    with tqdm(total=total, initial=done_already, unit="nb", desc=f"stage {stage.index}: {stage.label} (ray)",
              disable=not pipeline.progress, mininterval=1.0, dynamic_ncols=True) as bar:
        try:
            for part in todo:
                job = PartJob(recipe, stage, part, str(pipeline.work))
                if stage.index == 0:
                    job.repositories, job.paths = _own_repositories(repositories, parts[part])
                pending[task.remote(job, store, run_key)] = part
                while len(pending) >= limit:
                    _collect_one(ray, pending, bar)
            while pending:
                _collect_one(ray, pending, bar)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise


def _own_repositories(repositories: list[dict], paths: list) -> tuple[list[dict], list[tuple[int, str]]]:
    """The repositories a stage-0 part reads, and its paths numbered in that list: a task carries
    its own few repositories, not the crawl's tens of thousands."""
    used = sorted({index for index, _ in paths})
    position = {index: k for k, index in enumerate(used)}
    return [repositories[i] for i in used], [(position[index], path) for index, path in paths]


def _collect_one(ray: Any, pending: dict, bar: tqdm) -> None:
    ready, _ = ray.wait(list(pending), num_returns=1)
    for ref in ready:
        pending.pop(ref)
        bar.update(_get(ray, ref)["notebooks"])


def _reduce(ray: Any, recipe: Recipe, store: WorkStore, stage: Stage, n_parts: int, notebooks: int, cpus: int) -> None:
    out = f"stage-{stage.index}/reduce.json"
    if store.exists(out):
        return
    step = build_stage_steps(recipe, stage)[-1]
    assert isinstance(step, GlobalStep)
    if hasattr(step, "reduce_sharded"):
        from nbqa_builder.dedup.sharded import groups_of_parts

        groups = groups_of_parts(n_parts, max(cpus, math.ceil(n_parts / PARTS_PER_SCATTER)))
        shards = recipe.executor.reduce_shards or max(cpus, math.ceil(notebooks / NOTEBOOKS_PER_SHARD))
        drops = step.reduce_sharded(RayShuffle(ray, store, stage.index, groups), shards)
    else:  # a global step without shards reads every key in one task
        drops = _get(ray, ray.remote(_whole_reduce_task).options(max_retries=TASK_RETRIES)
                     .remote(step, store, stage.index, n_parts))
    store.write_bytes(out, json.dumps({"step": step.label, "drops": drops}, sort_keys=True).encode())


def _fetch_final(store: WorkStore, work: Path, last_stage: int, n_parts: int) -> None:
    """Bring the last stage's parts and summaries from storage for the writer."""
    for part in range(n_parts):
        for relative in part_outputs(last_stage, part):
            if relative.endswith(".keys.pkl"):
                continue
            target = work / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.read_bytes(relative))
