"""A run's stages, and the work of one part: what the pipeline and every executor share.

The recipe's steps are cut into stages at each global step (dedup): a stage runs its per-record
steps part by part and ends with the global step's `map`; between stages the global step's
`reduce` decides drops from all parts' keys. The pipeline (pipeline.py) plans the stages and the
parts; an executor (executors/) runs each part with `run_part`, on this machine or on a cluster.

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
import gc
import hashlib
import json
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from nbqa_builder.progress import Reporter
from nbqa_builder.recipe import Recipe, step_class
from nbqa_builder.records import Notebook
from nbqa_builder.sources.local import Repository, read_notebook
from nbqa_builder.step import GlobalStep, Step, merge_metrics


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
