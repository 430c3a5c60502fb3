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

from nbqa_builder.turns import ACTION_FORMATS, FILE_NAMINGS, FINAL_EXPRESSIONS


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
    dabench.add_argument("--single-file", action="store_true",
                         help="leave out tasks that read more than one file (JUPITER's inference scripts upload only "
                              "`file_name`)")
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
    jupiter.add_argument("--file-names", dest="file_naming", choices=FILE_NAMINGS, default="name",
                         help="name (default): JUPITER serves files by bare name, so data_files are <task id>/<name> "
                              "and the code's paths to them become bare names; path: as the code reads them")
    jupiter.add_argument("--skip-binary", action="store_true",
                         help="leave out tasks with a data file that is not UTF-8 text (JUPITER's collection script "
                              "opens data files as text)")
    add_step_arguments(jupiter, final_default="keep")
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
                     help="the file to write: JSONL, or one JSON array when it ends in .json; LLaMA-Factory's "
                          "dataset_info.json is written (or updated) beside it")
    sft.add_argument("--template", metavar="FILE",
                     help="the first turns' template (default: nbqa_builder/turns/task.md); placeholders "
                          "{question} {constraints} {format} {files} {action_rule}, or JUPITER's names")
    sft.add_argument("--file-names", dest="file_naming", choices=FILE_NAMINGS, default="path",
                     help="path (default): files as the solution's code reads them, as our sandbox and search serve "
                          "them; name: bare names in one folder, as JUPITER serves them (the code's paths follow)")
    sft.add_argument("--actions", dest="action_format", choices=ACTION_FORMATS, default="fenced",
                     help="fenced (default): the code in a ```python block; raw: after `Action: `, as JUPITER's "
                          "process_sft.py writes it")
    sft.add_argument("--dataset-name", metavar="NAME",
                     help="the entry's name in dataset_info.json (default: the file's name without extension)")
    add_step_arguments(sft, final_default="print")
    sft.set_defaults(_export=export_sft_command)
    # name the formats in "required" errors too, not only in the usage line
    formats.metavar = "{" + ",".join(formats.choices) + "}"


def add_step_arguments(parser: argparse.ArgumentParser, final_default: str) -> None:
    parser.add_argument("--final-expression", choices=FINAL_EXPRESSIONS, default=final_default,
                        help=f"print: a step's final bare expression becomes print(...), its observation what that "
                             f"prints (sandboxes show only stdout); keep: the notebook's code and display values "
                             f"(default: {final_default})")
    parser.add_argument("--sandbox", choices=("bwrap", "process", "off"), default="bwrap",
                        help="where the printed steps of verified tasks are re-run for their observations: bwrap "
                             "(default), process (trusted data only), off (read them off the stored outputs)")


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


def export_dabench(dataset_dir: str, config: str, out_dir: str, single_file: bool = False) -> ExportReport:
    """Write `questions.jsonl`, `labels.jsonl` and `tables/` for the tasks of one config.

    A task is left out, and counted in the report, when it has no answers or one of its data files
    is not in the `files` config, or with `single_file` when it reads more than one. `file_name` is
    the task's first table (DABench has one per question), "none" for a task without files;
    `file_names` lists them all.
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
            report.notes["tasks that read no data file (file_name \"none\")"] += 1
        elif len(files) > 1:
            if single_file:
                report.notes["tasks that read more than one file (not exported: --single-file)"] += 1
                continue
            report.notes["tasks that read more than one file (JUPITER's inference uploads only file_name)"] += 1
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
            # JUPITER's loaders open tables/<file_name> unless it is "none": "" would open the folder
            "file_name": task_tables[0] if task_tables else "none",
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
        report = export_dabench(args.dataset_dir, args.config, args.out_dir, args.single_file)
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


def _renderer(final_expression: str, file_naming: str, sandbox: str, folder: str,
              contents: dict[str, bytes] | None = None):
    from nbqa_builder.publish.steps import StepRenderer

    return StepRenderer(final_expression, file_naming, None if sandbox == "off" else sandbox, folder, contents)


def is_text(content: bytes) -> bool:
    """Whether a data file reads as UTF-8 text (JUPITER's collection script opens files as text)."""
    if b"\0" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def export_jupiter(dataset_dir: str, config: str, out_file: str, files_dir: str | None = None,
                   file_naming: str = "name", skip_binary: bool = False, final_expression: str = "keep",
                   sandbox: str = "bwrap") -> ExportReport:
    """Rows for JUPITER's scripts (process_sft.py reads the solution, the collection script
    `task`, `label` and `data_files`); `data_files` are `<task id>/<file>` under `files_dir`: with
    `file_naming` "name" the bare name, as JUPITER serves files (the code's paths follow), with
    "path" where the code reads it from `<task id>/<notebook folder>` (`working_layout`).
    `binary_data_files` lists the files that are not UTF-8 text."""
    from nbqa_builder.publish.chat import jupiter_row
    from nbqa_builder.publish.load import DatasetReadError, read_file_contents, working_layout
    from nbqa_builder.records import task_from_row
    from nbqa_builder.turns import NotTrainable, bare_name

    report = ExportReport()
    folder, rows = _task_rows(dataset_dir, config)
    contents = read_file_contents(folder, {f["sha256"] for row in rows for f in row.get("data_files") or []})
    out = []
    with _renderer(final_expression, file_naming, sandbox, folder, contents) as renderer:
        for row in rows:
            task = task_from_row(row)
            try:
                if any(f.sha256 not in contents for f in task.data_files):
                    raise DatasetReadError("a data file is not in the files config")
                if file_naming == "name":
                    places = {f.path: bare_name(f.path) for f in task.data_files}
                else:
                    places = {path: place.as_posix() for path, place in working_layout(task)[1].items()}
                converted = jupiter_row(renderer.render(row), [f"{task.id}/{places[f.path]}" for f in task.data_files])
            except (NotTrainable, DatasetReadError) as exc:  # a read error's message starts with the path
                report.notes[f"tasks left out ({exc if isinstance(exc, NotTrainable) else str(exc).split(': ')[-1]})"] += 1
                continue
            binary = [f"{task.id}/{places[f.path]}" for f in task.data_files if not is_text(contents[f.sha256])]
            if binary and skip_binary:
                report.notes["tasks left out (a data file is not UTF-8 text: --skip-binary)"] += 1
                continue
            if binary:
                report.notes["tasks with a data file that is not UTF-8 text (binary_data_files; JUPITER's "
                             "collection script opens files as text)"] += 1
            if file_naming == "name":
                converted["file_names"] = [places[f.path] for f in task.data_files]
            converted["binary_data_files"] = binary
            if files_dir is not None:
                for f in task.data_files:
                    target = os.path.join(files_dir, task.id, places[f.path])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as file:
                        file.write(contents[f.sha256])
                report.tables += len(task.data_files)
            out.append(converted)
        report.notes.update(renderer.counts)
    _write_lines(out_file, out)
    report.tasks = len(out)
    return report


def export_sft(dataset_dir: str, config: str, out_file: str, chat_format: str = "messages",
               template: str | None = None, file_naming: str = "path", action_format: str = "fenced",
               final_expression: str = "print", sandbox: str = "bwrap", dataset_name: str | None = None) -> ExportReport:
    """Chats in `chat_format` (see publish/chat.py for the row layouts, nbqa_builder/turns for the
    rendering options, publish/steps.py for the printed final expressions), and their entry in LLaMA-Factory's `dataset_info.json`
    beside `out_file`."""
    from nbqa_builder.publish.chat import alpaca_row, messages_row
    from nbqa_builder.publish.load import read_file_contents
    from nbqa_builder.turns import NotTrainable, load_template

    convert = alpaca_row if chat_format == "alpaca" else messages_row
    render = {"template": load_template(template), "file_naming": file_naming, "action_format": action_format}
    report = ExportReport()
    folder, rows = _task_rows(dataset_dir, config)
    contents = None
    if final_expression == "print" and sandbox != "off":  # the files of the tasks re-run, read once
        contents = read_file_contents(folder, {f["sha256"] for row in rows if row.get("verified")
                                               for f in row.get("data_files") or []})
    out = []
    with _renderer(final_expression, file_naming, sandbox, folder, contents) as renderer:
        for row in rows:
            try:
                out.append(convert(renderer.render(row), **render))
            except NotTrainable as exc:
                report.notes[f"tasks left out ({exc})"] += 1
        report.notes.update(renderer.counts)
    _write_lines(out_file, out, as_array=out_file.endswith(".json"))
    write_dataset_info(out_file, chat_format, dataset_name)
    report.tasks = len(out)
    return report


def write_dataset_info(out_file: str, chat_format: str, dataset_name: str | None = None) -> str:
    """Add (or replace) the export's entry in `dataset_info.json` beside it; returns the name."""
    from nbqa_builder.publish.chat import llamafactory_entry

    name = dataset_name or os.path.splitext(os.path.basename(out_file))[0]
    path = os.path.join(os.path.dirname(out_file), "dataset_info.json")
    info = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            info = json.load(file)
    info[name] = llamafactory_entry(os.path.basename(out_file), chat_format)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(info, file, ensure_ascii=False, indent=2)
    return name


def _run_export(args: argparse.Namespace, export) -> ExportReport:
    from nbqa_builder.cli import UserError
    from nbqa_builder.evaluate import EvaluationInputError
    from nbqa_builder.publish.load import DatasetReadError
    from nbqa_builder.sandbox import SandboxUnavailable
    from nbqa_builder.turns import TemplateError

    try:
        return export()
    except (EvaluationInputError, DatasetReadError, TemplateError, SandboxUnavailable) as exc:
        raise UserError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"dataset_info.json beside {args.out_file}: not JSON ({exc})") from None
    except OSError as exc:
        raise UserError(f"{exc.filename or args.out_file}: cannot write: {exc.strerror or exc}") from None


def _print_notes(report: ExportReport) -> None:
    for note, n in sorted(report.notes.items()):
        print(f"note: {n} {note}")


def export_jupiter_command(args: argparse.Namespace) -> int:
    report = _run_export(args, lambda: export_jupiter(args.dataset_dir, args.config, args.out_file, args.files_dir,
                                                      args.file_naming, args.skip_binary, args.final_expression,
                                                      args.sandbox))
    print(f"exported {report.tasks} tasks to {args.out_file}"
          + (f" and {report.tables} data files under {args.files_dir}" if args.files_dir else ""))
    _print_notes(report)
    return 0


def export_sft_command(args: argparse.Namespace) -> int:
    report = _run_export(args, lambda: export_sft(args.dataset_dir, args.config, args.out_file, args.chat_format,
                                                  args.template, args.file_naming, args.action_format,
                                                  args.final_expression, args.sandbox, args.dataset_name))
    print(f"exported {report.tasks} {args.chat_format} chats to {args.out_file} "
          f"(LLaMA-Factory: dataset_info.json beside it)")
    _print_notes(report)
    return 0
