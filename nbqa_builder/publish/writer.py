"""The end of a run: dataset shards and card, `stats.json`, and `rejects/`.

Configs (ARCHITECTURE.md, "Publishing"):
- `interactive`: data files complete, answer verified and deterministic on re-execution;
- `sft`: every other non-visualisation task;
- `all`: both (its YAML entry lists both folders; no row is stored twice);
- `visualization`: tasks whose answer is a chart, kept apart as in the paper;
- `files`: the data files the tasks need, once per sha256.
Everything is written into a temporary folder and moved into place whole.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from nbqa_builder import __version__
from nbqa_builder.publish.card import render_card
from nbqa_builder.publish.shards import ShardWriter
from nbqa_builder.recipe import Recipe
from nbqa_builder.records import FILE_SCHEMA, FOUND, TASK_SCHEMA, Notebook, Task

TASK_CONFIGS = ("interactive", "sft", "visualization")


def task_config(task: Task) -> str:
    if task.is_visualization:
        return "visualization"
    if task.deps_complete and task.verified and task.deterministic:
        return "interactive"
    return "sft"


def iter_final_records(work: Path, last_stage: int, n_parts: int) -> Iterator[Notebook]:
    for part in range(n_parts):
        with open(work / f"stage-{last_stage}" / f"part-{part:05d}.pkl", "rb") as handle:
            yield from pickle.load(handle)


def write_outputs(recipe: Recipe, stages: list, work: Path, n_parts: int, elapsed_s: float) -> dict[str, Any]:
    output = Path(recipe.output)
    last = stages[-1].index
    summaries = [json.loads((work / f"stage-{last}" / f"part-{p:05d}.json").read_text()) for p in range(n_parts)]

    staging = output / "_work" / "dataset.tmp"
    if staging.exists():
        shutil.rmtree(staging)
    writers = {name: ShardWriter(staging / "data" / name, TASK_SCHEMA) for name in TASK_CONFIGS}
    files: dict[str, dict[str, Any]] = {}  # sha256 -> {source, size, paths}
    task_counts: Counter[str] = Counter()
    concepts: Counter[str] = Counter()
    difficulty: Counter[str] = Counter()
    licenses: Counter[str] = Counter()
    for notebook in iter_final_records(work, last, n_parts):
        if not notebook.kept:
            continue
        licenses[notebook.license or "unknown"] += 1
        sources = {ref.sha256: Path(notebook.repo_dir) / ref.resolved for ref in notebook.data_refs
                   if ref.status == FOUND and ref.sha256 and ref.resolved}
        for task in notebook.tasks:
            if task.drop_reason is not None:
                continue
            config = task_config(task)
            writers[config].write(task.to_row())
            task_counts[config] += 1
            concepts.update(task.concepts)
            difficulty[task.difficulty] += 1
            for data_file in task.data_files:
                entry = files.setdefault(data_file.sha256, {"source": sources.get(data_file.sha256), "size": data_file.size, "paths": set()})
                entry["paths"].add(data_file.path)
    shard_paths = {name: writer.close() for name, writer in writers.items()}
    file_count, file_bytes, shard_paths["files"] = _write_files(staging / "data" / "files", files)

    stats = funnel_stats(recipe, stages, summaries)
    stats["tasks"] = {
        "written": sum(task_counts.values()),
        "by_config": {name: task_counts.get(name, 0) for name in TASK_CONFIGS},
        "dropped": dict(Counter(d["reason"].split(":")[0] for s in summaries for d in s["task_drops"])),
        "concepts": dict(concepts.most_common()),
        "difficulty": dict(sorted(difficulty.items())),
    }
    stats["files"] = {"count": file_count, "bytes": file_bytes}
    metrics: dict[str, dict[str, float]] = {}
    for summary in summaries:
        for step, counters in summary.get("metrics", {}).items():
            for key, value in counters.items():
                metrics.setdefault(step, {})[key] = metrics.get(step, {}).get(key, 0) + value
    stats["metrics"] = metrics
    stats["licenses"] = dict(licenses.most_common())
    stats["builder_version"] = __version__
    stats["elapsed_s"] = round(elapsed_s, 2)

    (staging / "README.md").write_text(render_card(recipe, stats, shard_paths), encoding="utf-8")
    (staging / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    dataset = output / "dataset"
    if dataset.exists():
        shutil.rmtree(dataset)
    staging.rename(dataset)

    _write_rejects(output / "rejects", summaries)
    (output / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return stats


def _write_files(directory: Path, files: dict[str, dict[str, Any]]) -> tuple[int, int, list[Path]]:
    writer = ShardWriter(directory, FILE_SCHEMA, rows_per_group=64, bytes_per_group=64 * 1024 * 1024)
    count = size = 0
    for sha256 in sorted(files):
        entry = files[sha256]
        if entry["source"] is None:
            continue
        content = Path(entry["source"]).read_bytes()
        writer.write({"sha256": sha256, "size": len(content), "content": content, "paths": sorted(entry["paths"])},
                     size_hint=len(content))
        count, size = count + 1, size + len(content)
    return count, size, writer.close()


def _write_rejects(directory: Path, summaries: list[dict[str, Any]]) -> None:
    staging = directory.with_name("rejects.tmp")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    with open(staging / "notebooks.jsonl", "w", encoding="utf-8") as handle:
        for summary in summaries:
            for drop in summary["drops"]:
                handle.write(json.dumps(drop, ensure_ascii=False) + "\n")
    with open(staging / "tasks.jsonl", "w", encoding="utf-8") as handle:
        for summary in summaries:
            for drop in summary["task_drops"]:
                handle.write(json.dumps(drop, ensure_ascii=False) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    staging.rename(directory)


def funnel_stats(recipe: Recipe, stages: list, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by step and by drop reason; input = kept + dropped is checked, loudly."""
    total = sum(s["notebooks"] for s in summaries)
    kept = sum(s["kept"] for s in summaries)
    by_step: dict[str, Counter[str]] = {}
    for summary in summaries:
        for drop in summary["drops"]:
            by_step.setdefault(drop["step"], Counter())[drop["reason"].split(":")[0]] += 1
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
