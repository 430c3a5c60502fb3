"""The end of a run: dataset shards and card, `stats.json`, and `rejects/`.

Configs (ARCHITECTURE.md, "Publishing"):
- `interactive`: data files complete, the notebook re-ran offline to its end, answer verified and
  deterministic on re-execution;
- `sft`: every other non-visualisation task, among them those of notebooks that cannot re-run
  offline (`not_interactive` says why; NBQA.md, "The two tiers");
- `all`: both (its YAML entry lists both folders; no row is stored twice);
- `visualization`: tasks whose answer is a chart, kept apart as in the paper;
- `files`: the data files the tasks need, once per sha256.
Everything is written into a temporary folder and moved into place whole.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
import pickle
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import orjson

from nbqa_builder import __version__
from nbqa_builder.llm.store import spend_summary
from nbqa_builder.publish.card import LICENSES_FILE, licenses_file, render_card
from nbqa_builder.publish.chart import CHART_NAME, ChartDrawer
from nbqa_builder.publish.rows import MAX_FILE_ROW_BYTES, fit_task_row_sized
from nbqa_builder.publish.shards import ShardWriter
from nbqa_builder.redact.secrets import redact_bytes, redact_text
from nbqa_builder.redact.step import redact_task
from nbqa_builder.recipe import Recipe
from nbqa_builder.step import merge_metrics
from nbqa_builder.records import FILE_SCHEMA, TASK_SCHEMA, Notebook, Task

TASK_CONFIGS = ("interactive", "sft", "visualization")
STATS_STAGING = ".stats.json.tmp"  # stats.json before it is moved in place
# Distinct texts whose redaction the writer remembers. The tasks of a notebook repeat its cells'
# code, outputs and thoughts, so most texts come again within a few tasks; a bound keeps a large
# run from holding every text it has seen (outputs are cut to 2,000 characters by extract).
REDACT_CACHE_SIZE = 4096


def task_config(task: Task, require_solver: bool = False) -> str:
    """`require_solver`: the recipe's solve step says `interactive_requires_agreement`."""
    if task.is_visualization:
        return "visualization"
    if (task.not_interactive is None and task.deps_complete and task.verified and task.deterministic
            and (task.solver_agrees or not require_solver)):
        return "interactive"
    return "sft"


def same_task_key(task: Task) -> bytes:
    """What makes two tasks one: the text a solver sees, the files' contents and the label. Copies
    of a notebook that dedup keeps apart (they differ elsewhere) give such tasks; the first one
    met, in part order (the same on every executor), is written."""
    identity = [task.task, task.constraints, task.format, task.label, task.is_visualization,
                sorted((f.path.rsplit("/", 1)[-1], f.sha256) for f in task.data_files)]
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).digest()


def iter_final_records(work: Path, last_stage: int, n_parts: int) -> Iterator[Notebook]:
    for part in range(n_parts):
        with open(work / f"stage-{last_stage}" / f"part-{part:05d}.pkl", "rb") as handle:
            yield from pickle.load(handle)


def write_outputs(recipe: Recipe, stages: list, work: Path, n_parts: int, elapsed_s: float) -> dict[str, Any]:
    """Write `<output>/dataset` (Hub layout), `<output>/stats.json` and `<output>/rejects/`.

    Everything is written beside its place first and moved in at the end; a write that fails (a
    full disk) leaves the earlier outputs as they were and no staging file behind."""
    output = Path(recipe.output)
    try:
        # a run on several workers already starts processes; one on a single worker starts none
        with ChartDrawer(ahead=recipe.executor.workers > 1) as drawer:
            return _write_outputs(recipe, stages, work, n_parts, elapsed_s, drawer)
    except BaseException:
        for staging in (output / "_work" / "dataset.tmp", output / "rejects.tmp"):
            shutil.rmtree(staging, ignore_errors=True)
        (output / STATS_STAGING).unlink(missing_ok=True)
        raise


def _write_outputs(recipe: Recipe, stages: list, work: Path, n_parts: int, elapsed_s: float,
                   drawer: ChartDrawer) -> dict[str, Any]:
    """The part summaries come first: they list the data files the tasks need, which are scanned for
    credentials (and redacted, which changes their sha256) before any task row that points at them
    is written; then one pass over the final records writes the tasks with the final sha256s.
    """
    output = Path(recipe.output)
    last = stages[-1].index
    # part summaries are read once, streamed: counts kept, rejects written as they come
    rejects_staging = output / "rejects.tmp"
    tally = tally_parts([work / f"stage-{last}" / f"part-{p:05d}.json" for p in range(n_parts)], rejects_staging)

    staging = output / "_work" / "dataset.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    redaction: dict[str, Counter[str]] = {"task_text": Counter(), "data_files": Counter()}

    file_stats, published, shard_paths = _write_files(staging / "data" / "files", tally.data_files,
                                                      redaction["data_files"])

    writers = {name: ShardWriter(staging / "data" / name, TASK_SCHEMA) for name in TASK_CONFIGS}
    redact = functools.lru_cache(maxsize=REDACT_CACHE_SIZE)(redact_text)  # redact_text is pure: same text, same result
    task_counts: Counter[str] = Counter()
    concepts: Counter[str] = Counter()
    difficulty: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    licenses: Counter[str] = Counter()
    repositories: dict[str, str | None] = {}  # of the kept notebooks: their license, for LICENSES.md
    row_notes: Counter[str] = Counter()
    solve = next((config for name, config in recipe.step_configs() if name == "solve"), None)
    solver: Counter[str] = Counter()  # the blind solver's verdicts on the tasks written
    tiers: Counter[str] = Counter()  # the kept notebooks: re-ran to their end, or why they cannot
    written: set[bytes] = set()  # each task's identity (same_task_key): a task two notebooks give is one row
    duplicates = open(rejects_staging / "tasks.jsonl", "ab")
    try:
        for notebook in iter_final_records(work, last, n_parts):
            if not notebook.kept:
                continue
            if notebook.not_interactive:
                tiers["sft_only:" + notebook.not_interactive.partition(":")[0]] += 1
            elif notebook.checks.get("executable"):
                tiers["reran_to_end"] += 1
            licenses[notebook.license or "unknown"] += 1
            repositories[notebook.repo] = notebook.license
            for task in notebook.tasks:
                if task.drop_reason is not None:
                    continue
                redaction["task_text"].update(redact_task(task, redact))  # a guard: the redact step finds these first
                for data_file in task.data_files:
                    final = published.get(data_file.sha256)
                    if final is None:  # not in `files` (unreadable or too large): the task cannot run from the dataset
                        task.deps_complete = False
                    else:
                        data_file.sha256, data_file.size = final
                key = same_task_key(task)
                if key in written:  # the same question on the same files with the same label: one row
                    tally.task_drops["duplicate_task"] += 1
                    duplicates.write(_json_line({"id": task.id, "repo": notebook.repo, "path": notebook.path,
                                                 "reason": "duplicate_task"}))
                    continue
                written.add(key)
                row, outputs_cut, size = fit_task_row_sized(task.to_row())
                row_notes["outputs_cut"] += outputs_cut
                if row is None:
                    row_notes["rows_too_large"] += 1
                    continue
                config = task_config(task, bool(solve and solve.interactive_requires_agreement))
                writers[config].write(row, size_hint=size)
                if not task.is_visualization:
                    solver[{True: "agree", False: "disagree", None: "not_checked"}[task.solver_agrees]] += 1
                task_counts[config] += 1
                concepts.update(task.concepts)
                difficulty[task.difficulty] += 1
                kinds[task.question_kind or "unknown"] += 1
    finally:
        duplicates.close()
    shard_paths.update({name: writer.close() for name, writer in writers.items()})

    stats = funnel_stats(recipe, tally)
    stats["tasks"] = {
        "written": sum(task_counts.values()),
        "by_config": {name: task_counts.get(name, 0) for name in TASK_CONFIGS},
        "dropped": dict(tally.task_drops.most_common()),
        "concepts": dict(concepts.most_common()),
        "difficulty": dict(sorted(difficulty.items())),
        "kinds": dict(kinds.most_common()),
        "outputs_truncated": row_notes["outputs_cut"],
        "left_out_too_large": row_notes["rows_too_large"],
    }
    if solve is not None:
        checked = solver["agree"] + solver["disagree"]
        stats["tasks"]["solver"] = {"model": solve.model, "agree": solver["agree"], "disagree": solver["disagree"],
                                    "not_checked": solver["not_checked"],
                                    "agree_share": round(solver["agree"] / checked, 4) if checked else None,
                                    "interactive_requires_agreement": solve.interactive_requires_agreement}
    # one count of "kept" everywhere: the notebooks that reach the dataset
    stats["notebooks"]["tiers"] = tier_stats(tiers, tally.kept)
    stats["tasks"]["per_100_input_notebooks"] = per_hundred(stats["tasks"], tally.total)
    stats["tasks"]["per_100_kept_notebooks"] = per_hundred(stats["tasks"], tally.kept)
    stats["files"] = file_stats
    stats["metrics"] = tally.metrics
    stats["step_seconds"] = step_seconds(work, stages, n_parts)
    spend = spend_summary(output)  # every run's LLM spend into this folder, --restart included
    if spend is not None:
        stats["llm_spend"] = spend
    stats["redaction"] = redaction_stats(tally.metrics.get("redact", {}), redaction)
    stats["licenses"] = dict(licenses.most_common())
    stats["builder_version"] = __version__
    stats["elapsed_s"] = round(elapsed_s, 2)

    drawn = drawer.start(stats, staging / CHART_NAME)  # drawn while the rest is written
    stats_text, _ = redact_text(json.dumps(stats, indent=2))
    (staging / "stats.json").write_text(stats_text, encoding="utf-8")
    # the card embeds the recipe, which may carry an endpoint's key: redacted like everything else
    card, _ = redact_text(render_card(recipe, stats, shard_paths, chart=CHART_NAME if drawn() else None))
    (staging / "README.md").write_text(card, encoding="utf-8")
    (staging / LICENSES_FILE).write_text(licenses_file(repositories), encoding="utf-8")
    (output / STATS_STAGING).write_text(stats_text, encoding="utf-8")  # the last write: then only moves
    dataset = output / "dataset"
    if dataset.exists():
        shutil.rmtree(dataset)
    staging.rename(dataset)

    rejects = output / "rejects"
    if rejects.exists():
        shutil.rmtree(rejects)
    rejects_staging.rename(rejects)
    (output / STATS_STAGING).replace(output / "stats.json")
    return stats


def _write_files(directory: Path, needed: dict[str, dict[str, Any]], found: Counter[str]
                 ) -> tuple[dict[str, Any], dict[str, tuple[str, int]], dict[str, list[Path]]]:
    """Write the `files` config: each needed file once, redacted, under its final sha256.

    Returns the stats, original sha256 -> (final sha256, size) for the files written, and the
    shards. A file whose content changed since the deps step (sha256 differs), that cannot be read,
    or that is too large for one row, is left out and counted.
    """
    writer = ShardWriter(directory, FILE_SCHEMA, rows_per_group=64, bytes_per_group=64 * 1024 * 1024)
    published: dict[str, tuple[str, int]] = {}
    written: set[str] = set()
    notes: Counter[str] = Counter()
    total_bytes = 0
    for sha256 in sorted(needed):
        entry = needed[sha256]
        try:
            content = Path(entry["source"]).read_bytes() if entry["source"] is not None else None
        except OSError:
            content = None
        if content is None or hashlib.sha256(content).hexdigest() != (entry.get("source_sha256") or sha256):
            notes["left_out_unreadable"] += 1
            continue
        if len(content) > MAX_FILE_ROW_BYTES:
            notes["left_out_too_large"] += 1
            continue
        content, kinds = redact_bytes(content)
        if kinds:
            found.update(kinds)
            notes["redacted"] += 1
        final = hashlib.sha256(content).hexdigest()
        published[sha256] = (final, len(content))
        if final in written:  # two files equal once redacted: stored once
            continue
        written.add(final)
        origins = [{"source": source, "license": license}
                   for source, license in sorted(entry["origins"], key=lambda o: (o[0], o[1] or ""))]
        writer.write({"sha256": final, "size": len(content), "content": content, "paths": sorted(entry["paths"]),
                      "origins": origins}, size_hint=len(content))
        total_bytes += len(content)
    return {"count": len(written), "bytes": total_bytes, **dict(sorted(notes.items()))}, published, {"files": writer.close()}


@dataclass
class Tally:
    """What the part summaries add up to."""

    total: int = 0
    kept: int = 0
    by_step: dict[str, Counter[str]] = field(default_factory=dict)  # step label -> drop reasons
    task_drops: Counter[str] = field(default_factory=Counter)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    # the data files the kept tasks need: original sha256 -> {"source": str | None, "paths": set,
    # "source_sha256": the sha256 the source file must have (its redacted copy's, if redacted),
    # "origins": {(where it came from, its license)}}
    data_files: dict[str, dict[str, Any]] = field(default_factory=dict)


def tally_parts(summary_files: list[Path], rejects_dir: Path) -> Tally:
    """Add up the part summaries, writing `rejects_dir/{notebooks,tasks}.jsonl` on the way (and
    `not_interactive.jsonl`: the kept notebooks that cannot re-run offline, and why: their tasks
    are `sft` only), so that nothing per notebook is held in memory."""
    if rejects_dir.exists():
        shutil.rmtree(rejects_dir)
    rejects_dir.mkdir(parents=True)
    tally = Tally()
    with (open(rejects_dir / "notebooks.jsonl", "wb") as notebooks, open(rejects_dir / "tasks.jsonl", "wb") as tasks,
          open(rejects_dir / "not_interactive.jsonl", "wb") as sft_only):
        for path in summary_files:
            summary = _read_json(path)
            tally.total += summary["notebooks"]
            tally.kept += summary["kept"]
            for drop in summary["drops"]:
                notebooks.write(_json_line(drop))
                tally.by_step.setdefault(drop["step"], Counter())[drop["reason"].split(":")[0]] += 1
            for routed in summary.get("not_interactive", []):
                sft_only.write(_json_line(routed))
            for drop in summary["task_drops"]:
                tasks.write(_json_line(drop))
                tally.task_drops[drop["reason"].split(":")[0]] += 1
            merge_metrics(tally.metrics, summary.get("metrics", {}))
            for needed in summary["data_files"]:
                entry = tally.data_files.setdefault(needed["sha256"], {"source": needed["source"], "paths": set(),
                                                                       "source_sha256": needed.get("source_sha256"),
                                                                       "origins": set()})
                entry["paths"].add(needed["path"])
                origin = needed.get("origin") or {}
                if origin.get("source"):
                    entry["origins"].add((origin["source"], origin.get("license")))
    return tally


def _read_json(path: Path) -> Any:
    raw = path.read_bytes()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # orjson refuses the escapes of lone surrogates; json reads them
        return json.loads(raw)


def _json_line(record: dict[str, Any]) -> bytes:
    """One JSON Lines line. orjson is ten times faster than the json module, which matters for a
    run that drops millions of notebooks; a path that is not valid UTF-8 (a lone surrogate from
    the file system) is written with the json module's escapes instead."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(record) + "\n").encode()


def redaction_stats(step_metrics: dict[str, float], guard: dict[str, Counter[str]]) -> dict[str, Any]:
    """Credentials replaced, by kind and by place (code, markdown, stdout, text/html, data_file...),
    as the redact step counted them, plus what the writer's own guard still found (it should find
    nothing: everything it publishes went through the redact step)."""
    by_kind: Counter[str] = Counter()
    by_place: Counter[str] = Counter()
    for key, n in step_metrics.items():
        group, _, name = key.partition(":")
        if group == "secrets":
            by_kind[name] += int(n)
        elif group == "places":
            by_place[name] += int(n)
    for where, found in guard.items():
        by_kind.update(found)
        by_place[f"guard:{where}"] += sum(found.values())
    return {"total": sum(by_kind.values()), "by_kind": dict(sorted(by_kind.items())),
            "by_place": dict(sorted((k, v) for k, v in by_place.items() if v)),
            "credential_files": int(step_metrics.get("credential_files", 0))}


def step_seconds(work: Path, stages: list, n_parts: int) -> dict[str, float]:
    """Wall time spent in each step, summed over parts and workers (from every stage's part
    summaries; a part done by an earlier run counts the time it took then)."""
    totals: Counter[str] = Counter()
    for stage in stages:
        for part in range(n_parts):
            path = work / f"stage-{stage.index}" / f"part-{part:05d}.json"
            if path.exists():
                totals.update(_read_json(path).get("seconds", {}))
    return {label: round(value, 2) for label, value in totals.items()}


def tier_stats(tiers: Counter[str], kept: int) -> dict[str, Any]:
    """Of the kept notebooks: how many re-ran offline to their end, how many are `sft` only and
    why (the cause's name: `network_read`, `missing_file`, `removed_api`, `rerun_failed`, ...)."""
    causes = Counter({key.split(":", 1)[1]: n for key, n in tiers.items() if key.startswith("sft_only:")})
    return {"reran_to_end": tiers["reran_to_end"], "sft_only": sum(causes.values()),
            "sft_only_by_cause": dict(causes.most_common()),
            "not_run": kept - tiers["reran_to_end"] - sum(causes.values())}  # a recipe without execute


def per_hundred(tasks: dict[str, Any], notebooks: int) -> dict[str, Any]:
    """The task yield per 100 notebooks (the input, or the kept): written, by tier, dropped by
    reason, by kind."""
    def scaled(n: float) -> float:
        return round(100 * n / notebooks, 1) if notebooks else 0.0

    return {
        "tasks": scaled(tasks["written"]),
        "interactive": scaled(tasks["by_config"].get("interactive", 0)),
        "sft": scaled(tasks["by_config"].get("sft", 0)),
        "visualization": scaled(tasks["by_config"].get("visualization", 0)),
        "dropped": {reason: scaled(n) for reason, n in tasks["dropped"].items()},
        "kinds": {kind: scaled(n) for kind, n in tasks["kinds"].items()},
    }


def funnel_stats(recipe: Recipe, tally: Tally) -> dict[str, Any]:
    """Counts by step and by drop reason; input = kept + dropped is checked, loudly."""
    total, kept = tally.total, tally.kept
    by_step = {step: Counter(reasons) for step, reasons in tally.by_step.items()}
    steps, remaining = [], total
    for name in ["source"] + recipe.step_labels():
        reasons = by_step.pop(name, Counter())
        dropped = sum(reasons.values())
        steps.append({"step": name, "in": remaining, "dropped": dropped, "out": remaining - dropped,
                      "reasons": dict(reasons.most_common())})
        remaining -= dropped
    if by_step or remaining != kept:
        raise AssertionError(f"notebooks unaccounted for: {total} in, {kept} kept, funnel ends at {remaining}, "
                             f"unknown steps {sorted(by_step)}")
    reasons_total = Counter()
    for step in steps:
        reasons_total.update(step["reasons"])
    return {
        "recipe": recipe.name,
        "notebooks": {"input": total, "kept": kept, "dropped": total - kept},
        "steps": steps,
        "drop_reasons": dict(reasons_total.most_common()),
    }
