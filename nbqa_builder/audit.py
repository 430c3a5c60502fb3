"""Audit a published dataset: re-run every task in the sandbox from its text, code and files alone.

For each task (`audit_task`):
- its answers must be well formed (`grounding.answers_problem`);
- its solution's code steps run in order, with the task's data files placed where its code reads
  them (`publish.load.working_layout`), and the last step must show every answer again, rounded
  only as the format states (`grounding.answers_shown_again`): `verified`;
- its reference program, when it has one, runs with the files placed by name and must print the
  label (official scorer): `reference_agrees`.
A task is `wrong` when it is not verified or its reference program disagrees. An `sft` task of a
notebook that cannot re-run offline (`not_interactive`) is judged by its reference program alone
(its solution is that notebook's code, which is not expected to run here), and only where its
files are present (`deps_complete`); one whose files are absent cannot be checked and is not wrong.

This is `verify` for data that left the pipeline: a dataset folder or Hub repository of ours, or
any NbQA-format Parquet file whose rows name their data files (then `files_dir` holds them).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from nbqa_builder.answers import parse_answers
from nbqa_builder.extract.grounding import answers_problem, answers_shown_again, label_printed
from nbqa_builder.publish.load import DatasetReadError, materialize, read_shard_rows, working_layout
from nbqa_builder.records import Answer, SolutionStep, Task, TaskFile, task_from_row
from nbqa_builder.sandbox.runner import SandboxError, WarmWorker


@dataclass
class Verdict:
    task_id: str
    verified: bool
    reference_agrees: bool | None  # None: the task has no reference program
    detail: str = ""  # why it is wrong, for the report
    # False for an `sft` task of a notebook that cannot re-run: its solution is not judged
    solution_judged: bool = True

    @property
    def wrong(self) -> bool:
        return (self.solution_judged and not self.verified) or self.reference_agrees is False


def audit_task(worker: WarmWorker, task: Task, folder: Path) -> Verdict:
    """Run one task whose files lie in `folder` (its working directory in it is `cwd`)."""
    problem = answers_problem(task.answers, task.label, task.answer)
    if problem is not None:
        return Verdict(task.id, False, None, problem)
    cwd, places = working_layout(task)
    if task.not_interactive:
        return _audit_reference_only(worker, task, folder, places)
    placed = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}
    code = [step.python_code for step in task.solution if step.python_code]
    if not code:
        return Verdict(task.id, False, None, "no_code")
    run = worker.run_notebook(code, placed, cwd.as_posix())
    verified = run.executable and answers_shown_again(task.answers, task.format, run.cells[-1].outputs)
    detail = "" if verified else (f"the solution failed: {run.status} {run.cells[-1].message}".strip()
                                  if not run.executable else "the solution does not show the answers")
    agrees = None
    if task.reference_code:
        by_name = {PurePosixPath(f.path).name: folder / places[f.path] for f in task.data_files}
        reference = worker.run_notebook([task.reference_code], by_name, "")
        agrees = reference.executable and label_printed(reference.cells[0].outputs, task.answers)
        if not agrees:
            detail = (detail + "; " if detail else "") + ("the reference program disagrees" if reference.executable
                                                         else "the reference program failed")
    return Verdict(task.id, verified, agrees, detail)


def _audit_reference_only(worker: WarmWorker, task: Task, folder: Path, places: dict[str, PurePosixPath]) -> Verdict:
    """An `sft` task whose notebook cannot re-run: its reference program on its files, if present."""
    if not task.deps_complete or not task.reference_code:
        why = "its data files are absent" if not task.deps_complete else "it has no reference program"
        return Verdict(task.id, False, None, f"sft ({task.not_interactive}): not checked, {why}", solution_judged=False)
    by_name = {PurePosixPath(f.path).name: folder / places[f.path] for f in task.data_files}
    reference = worker.run_notebook([task.reference_code], by_name, "")
    agrees = reference.executable and label_printed(reference.cells[0].outputs, task.answers)
    detail = "" if agrees else ("the reference program disagrees" if reference.executable else "the reference program failed")
    return Verdict(task.id, False, agrees, detail, solution_judged=False)


def parquet_tasks(path: str, files_dir: str) -> Iterator[tuple[Task, dict[str, bytes]]]:
    """(task, contents by its data file paths) for each row of an NbQA-format Parquet file: rows
    with `data_files` place them as written; rows with only `file_names` read them by name; the
    contents come from `files_dir`, found by name."""
    by_name = {p.name: p for p in Path(files_dir).rglob("*") if p.is_file()} if files_dir else {}
    for shard, row_no, row in read_shard_rows([path]):
        task = foreign_task(row)
        contents: dict[str, bytes] = {}
        if not task.data_files:
            task.data_files = [TaskFile(name, "", 0) for name in task.file_names]
        for data_file in task.data_files:
            source = by_name.get(PurePosixPath(data_file.path.replace("\\", "/")).name)
            if source is None:
                raise DatasetReadError(f"{shard}: row {row_no}: data file {data_file.path!r} is not in {files_dir}")
            contents[data_file.path] = source.read_bytes()
            data_file.sha256 = hashlib.sha256(contents[data_file.path]).hexdigest()
        yield task, contents


def foreign_task(row: dict[str, Any]) -> Task:
    """A task from a row of ours or of NbQA (which has no `answers`, `id` or `data_files`)."""
    defaults: dict[str, Any] = {"task": "", "file_names": [], "concepts": [], "difficulty": "", "constraints": "",
                                "format": "", "answer": "", "label": "", "solution": [], "github_repo": "",
                                "ipynb_name": ""}
    row = {**defaults, **{k: v for k, v in row.items() if v is not None}}
    row["solution"] = [s if isinstance(s, dict) else {} for s in row["solution"] or []]
    row["solution"] = [{k: s.get(k) for k in ("thought", "python_code", "code_output", "label")} for s in row["solution"]]
    task = task_from_row(row)
    task.solution = [SolutionStep(**{**s.__dict__, "thought": s.thought or ""}) for s in task.solution]
    if not task.answers:
        task.answers = [Answer(name, value) for name, value in parse_answers(task.label)]
        if not row.get("answer"):
            task.answer = "; ".join(a.value for a in task.answers)
    if not task.id:
        task.assign_id()
    return task


def run_audit(tasks: Iterator[tuple[Task, dict[str, bytes] | None]], dataset: str | None, backend: str,
              timeout_s: float) -> Iterator[Verdict]:
    """A verdict per task, each run in a fresh sandbox job; files from `dataset` (ours) or given."""
    from nbqa_builder.sandbox.limits import Limits

    with WarmWorker(backend, Limits(timeout_s=timeout_s, total_timeout_s=max(600.0, timeout_s))) as worker:
        for task, contents in tasks:
            with tempfile.TemporaryDirectory(prefix="nbqa-audit-") as scratch:
                folder = Path(scratch)
                try:
                    if contents is None:
                        materialize(task, folder, dataset=dataset)
                    else:
                        _write(task, contents, folder)
                    yield audit_task(worker, task, folder)
                except DatasetReadError as exc:
                    yield Verdict(task.id, False, None, str(exc))
                except SandboxError:
                    raise
                except ValueError as exc:  # a path that leaves the job folder
                    yield Verdict(task.id, False, None, str(exc))


def _write(task: Task, contents: dict[str, bytes], folder: Path) -> None:
    cwd, places = working_layout(task)
    for path, data in contents.items():
        target = folder / places[path]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    os.makedirs(folder / cwd, exist_ok=True)
