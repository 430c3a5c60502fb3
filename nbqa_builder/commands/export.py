"""`export FORMAT`: write our tasks in another benchmark's layout (today: `dabench`).

Each format is a sub-command with its own arguments and one `export_<format>` function, so that
later exporters (`jupiter`, `sft`) are added beside `dabench` without touching it.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    formats = parser.add_subparsers(dest="export_format", title="formats", required=True)
    dabench = formats.add_parser(
        "dabench",
        help="InfiAgent-DABench: questions.jsonl, labels.jsonl and a tables/ folder",
        description="Write tasks as DABench questions, labels and data tables, so any DABench agent runs on them.",
    )
    dabench.add_argument("dataset_dir", metavar="DATASET_DIR", help="a dataset folder with data/<config>/*.parquet")
    dabench.add_argument("--config", default="interactive", help="which tasks to export (default: interactive)")
    dabench.add_argument("--to", required=True, dest="out_dir", metavar="DIR", help="folder to write into")
    dabench.set_defaults(_export=export_dabench_command)
    # name the formats in "required" errors too, not only in the usage line
    formats.metavar = "{" + ",".join(formats.choices) + "}"


def main(args: argparse.Namespace) -> int:
    return args._export(args)


# ---------------------------------------------------------------------------------------------
# dabench

DABENCH_TASK_COLUMNS = ("id", "task", "concepts", "constraints", "format", "difficulty", "answers", "label", "data_files")


@dataclass
class ExportReport:
    tasks: int = 0
    tables: int = 0
    notes: Counter = field(default_factory=Counter)


def table_names(data_files: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(file name, sha256) -> name in the flat tables folder.

    DABench keeps every table in one folder, named by file name. Two different files with the same
    name (every other notebook reads "data.csv") get the first 8 hex digits of their sha256 added
    to the stem, e.g. `data-1a2b3c4d.csv`; a name used by one content only is kept as it is.
    """
    shas_by_name: dict[str, set[str]] = defaultdict(set)
    for f in data_files:
        shas_by_name[_file_name(f["path"])].add(f["sha256"])
    names = {}
    for name, shas in shas_by_name.items():
        stem, suffix = posixpath.splitext(name)
        for sha in shas:
            names[(name, sha)] = name if len(shas) == 1 else f"{stem}-{sha[:8]}{suffix}"
    return names


def _file_name(path: str) -> str:
    """The last part of a path as written (POSIX or Windows); never empty, "." or ".."."""
    name = posixpath.basename(path.replace("\\", "/"))
    return name if name not in ("", ".", "..") else "file"


def read_file_contents(dataset_dir: str, wanted: set[str]) -> dict[str, bytes]:
    """sha256 -> bytes for the wanted files of the `files` config; each content is checked."""
    from nbqa_builder.evaluate import EvaluationInputError
    from nbqa_builder.publish.load import DatasetReadError
    from nbqa_builder.publish.load import read_file_contents as read_contents

    try:
        return read_contents(dataset_dir, wanted)
    except DatasetReadError as exc:
        raise EvaluationInputError(str(exc)) from None


def export_dabench(dataset_dir: str, config: str, out_dir: str) -> ExportReport:
    """Write `questions.jsonl`, `labels.jsonl` and `tables/` for the tasks of one config.

    A task is left out, and counted in the report, when it has no answers or one of its data files
    is not in the `files` config. `file_name` is the task's first table (DABench has one per
    question); `file_names` lists them all.
    """
    from nbqa_builder.evaluate import read_task_rows, task_shard_paths

    report = ExportReport()
    rows = [row for _, _, row in read_task_rows(task_shard_paths(dataset_dir, config), DABENCH_TASK_COLUMNS)]
    all_files = [f for row in rows for f in row.get("data_files") or []]
    contents = read_file_contents(dataset_dir, {f["sha256"] for f in all_files})
    names = table_names(all_files)

    questions, labels, tables = [], [], {}
    for row in rows:
        answers = [[a["name"], a["value"]] for a in row.get("answers") or []]
        files = row.get("data_files") or []
        if not answers:
            report.notes["tasks without answers (not exported)"] += 1
            continue
        if any(f["sha256"] not in contents for f in files):
            report.notes["tasks whose data files are not in the files config (not exported)"] += 1
            continue
        if not files:
            report.notes["tasks that read no data file"] += 1
        task_tables = []
        for f in files:
            name = names[(_file_name(f["path"]), f["sha256"])]
            tables[name] = f["sha256"]
            task_tables.append(name)
        questions.append({
            "id": row["id"],
            "question": row.get("task") or "",
            "concepts": row.get("concepts") or [],
            "constraints": row.get("constraints") or "",
            "format": row.get("format") or "",
            "file_name": task_tables[0] if task_tables else "",
            "level": row.get("difficulty") or "",
            "file_names": task_tables,
        })
        labels.append({"id": row["id"], "common_answers": answers})

    os.makedirs(os.path.join(out_dir, "tables"), exist_ok=True)
    for name, sha in tables.items():
        with open(os.path.join(out_dir, "tables", name), "wb") as out:
            out.write(contents[sha])
    for file_name, lines in (("questions.jsonl", questions), ("labels.jsonl", labels)):
        with open(os.path.join(out_dir, file_name), "w", encoding="utf-8") as out:
            out.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    report.tasks, report.tables = len(questions), len(tables)
    return report


def export_dabench_command(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError
    from nbqa_builder.evaluate import EvaluationInputError

    try:
        report = export_dabench(args.dataset_dir, args.config, args.out_dir)
    except EvaluationInputError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{exc.filename or args.out_dir}: cannot write: {exc.strerror or exc}") from None
    print(f"exported {report.tasks} tasks and {report.tables} tables to {args.out_dir}")
    for note, count in sorted(report.notes.items()):
        print(f"note: {count} {note}")
    return 0
