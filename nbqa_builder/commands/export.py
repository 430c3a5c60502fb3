"""`export FORMAT`: write our tasks in another layout: `dabench`, `jupiter`, `sft`.

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

    jupiter = formats.add_parser(
        "jupiter",
        help="JUPITER's train_sft_data.jsonl: NbQA rows with data_files",
        description="Write tasks as the JUPITER repository's train_sft_data.jsonl rows, with `data_files` relative "
                    "to a storage folder (written with --files-dir).",
    )
    jupiter.add_argument("dataset_dir", metavar="DATASET", help="a dataset folder or Hub repository ORG/NAME")
    jupiter.add_argument("--config", default="all", help="which tasks to export (default: all)")
    jupiter.add_argument("--to", required=True, dest="out_file", metavar="FILE", help="the JSONL file to write")
    jupiter.add_argument("--files-dir", metavar="DIR",
                         help="also write each task's data files under DIR/<task id>/ (the paths in data_files)")
    jupiter.set_defaults(_export=export_jupiter_command)

    sft = formats.add_parser(
        "sft",
        help="multi-turn SFT chats: LLaMA-Factory alpaca with history, or OpenAI-style messages",
        description="Write tasks as JUPITER-style Thought / Action / Observation chats.",
    )
    sft.add_argument("dataset_dir", metavar="DATASET", help="a dataset folder or Hub repository ORG/NAME")
    sft.add_argument("--config", default="all", help="which tasks to export (default: all)")
    sft.add_argument("--format", dest="chat_format", choices=("alpaca", "messages"), default="messages",
                     help="alpaca: LLaMA-Factory (system, instruction, input, output, history); messages: OpenAI-style")
    sft.add_argument("--to", required=True, dest="out_file", metavar="FILE",
                     help="the file to write: JSONL, or one JSON array when it ends in .json")
    sft.set_defaults(_export=export_sft_command)
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


# ---------------------------------------------------------------------------------------------
# jupiter and sft


def _task_rows(dataset_dir: str, config: str) -> tuple[str, list[dict[str, Any]]]:
    from nbqa_builder.publish.load import DatasetReadError, config_shard_paths, dataset_folder, read_shard_rows

    folder = dataset_folder(dataset_dir)
    if config == "files":
        raise DatasetReadError("`files` holds data files, not tasks")
    return folder, [row for _, _, row in read_shard_rows(config_shard_paths(folder, config))]


def _write_lines(out_file: str, rows: list[dict[str, Any]], as_array: bool = False) -> None:
    directory = os.path.dirname(out_file)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(out_file, "w", encoding="utf-8") as out:
        if as_array:
            json.dump(rows, out, ensure_ascii=False, indent=1)
        else:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def export_jupiter(dataset_dir: str, config: str, out_file: str, files_dir: str | None = None) -> ExportReport:
    """Rows for JUPITER's scripts; `data_files` are `<task id>/<path>` under `files_dir`, laid out
    by `materialize` (the task's code runs in `<task id>/<notebook folder>`)."""
    from nbqa_builder.publish.chat import NotTrainable, jupiter_row
    from nbqa_builder.publish.load import DatasetReadError, materialize, working_layout
    from nbqa_builder.records import task_from_row

    report = ExportReport()
    folder, rows = _task_rows(dataset_dir, config)
    out = []
    for row in rows:
        task = task_from_row(row)
        try:
            _, places = working_layout(task)
            converted = jupiter_row(row, [f"{task.id}/{places[f.path].as_posix()}" for f in task.data_files])
            if files_dir is not None:
                materialize(task, os.path.join(files_dir, task.id), folder)
                report.tables += len(task.data_files)
        except (NotTrainable, DatasetReadError) as exc:
            report.notes[f"tasks left out: {str(exc).split(': ')[-1]}"] += 1
            continue
        out.append(converted)
    _write_lines(out_file, out)
    report.tasks = len(out)
    return report


def export_sft(dataset_dir: str, config: str, out_file: str, chat_format: str = "messages") -> ExportReport:
    from nbqa_builder.publish.chat import NotTrainable, alpaca_row, messages_row

    convert = alpaca_row if chat_format == "alpaca" else messages_row
    report = ExportReport()
    _, rows = _task_rows(dataset_dir, config)
    out = []
    for row in rows:
        try:
            out.append(convert(row))
        except NotTrainable as exc:
            report.notes[f"tasks left out ({exc})"] += 1
    _write_lines(out_file, out, as_array=out_file.endswith(".json"))
    report.tasks = len(out)
    return report


def _run_export(args: argparse.Namespace, export) -> ExportReport:
    from nbqa_builder.cli import UserError
    from nbqa_builder.evaluate import EvaluationInputError
    from nbqa_builder.publish.load import DatasetReadError

    try:
        return export()
    except (EvaluationInputError, DatasetReadError) as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{exc.filename or args.out_file}: cannot write: {exc.strerror or exc}") from None


def export_jupiter_command(args: argparse.Namespace) -> int:
    report = _run_export(args, lambda: export_jupiter(args.dataset_dir, args.config, args.out_file, args.files_dir))
    print(f"exported {report.tasks} tasks to {args.out_file}"
          + (f" and {report.tables} data files under {args.files_dir}" if args.files_dir else ""))
    for note, n in sorted(report.notes.items()):
        print(f"note: {n} {note}")
    return 0


def export_sft_command(args: argparse.Namespace) -> int:
    report = _run_export(args, lambda: export_sft(args.dataset_dir, args.config, args.out_file, args.chat_format))
    print(f"exported {report.tasks} {args.chat_format} chats to {args.out_file}")
    for note, n in sorted(report.notes.items()):
        print(f"note: {n} {note}")
    return 0
