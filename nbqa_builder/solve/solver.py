"""The blind solver: a model that never saw the notebook solves a task from what a user of the
dataset gets (the question, constraints, format, file names and a preview of each file), step by
step in the sandbox, and its answer is scored against the label.

The conversation is the agent's turn format (nbqa_builder/turns), walked over the search's tree
(search/conversation.py): the same system turn and first user turn as the SFT export, `Thought:`
+ `Action:` with one python block, `Observation:` turns, and a `Formatted answer:` that ends it.
This module is the one place the solver depends on that format (`solver_turns`, `conversation`,
`parse_reply`). The file preview is added to the first user turn; it is made inside the sandbox
(the files are strangers' data), by a program of ours, never by the model.

One task, `BlindSolver.solve`: at most `max_steps` replies; each code step runs in a sandbox
session holding only the task's files; the first answer ends it. In batch mode a step's request
may not be answered yet (`NeedsReply`): the solve is run again after the batch, from the start, and
`SolveMemory` keeps what the first run saw (the preview and each cell's observation) so that the
conversation, and so the request, is the same again; the cells themselves are run again to rebuild
the session's state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from nbqa_builder.answers import STRICT, answer_dict, score_response
from nbqa_builder.notebooks.parse import outputs_as_text
from nbqa_builder.records import Task
from nbqa_builder.sandbox.runner import ERROR, OK, TIMEOUT, WarmWorker
from nbqa_builder.search.conversation import conversation
from nbqa_builder.search.states import observation
from nbqa_builder.search.tree import Tree
from nbqa_builder.turns import DEFAULT_TEMPLATE, first_turns, parse_reply

STAGE = "solve"  # the ledger's and the cache's name for the solver's requests

# Runs in the sandbox, in a job of its own: the solver's session never sees these names.
PREVIEW_PROGRAM = '''
import io, os
import pandas as pd
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 40)
READERS = {
    ".csv": pd.read_csv, ".txt": pd.read_csv, ".dat": pd.read_csv, ".data": pd.read_csv,
    ".tsv": lambda p: pd.read_csv(p, sep="\\t"), ".json": pd.read_json,
    ".jsonl": lambda p: pd.read_json(p, lines=True), ".xlsx": pd.read_excel, ".xls": pd.read_excel,
    ".parquet": pd.read_parquet, ".feather": pd.read_feather,
}
for path in PATHS:
    out = io.StringIO()
    reader = READERS.get(os.path.splitext(path)[1].lower())
    table = None
    if reader is not None:
        try:
            table = reader(path)
        except Exception as exc:
            print(f"(pandas could not read it: {type(exc).__name__})", file=out)
    if isinstance(table, pd.DataFrame):
        print(f"shape: {table.shape[0]} rows x {table.shape[1]} columns", file=out)
        print("dtypes:", file=out)
        print(table.dtypes.to_string(), file=out)
        print(f"first {ROWS} rows:", file=out)
        print(table.head(ROWS).to_string(), file=out)
    else:
        with open(path, "rb") as handle:
            head = handle.read(CHARS)
        size = os.path.getsize(path)
        if b"\\0" in head:
            print(f"(binary file, {size} bytes)", file=out)
        else:
            print(f"{size} bytes; it begins:", file=out)
            print(head.decode("utf-8", "replace"), file=out)
    text = out.getvalue().rstrip()
    print(f"--- {path}")
    print(text if len(text) <= CHARS else text[:CHARS] + "\\n[... preview cut]")
'''


def preview_program(paths: list[str], rows: int, chars: int) -> str:
    return f"PATHS = {json.dumps(paths)}\nROWS = {int(rows)}\nCHARS = {int(chars)}\n" + PREVIEW_PROGRAM


def task_row(task: Task) -> dict[str, Any]:
    """What the solver is shown of a task: the fields a dataset user has, nothing of the notebook."""
    return {"task": task.task, "constraints": task.constraints, "format": task.format,
            "data_files": [{"path": f.path} for f in task.data_files], "file_names": list(task.file_names)}


def solver_turns(task: Task, preview: str) -> list[dict[str, str]]:
    """The system turn and the first user turn (the SFT export's, as the search uses them), with
    the files' preview after the task."""
    turns = first_turns(task_row(task), DEFAULT_TEMPLATE)
    turns[1] = {**turns[1], "content": turns[1]["content"].rstrip("\n") + f"\n\n### File previews\n{preview}\n"}
    return turns


def agrees_with_label(answer: str, label: str) -> bool:
    """Every `@name[value]` of the label given right, under the official (strict) scorer."""
    expected = answer_dict(label, STRICT)
    return bool(expected) and all(score_response(answer, expected, STRICT).values())


@dataclass
class SolveMemory:
    """What one task's solve saw so far, kept across the rounds of batch mode."""

    preview: str | None = None
    observations: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    answer: str | None
    agrees: bool | None
    end: str  # answer, step_limit, parse_failure, no_code, too_many_errors, timeout, sandbox_failure, llm_refusal
    steps: int


@dataclass
class BlindSolver:
    client: Any  # llm/client.py's ChatClient
    model: str
    temperature: float
    max_tokens: int
    max_steps: int
    max_errors: int
    cell_timeout_s: float
    preview_rows: int
    preview_chars: int

    def preview(self, worker: WarmWorker, task: Task, files: dict[str, str], cwd: str) -> str:
        run = worker.run_notebook([preview_program([f.path for f in task.data_files], self.preview_rows,
                                                   self.preview_chars)], files, cwd)
        text = outputs_as_text(run.cells[0].outputs).strip()
        if run.cells[0].status != OK:
            text = (text + "\n" if text else "") + f"(the preview stopped: {run.cells[0].status} {run.cells[0].message})"
        return text or "(no preview)"

    def solve(self, worker: WarmWorker, task: Task, files: dict[str, str], cwd: str, memory: SolveMemory,
              counted: Callable[[Any], None]) -> Outcome:
        """Solve one task; `counted(completion)` sees every reply used. Raises NeedsReply (batch
        mode) and LLMRequestFailed (a request that cannot be answered)."""
        if memory.preview is None:
            memory.preview = self.preview(worker, task, files, cwd)
        first = solver_turns(task, memory.preview)
        tree = Tree(0.0, 0)
        node, errors = tree.root, 0
        with worker.job(files, cwd) as session:
            for index in range(self.max_steps):
                completion = self.client.complete(STAGE, self.model, conversation(first, node), self.temperature,
                                                  self.max_tokens, None)
                counted(completion)
                if completion.refusal:
                    return Outcome(None, None, "llm_refusal", index + 1)
                step = parse_reply(completion.content or "")
                child = tree.add_child(node, thought=step.thought, reply=completion.content or "")
                if step.answer is not None:
                    return Outcome(step.answer, agrees_with_label(step.answer, task.label), "answer", index + 1)
                if step.problem is not None:
                    return Outcome(None, False, step.problem, index + 1)
                child.code = step.code
                run = session.run_cell(step.code or "", self.cell_timeout_s)
                if index < len(memory.observations):
                    child.observation = memory.observations[index]  # as the first run saw it
                else:
                    child.observation = observation(run)
                    memory.observations.append(child.observation)
                if run.status not in (OK, ERROR):
                    return Outcome(None, False, "timeout" if run.status == TIMEOUT else "sandbox_failure", index + 1)
                errors = errors + 1 if run.status == ERROR else 0
                if errors > self.max_errors:
                    return Outcome(None, False, "too_many_errors", index + 1)
                node = child
        return Outcome(None, False, "step_limit", self.max_steps)
