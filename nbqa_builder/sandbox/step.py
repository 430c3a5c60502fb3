"""The `execute` and `verify` steps: re-run notebooks and task solutions in the sandbox.

Neither step drops anything (but for a recipe that asks for the interactive tier alone): they
record what happened (flags and `checks`). A notebook the rules keep for `sft` only (it cannot
re-run offline: `Notebook.not_interactive`) is not run; one whose re-run fails goes to `sft`
with the cell and its error (`rerun_failed: cell 7 KeyError '2014'`), its stored outputs kept. A notebook that kills its sandbox gets a verdict (`sandbox_killed`) and the run
goes on; a sandbox that cannot start raises `SandboxError`, which stops the run before the part
is marked done. Each step owns two warm workers with different hash seeds (one when it runs
each notebook once), started together on first use and stopped by `close()`, at garbage
collection or at interpreter exit (so sandbox processes never outlive the run). Their base,
`SandboxStep` (sandbox/warm.py), is also the `solve` step's.
"""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath
from typing import Any, ClassVar

from nbqa_builder.answers import render_answers
from nbqa_builder.extract.charts import chart_answers, plot_kind, plotted_agrees, plotted_values, probe_source
from nbqa_builder.extract.statistics import TIE_MESSAGE
from nbqa_builder.extract.grounding import (
    answer_field, answers_shown_again, has_image, label_printed, task_problem,
)
from nbqa_builder.notebooks.parse import outputs_as_text
from nbqa_builder.records import FOUND, Answer, Notebook, SolutionStep, Task, code_path
from nbqa_builder.sandbox.compare import canonical_outputs, outputs_match
from nbqa_builder.notebooks.parse import error_text
from nbqa_builder.sandbox.runner import CellRun, NotebookRun
from nbqa_builder.sandbox.warm import SandboxStep, SandboxStepConfig  # noqa: F401 (the config both steps take)
from nbqa_builder.step import count


def job_path(cwd: str, path: str) -> str:
    """Where a file the code in `cwd` reads as `path` (records.code_path) lies in the job."""
    return posixpath.normpath(posixpath.join(cwd, path))


def notebook_files(notebook: Notebook) -> dict[str, str]:
    """Job-root path -> file on this machine, for every data reference the deps step found: each
    where the code reads it (as verify places a task's files), not where the resolver found it
    (a file found by its name elsewhere in the repository)."""
    files = {}
    cwd = posixpath.dirname(notebook.path)
    for ref in notebook.data_refs:
        path = code_path(ref.as_written)
        source = ref.source(notebook.repo_dir) if ref.status == FOUND and path is not None else None
        if source is not None and source.is_file():
            files[job_path(cwd, path)] = str(source)
    return files


class ExecuteStep(SandboxStep):
    """Re-run each notebook with its data files; set executable, outputs_match, deterministic."""

    name = "execute"
    requires: ClassVar[tuple[str, ...]] = ("validate", "deps", "redact")  # it places the (redacted) data files

    def process(self, notebook: Notebook) -> str | None:
        stripped = notebook.checks.get("needs_rerun_outputs")
        if notebook.not_interactive and stripped:
            # what stops a re-run offline is known, but the notebook has no outputs to take tasks
            # from: the cells its re-run runs before that point give them (it stays sft, as it is)
            self.rerun(notebook, counted=False)
            count(notebook, self.label, "rerun_for_outputs_sft", 1)
            if not self.adopt_rerun_outputs(notebook):
                return f"{stripped}, and it cannot re-run offline ({notebook.not_interactive})"
            return None
        if notebook.not_interactive:  # the rules found what stops a re-run offline: sft, as it is
            notebook.checks["execution"] = {"sandbox": self.config.sandbox, "status": "not_run",
                                             "message": notebook.not_interactive}
            notebook.checks.update(executable=False, outputs_match=None, deterministic=None)
            count(notebook, self.label, "not_run_sft", 1)
            return None
        reason = self.rerun(notebook)
        if reason is not None:
            count(notebook, self.label, "rerun_failed", 1)
            sft = "sft" in self.context.get("tiers", ("interactive", "sft"))
            if stripped and not (sft and self.adopt_rerun_outputs(notebook)):
                # no stored outputs, and none from the cells that re-ran before the failure (or no
                # sft tier to keep them for)
                return f"{stripped}, and its re-run failed ({reason})"
            if not sft:
                return reason
            notebook.route_to_sft(reason)
        elif stripped and notebook.checks.get("executable"):
            self.adopt_rerun_outputs(notebook)
        return None

    def adopt_rerun_outputs(self, notebook: Notebook) -> bool:
        """A notebook stored without outputs: the cells its re-run ran, to its end or up to the cell
        that failed, take the outputs of that re-run (real outputs of its own code on its own
        files), which tasks are then taken from. Whether any of them shows something."""
        runs = notebook.checks.get("execution", {}).get("cells") or []
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        adopted = 0
        for cell, run in zip(code, runs):
            if run["status"] != "ok":
                break
            cell.outputs = run["outputs"]
            adopted += bool(run["outputs"])
        if not adopted:
            return False
        notebook.checks["outputs_match"] = None  # nothing stored to match
        notebook.checks["outputs_from_rerun"] = True
        count(notebook, self.label, "outputs_from_rerun", 1)
        return True

    def rerun(self, notebook: Notebook, counted: bool = True) -> str | None:
        """Run the notebook; `rerun_failed: cell N Error message` when it did not run to its end.
        `counted`: it counts among the re-runs of notebooks the rules found nothing against."""
        code_cells = [(index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        cwd = posixpath.dirname(notebook.path)
        try:
            runs = self.run_repeatedly([c.source for _, c in code_cells], notebook_files(notebook), cwd)
        except ValueError as exc:  # a data file's path leaves the job folder: nothing was run
            notebook.checks["execution"] = {"sandbox": self.config.sandbox, "status": "bad_files", "message": str(exc)}
            notebook.checks.update(executable=None, outputs_match=None, deterministic=None)
            return None
        first = runs[0]
        notebook.checks["execution"] = {
            "sandbox": self.config.sandbox,
            "status": first.status,
            "cells": [
                {"cell": index, "status": run.status, "time_s": round(run.time_s, 4), "outputs": run.outputs, "message": run.message}
                for (index, _), run in zip(code_cells, first.cells)
            ],
        }
        notebook.checks["executable"] = first.executable
        # of the notebooks the rules kept, those that re-run offline to their end (stats, run summary)
        if counted:
            count(notebook, self.label, "ran_to_end", int(first.executable))
            count(notebook, self.label, "run", 1)
        notebook.checks["outputs_match"] = first.executable and all(
            outputs_match(cell.outputs, run.outputs) for (_, cell), run in zip(code_cells, first.cells)
        )
        notebook.checks["deterministic"] = (
            None if self.config.runs < 2
            else all(run.executable for run in runs) and _same_results(runs, range(len(code_cells)))
        )
        failed = next(((index, run) for (index, _), run in zip(code_cells, first.cells) if run.status != "ok"), None)
        return None if failed is None else f"rerun_failed: cell {failed[0]} {_failure(failed[1])}"


def _failure(run: CellRun) -> str:
    """`KeyError '2014'` for a cell that raised; the status and the host's message otherwise."""
    error = next((o for o in run.outputs if o.get("output_type") == "error"), None)
    if error is not None:
        return error_text(error)
    return f"{run.status} {run.message[:120]}".strip()


def _same_results(runs: list[NotebookRun], positions) -> bool:
    reference = runs[0]
    return all(
        canonical_outputs(run.cells[i].outputs) == canonical_outputs(reference.cells[i].outputs)
        for run in runs[1:]
        for i in positions
    )


# ---------------------------------------------------------------------------------------------
# Verify: the checks that need no run are extract/grounding.py's (`task_problem`), shared with the
# extractors, so a task is judged by one rule before and after it is re-run.


class VerifyStep(SandboxStep):
    """Re-run each task in the sandbox with its data files alone; set its flags or drop it.

    - A task that is wrong as written (`grounding.task_problem`: an answer not shown whole by the
      answer cell, an empty value, a name twice, no data file, an answer cell without code) is
      dropped with that reason.
    - The solution's cells run with the task's files placed where its code reads them:
      `executable` (no error), `deterministic` (two runs show the same), and the answer cell must
      show every answer again at the place extraction found it.
    - A task with a reference program (heuristic tasks) runs it with the task's files placed by
      name: it must print the label (strict scorer), twice; otherwise the question does not say
      what the label computes, and the task is dropped (`question_label_mismatch`, or
      `reference_error` when the program fails).
    - `verified`: the solution runs and shows the answers again, and the reference program agrees.
    """

    name = "verify"
    requires: ClassVar[tuple[str, ...]] = ("validate", "deps", "redact", "extract")

    def process(self, notebook: Notebook) -> str | None:
        for task in notebook.tasks:
            if task.drop_reason is None:
                self.verify_task(notebook, task)
        return None

    def verify_task(self, notebook: Notebook, task: Task) -> None:
        problem = task_problem(task, notebook)
        if problem is not None:
            task.drop_reason = problem
            return
        sources = {ref.sha256: ref.source(notebook.repo_dir) for ref in notebook.data_refs
                   if ref.on_disk}
        files_present = all(f.sha256 in sources and sources[f.sha256].is_file() for f in task.data_files)
        task.not_interactive = task.not_interactive or notebook.not_interactive
        if task.not_interactive and not (files_present and task.deps_complete):
            # a task on a file read by URL or missing has deps_complete false: its reference cannot run
            if task.is_visualization:  # a chart's label comes from a re-run
                task.drop_reason = f"chart_needs_rerun: {task.not_interactive}"
                return
            self.check_sft_task(task, None)
            return
        if not files_present:
            task.executable = task.deterministic = task.verified = False
            return
        if task.is_visualization and task.reference_code:
            self.verify_chart(notebook, task, sources)
            return
        cwd = posixpath.dirname(notebook.path)
        placed = {job_path(cwd, f.path): str(sources[f.sha256]) for f in task.data_files}
        cells = [notebook.cells[i].source for i in task.cells]
        try:
            runs = self.run_repeatedly(cells, placed, cwd)
            references = self.run_reference(task, sources)
        except ValueError:  # a data file's path leaves the job folder: nothing was run
            task.executable = task.deterministic = task.verified = None
            return
        if task.not_interactive and not self.slice_reran(notebook, task, runs[0]):
            self.check_sft_task(task, sources, references)
            return
        task.executable = runs[0].executable
        task.deterministic = all(run.executable for run in runs) and _same_results(runs, range(len(cells)))
        shown_again = all(run.executable and answers_shown_again(task.answers, task.format, run.cells[-1].outputs)
                          for run in runs)
        if task.is_visualization:
            shown_again = task.executable
        if references:
            task.reference_agrees = all(run.executable and label_printed(run.cells[0].outputs, task.answers)
                                        for run in references)
            task.deterministic = task.deterministic and _same_results(references, [0])
            task.reference_checked = bool(task.reference_agrees)
            if not task.reference_agrees:
                task.drop_reason = _reference_failure(references[0])
        task.verified = bool(task.executable and shown_again and task.reference_agrees is not False)
        if not task.verified and _touches_a_secret(notebook, task):
            task.drop_reason = "needs_secret"  # redaction took what the task needs to give its label


    def verify_chart(self, notebook: Notebook, task: Task, sources: dict[str, Any]) -> None:
        """A heuristic chart task (extract/charts.py): its label is what the reference program
        prints, twice alike; the notebook's chart cells must re-run and show a chart, twice alike;
        and a probe after the plot call must find that many bars (points), the largest at that
        value. Otherwise the task is dropped with the reason."""
        cwd = posixpath.dirname(notebook.path)
        placed = {job_path(cwd, f.path): str(sources[f.sha256]) for f in task.data_files}
        cells = [notebook.cells[i].source for i in task.cells]
        kind = plot_kind(task.question_kind)
        probe = probe_source(cells[-1], kind) if kind else None
        if probe is None:
            task.drop_reason = "unrenderable_chart"
            return
        try:
            runs = self.run_repeatedly(cells, placed, cwd)
            references = self.run_reference(task, sources)
            probed = self.run_repeatedly(cells[:-1] + [probe], placed, cwd)[0]
        except ValueError:  # a data file's path leaves the job folder: nothing was run
            task.executable = task.deterministic = task.verified = None
            return
        printed = [outputs_as_text(run.cells[0].outputs) if run.executable else None for run in references]
        answers = chart_answers(printed[0], kind) if printed[0] is not None else None
        if answers is None or len(set(printed)) != 1:
            # the program's own checks say when the chart has no single answer (charts.py)
            failed = _error_of(references[0])
            task.drop_reason = ("chart_top_tied" if TIE_MESSAGE in failed
                                else "chart_missing_value" if "drawn as no bar" in failed else "reference_error")
            return
        task.executable = runs[0].executable
        task.deterministic = all(run.executable for run in runs) and _same_results(runs, range(len(cells)))
        if not task.executable or not has_image(runs[0].cells[-1].outputs):
            task.drop_reason = "chart_not_shown_again"
            return
        if not (probed.executable and plotted_agrees(plotted_values(probed.cells[-1].outputs), answers, kind)):
            task.drop_reason = "chart_data_mismatch"  # the chart draws other data than the text asks for
            return
        task.answers = [Answer(name, value) for name, value in answers]
        task.label = render_answers(answers)
        task.answer = answer_field(task.answers)
        task.solution[-1] = SolutionStep(thought=f"Reading the chart, as the format asks, the answer is {task.label}.",
                                         label=task.label)
        task.reference_agrees = task.reference_checked = True
        task.verified = True
        if task.not_interactive:  # a chart of a notebook that cannot re-run to its end: its cells did
            self.slice_reran(notebook, task, runs[0])
        task.assign_id()

    def run_reference(self, task: Task, sources: dict[str, Any]) -> list[NotebookRun]:
        """The task's reference program, run (twice) with its files placed by name; [] without one."""
        if not task.reference_code:
            return []
        by_name = {PurePosixPath(f.path).name: str(sources[f.sha256]) for f in task.data_files}
        return self.run_repeatedly([task.reference_code], by_name, "")

    def slice_reran(self, notebook: Notebook, task: Task, run: NotebookRun) -> bool:
        """Whether the solution of a task of a notebook that cannot re-run to its end (a removed
        API or a missing module further down, another cell's missing file or URL, a re-run that
        failed at a later cell) ran to its end with the task's files alone. Then the task needs
        nothing the sandbox lacks, as NbQA's interactive tier asks ("complete, accessible data
        dependencies"): it is judged as a task of a notebook that re-ran (`not_interactive`
        cleared; verified, deterministic and the solver decide its tier), counted as `slice_reran`."""
        if not run.executable:
            return False
        count(notebook, self.label, "slice_reran", 1)
        task.not_interactive = None
        return True

    def check_sft_task(self, task: Task, sources: dict[str, Any] | None,
                       references: list[NotebookRun] | None = None) -> None:
        """A task of a notebook that cannot re-run offline: grounded in its stored outputs (checked
        by `task_problem`), its solution not re-run, or re-run and failed (`slice_reran`). Where
        its files are present (a notebook that lacks only a module, or uses a removed API), its
        reference program must print the label or the task is dropped; where they are absent,
        `reference_checked` stays false."""
        task.executable, task.deterministic, task.verified = False, None, False
        if task.is_visualization:  # a chart's label comes from a re-run, which failed
            task.drop_reason = f"chart_needs_rerun: {task.not_interactive}"
            return
        if sources is None or not task.reference_code:
            return
        try:
            references = references if references is not None else self.run_reference(task, sources)
        except ValueError:  # a data file's path leaves the job folder: nothing was run
            return
        task.reference_agrees = all(run.executable and label_printed(run.cells[0].outputs, task.answers)
                                    for run in references)
        task.reference_checked = task.reference_agrees
        if not task.reference_agrees:
            task.drop_reason = _reference_failure(references[0])


def _reference_failure(run: NotebookRun) -> str:
    """Why a reference program did not print the label: another label, a tie its own check found
    (the notebook's value was one of several right answers), or an error."""
    if run.executable:
        return "question_label_mismatch"
    return "tied_top_entry" if TIE_MESSAGE in _error_of(run) else "reference_error"


def _error_of(run: NotebookRun) -> str:
    """The error a one-cell run (a reference program) raised, as `error_text` writes it; "" for none."""
    return next((error_text(o) for o in run.cells[0].outputs if o.get("output_type") == "error"), "")


def _touches_a_secret(notebook: Notebook, task: Task) -> bool:
    """Whether redaction changed the task's code or one of its data files."""
    redacted = {ref.sha256 for ref in notebook.data_refs if ref.redacted}
    return (any(f.sha256 in redacted for f in task.data_files)
            or any("<REDACTED:" in (notebook.cells[i].source or "") for i in task.cells))

