"""Running a recipe: source -> stages of steps -> dataset, stats and rejects.

The recipe's steps are cut into stages at each global step (dedup): a stage runs its per-record
steps part by part and ends with the global step's `map`; between stages the global step's
`reduce` decides drops from all parts' keys.

The file system is the job's state (`<output>/_work/`):
    plan.json                  the parts: which notebooks each holds (fixed on the first run)
    stage-<s>/part-<p>.pkl     the part's records after stage s (after the last stage, only the
                               kept ones: the summary holds the drops)
    stage-<s>/part-<p>.keys.pkl  the global step's map keys of the part (read by the reduce)
    stage-<s>/part-<p>.json    its summary, written last: the part's done marker
    stage-<s>/reduce.json      the global step's drops, written whole
A re-run skips what is done, so a run killed at any moment and run again gives the same dataset as
one clean run.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import logging
import os
import pickle
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from nbqa_builder.executors.local import LocalExecutor
from nbqa_builder.llm.store import adopt_work_layout, retry_failed_requests
from nbqa_builder.progress import ProgressChannel, Reporter, progress_bar
from nbqa_builder.recipe import Recipe, step_class
from nbqa_builder.records import Notebook
from nbqa_builder.sources.local import Repository, find_repositories, list_notebooks, read_notebook
from nbqa_builder.step import GlobalStep, Step, merge_metrics

log = logging.getLogger(__name__)


class PlanMismatch(Exception):
    """The output folder holds a run of a different recipe (or of an older nbqa_builder)."""


@dataclass
class Stage:
    index: int
    steps: list[int]  # positions in the recipe's step list of the per-record steps, in order
    global_step: int | None  # position of the global step whose map ends this stage
    names: list[str]  # for progress lines

    @property
    def label(self) -> str:
        return " > ".join(self.names) or "collect"


def plan_stages(recipe: Recipe) -> list[Stage]:
    stages: list[Stage] = []
    current: list[int] = []
    names: list[str] = []
    for position, ((name, _), label) in enumerate(zip(recipe.step_configs(), recipe.step_labels())):
        if issubclass(step_class(name), GlobalStep):
            stages.append(Stage(len(stages), current, position, names + [f"{label} (map)"]))
            current, names = [], [f"{label} (reduce)"]
        else:
            current.append(position)
            names.append(label)
    stages.append(Stage(len(stages), current, None, names))
    return stages


def build_stage_steps(recipe: Recipe, stage: Stage) -> list[Step]:
    """The steps one stage runs, its global step (for `map`) last."""
    configs, labels = recipe.step_configs(), recipe.step_labels()
    positions = stage.steps + ([stage.global_step] if stage.global_step is not None else [])
    return [step_class(configs[p][0])(configs[p][1], label=labels[p], output=recipe.output, tiers=tuple(recipe.tiers))
            for p in positions]


def split_parts(items: list, files: list[str | Path], max_items: int, max_bytes: int) -> list[list]:
    """Consecutive parts of at most `max_items` items and `max_bytes` bytes of files (a file larger
    than `max_bytes` gets a part of its own)."""
    parts: list[list] = []
    current: list = []
    current_bytes = 0
    for item, file in zip(items, files):
        try:
            size = os.stat(file).st_size
        except OSError:
            size = 0  # the reader records the error
        if current and (len(current) >= max_items or current_bytes + size > max_bytes):
            parts.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        parts.append(current)
    return parts


def atomic_write(path: Path, data: bytes) -> None:
    """`path` holds `data` whole, or is as it was: a write that fails (a full disk) leaves no
    temporary file behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# The layout of `_work/` (what parts and summaries hold); raised when it changes, so that a run
# begun by an older version is refused rather than resumed. 2: summaries list the data files.
# 3: data references list their call sites; tasks carry their spec's reference program.
# 4: data references say what they read (a file, a glob match, a network fetch).
# 6: notebooks carry a drop detail and the reason their tasks are not interactive.
WORK_FORMAT = 6


def recipe_fingerprint(recipe: Recipe) -> str:
    """What decides the result: source, steps and tiers (not the executor, not the publishing, not a
    step's `not_decisive` settings: a budget or a concurrency limit can change between resumes),
    and the layout of the work folder."""
    decisive = {"work_format": WORK_FORMAT, **recipe.model_dump(include={"source", "steps", "tiers"})}
    for entry in decisive["steps"]:
        for name, settings in entry.items():
            ignored = getattr(step_class(name).Config, "not_decisive", frozenset())
            if ignored and isinstance(settings, dict):
                entry[name] = {k: v for k, v in settings.items() if k not in ignored}
    return hashlib.sha256(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# The work of one part, run in a worker process.


@dataclass
class PartJob:
    recipe: Recipe
    stage: Stage
    part: int
    work: str
    repositories: list[dict] | None = None  # stage 0: where to read
    paths: list[tuple[int, str]] | None = None  # stage 0: (repository index, path)
    progress: Any = None  # where to count finished notebooks (progress.Reporter's sink); None: nowhere


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; one collection of its objects after it.

    A part's records (parsed JSON, cells, syntax trees) all stay alive until the part is written,
    so each pass of the collector walks millions of live objects and frees nothing: with it on,
    bench/pipeline.py ran at 472 notebooks/s instead of 685. Plain reference counting still
    frees everything that is not in a cycle; what is, waits for the end of the part. Everything
    allocated while the collector is off stays in its youngest generation, so collecting that
    one generation finds all of the part's cycles without walking the modules and caches of the
    whole process (a full collection costs ~10 ms).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect(0)


def run_part(steps: list[Step], job: PartJob) -> dict[str, Any]:
    with cyclic_gc_paused():
        return _run_part(steps, job)


def _run_part(steps: list[Step], job: PartJob) -> dict[str, Any]:
    work = Path(job.work)
    per_record = [s for s in steps if not isinstance(s, GlobalStep)]
    # The part goes through the steps a chunk at a time, and a dropped notebook lets go of its
    # content at once: a worker holds one chunk's notebooks and the part's kept ones, not the
    # whole part parsed. A step that works on several notebooks at once gets chunks that large.
    chunk = max([job.recipe.executor.chunk_size] + [s.concurrency() for s in per_record])
    # Steps that work on one notebook at a time take the chunk's notebooks one by one, so that
    # progress moves a notebook at a time (a chunk of slow executions would hold it still).
    one_by_one = all(s.concurrency() == 1 for s in per_record)
    reporter = Reporter(job.progress)
    records: list[Notebook] = []
    seconds: dict[str, float] = {step.label: 0.0 for step in steps}  # wall time in each step (bench, stats)

    def timed(step: Step, notebooks: list[Notebook]) -> list[Notebook]:
        started = time.perf_counter()
        notebooks = step(notebooks)
        seconds[step.label] += time.perf_counter() - started
        return notebooks

    for batch in _part_batches(job, work, chunk):
        if one_by_one:
            for notebook in batch:
                single = [notebook]
                for step in per_record:
                    single = timed(step, single)
                reporter.add(1)
        else:
            for step in per_record:
                batch = timed(step, batch)
            reporter.add(len(batch))
        for notebook in batch:
            if notebook.kept:
                notebook.compact()  # it waits in memory for the rest of the part
            else:
                notebook.release()
        records += batch
    started = time.perf_counter()
    keys = steps[-1].map(records) if job.stage.global_step is not None else None
    if keys is not None:
        seconds[steps[-1].label] += time.perf_counter() - started
    last_stage = job.stage.global_step is None
    for notebook in records:
        # after the last stage the tasks carry the code and outputs they need, so the writer
        # reads small parts
        if last_stage:
            notebook.release()
        else:
            notebook.cache = {}
    out = work / f"stage-{job.stage.index}"
    # the writer reads the last stage's kept notebooks; the drops are in the summary
    written = [n for n in records if n.kept] if last_stage else records
    atomic_write(out / f"part-{job.part:05d}.pkl", pickle.dumps(written, protocol=5))
    if keys is not None:  # kept apart so the reduce reads keys, not notebooks
        atomic_write(out / f"part-{job.part:05d}.keys.pkl", pickle.dumps(keys, protocol=5))
    summary = part_summary(job.part, records)
    summary["seconds"] = {label: round(value, 4) for label, value in seconds.items()}
    atomic_write(out / f"part-{job.part:05d}.json", json.dumps(summary).encode())
    reporter.flush()
    return summary


def _part_batches(job: PartJob, work: Path, size: int) -> Iterator[list[Notebook]]:
    """The part's notebooks, `size` at a time: read from the source (stage 0), or from the
    previous stage's part with the global step's drops applied."""
    if job.stage.index == 0:
        repos = [Repository(**r) for r in job.repositories or []]
        max_bytes = getattr(job.recipe.source, "max_notebook_bytes", 50_000_000)
        paths = job.paths or []
        for start in range(0, len(paths), size):
            yield [read_notebook(repos[i], path, max_bytes) for i, path in paths[start:start + size]]
        return
    previous = work / f"stage-{job.stage.index - 1}"
    with open(previous / f"part-{job.part:05d}.pkl", "rb") as handle:
        records: list[Notebook] = pickle.load(handle)
    drops = json.loads((previous / "reduce.json").read_text())
    for notebook in records:
        if notebook.kept and notebook.uid in drops["drops"]:
            notebook.drop(drops["drops"][notebook.uid], drops["step"])
    for start in range(0, len(records), size):
        yield records[start:start + size]


def part_summary(part: int, records: list[Notebook]) -> dict[str, Any]:
    metrics: dict[str, dict[str, float]] = {}
    for notebook in records:
        merge_metrics(metrics, notebook.checks.get("metrics", {}))
    return {
        "part": part,
        "metrics": metrics,
        "notebooks": len(records),
        "kept": sum(1 for n in records if n.kept),
        "tasks": sum(len([t for t in n.tasks if t.drop_reason is None]) for n in records if n.kept),
        "drops": [
            {"notebook_id": n.notebook_id, "repo": n.repo, "path": n.path, "step": n.dropped_by,
             "reason": n.drop_reason, "detail": n.drop_detail or _drop_detail(n)}
            for n in records if not n.kept
        ],
        # kept notebooks whose tasks go to `sft` only, and why (a failed re-run names its cell)
        "not_interactive": [
            {"notebook_id": n.notebook_id, "repo": n.repo, "path": n.path, "reason": n.not_interactive}
            for n in records if n.kept and n.not_interactive
        ],
        "task_drops": [
            {"id": t.id, "repo": n.repo, "path": n.path, "reason": t.drop_reason}
            for n in records for t in n.tasks if t.drop_reason is not None
        ],
        # the writer gathers and redacts the data files from these before it reads any task
        "data_files": [entry for n in records if n.kept for entry in n.published_files()],
    }


def _drop_detail(notebook: Notebook) -> str | None:
    check = notebook.checks.get(notebook.dropped_by or "") or {}
    return check.get("error") if isinstance(check, dict) else None


# ---------------------------------------------------------------------------------------------
# The driver.


class Pipeline:
    def __init__(self, recipe: Recipe, progress: bool = True) -> None:
        self.recipe = recipe
        self.output = Path(recipe.output)
        self.work = self.output / "_work"
        self.progress = progress
        self.stages = plan_stages(recipe)
        self.parts_run = 0  # parts the last `run` computed (0: an earlier run had done them all)

    def run(self, restart: bool = False) -> dict[str, Any]:
        if self.recipe.executor.kind == "ray":
            from nbqa_builder.executors.ray import run_on_ray

            return run_on_ray(self, restart)
        started = time.time()
        # the LLM replies and spend of earlier runs live in <output>/_llm/, which --restart keeps
        # (those of runs made before it existed are moved there from _work/ first)
        adopt_work_layout(self.output)
        if restart:
            retry_failed_requests(self.output)  # (an outage's failures are not held against a new run)
        if restart and self.work.exists():
            shutil.rmtree(self.work)
        self.parts_run = 0
        channel = ProgressChannel(self.recipe.executor.workers) if self.progress else None
        try:
            with LocalExecutor(self.recipe.executor.workers) as executor:
                # the workers import the steps while the notebooks are listed
                modules = {step_class(name).__module__ for name, _ in self.recipe.step_configs()}
                executor.start(preload=[__name__, *sorted(modules)])
                repositories, parts = self.plan()
                total = sum(len(p) for p in parts)
                for stage in self.stages:
                    self.run_stage(executor, stage, repositories, parts, total, channel)
                    if stage.global_step is not None:
                        self.reduce(stage, len(parts))
        finally:
            if channel is not None:
                channel.shutdown()
        from nbqa_builder.publish.writer import write_outputs

        return write_outputs(self.recipe, self.stages, self.work, len(parts), elapsed_s=time.time() - started)

    def plan(self) -> tuple[list[Repository], list[list[tuple[int, str]]]]:
        plan_file = self.work / "plan.json"
        fingerprint = recipe_fingerprint(self.recipe)
        if plan_file.exists():
            plan = json.loads(plan_file.read_text())
            if plan["recipe"] != fingerprint:
                raise PlanMismatch(
                    f"{self.output} holds a run of a different recipe (or of an older nbqa_builder); "
                    "use another output folder or --restart"
                )
            return [Repository(**r) for r in plan["repositories"]], plan["parts"]
        repositories, parts = self.list_parts(self.source_root())
        self.work.mkdir(parents=True, exist_ok=True)
        plan = {"recipe": fingerprint, "repositories": [asdict(r) for r in repositories], "parts": parts}
        atomic_write(plan_file, json.dumps(plan).encode())
        return repositories, [[tuple(p) for p in part] for part in parts]

    def list_parts(self, root: Path) -> tuple[list[Repository], list[list[tuple[int, str]]]]:
        """The repositories under `root` and the parts of their notebooks (the source's `limit`
        applied); nothing is written."""
        source = self.recipe.source
        repositories = find_repositories(root, "folders" if source.kind == "github" else source.layout)
        include = ["**/*" + ext for ext in source.notebook_extensions] if source.kind == "github" else source.include
        paths = [(i, path) for i, repo in enumerate(repositories) for path in list_notebooks(repo, include)]
        limit = getattr(source, "limit", None)
        if limit is not None and len(paths) > limit:
            paths = sorted(random.Random(source.seed).sample(paths, limit)) if source.sample else paths[:limit]
        parts = split_parts(paths, [os.path.join(repositories[i].directory, path) for i, path in paths],
                            self.recipe.executor.part_size, self.recipe.executor.part_max_bytes)
        return repositories, parts

    def done_parts(self) -> dict[int, int] | None:
        """Finished parts per stage, when the output holds a run of this recipe; None when it
        holds none (or one of another recipe)."""
        plan_file = self.work / "plan.json"
        try:
            if json.loads(plan_file.read_text())["recipe"] != recipe_fingerprint(self.recipe):
                return None
        except (OSError, ValueError, KeyError):
            return None
        return {stage.index: len(list((self.work / f"stage-{stage.index}").glob("part-*.json")))
                for stage in self.stages}

    def source_root(self) -> Path:
        """Where the repositories lie: the local folder, or the GitHub crawl's mirror (crawled now)."""
        if self.recipe.source.kind == "github":
            from nbqa_builder.sources.github import crawl

            return crawl(self.recipe.source, self.output, progress=self.progress)
        return self.local_root()

    def local_root(self) -> Path:
        """A local source's folder; FileNotFoundError naming it resolved when it is not there."""
        root = Path(self.recipe.source.path)
        written = self.recipe.written_as("source.path")
        if not root.is_dir() and written is not None:
            raise FileNotFoundError(f"source folder {root.absolute()} does not exist (source.path {written!r} in "
                                    f"{self.recipe.path} is relative to the recipe's folder)")
        return root

    def run_stage(self, executor: LocalExecutor, stage: Stage, repositories: list[Repository], parts: list,
                  total: int, channel: ProgressChannel | None = None) -> None:
        out = self.work / f"stage-{stage.index}"
        out.mkdir(parents=True, exist_ok=True)
        todo = [i for i in range(len(parts)) if not (out / f"part-{i:05d}.json").exists()]
        log.info("stage %d (%s): %d of %d parts to run", stage.index, stage.label, len(todo), len(parts))
        if not todo:
            return
        self.parts_run += len(todo)
        done_already = sum(len(parts[i]) for i in range(len(parts)) if i not in set(todo))
        bar = progress_bar(total, done_already, f"stage {stage.index}: {stage.label}", enabled=channel is not None)
        sink, drain = channel.sink_for(bar) if channel is not None else (None, None)
        repo_dicts = [asdict(r) for r in repositories]
        jobs = [
            PartJob(self.recipe, stage, i, str(self.work),
                    repositories=repo_dicts if stage.index == 0 else None,
                    paths=parts[i] if stage.index == 0 else None, progress=sink)
            for i in todo
        ]

        def on_result(summary: dict[str, Any]) -> None:
            log.debug("stage %d part %d: %d notebooks, %d kept", stage.index, summary["part"], summary["notebooks"],
                      summary["kept"])

        try:
            executor.map(run_part, jobs, stage.index, functools.partial(build_stage_steps, self.recipe, stage),
                         on_result)
        finally:
            if channel is not None:
                channel.close(sink, drain)
            bar.close()

    def reduce(self, stage: Stage, n_parts: int) -> None:
        out = self.work / f"stage-{stage.index}" / "reduce.json"
        if out.exists():
            return
        step = build_stage_steps(self.recipe, stage)[-1]
        assert isinstance(step, GlobalStep)

        def keys():
            for part in range(n_parts):
                with open(self.work / f"stage-{stage.index}" / f"part-{part:05d}.keys.pkl", "rb") as handle:
                    yield from pickle.load(handle)

        drops = step.reduce(keys())
        atomic_write(out, json.dumps({"step": step.label, "drops": drops}, sort_keys=True).encode())
