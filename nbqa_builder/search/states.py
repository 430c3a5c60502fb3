"""Live notebook states for the search: a node's state is a sandbox session, forked from its
parent's, so that expanding a node at depth d runs one cell, not d (JUPITER re-runs every cell
from the root in a fresh kernel).

The pool holds at most `max_live` sessions besides the root's. Over that, the least recently used
is closed; a node whose session was closed is rebuilt, when it is expanded again, by replaying its
cells from the root (counted in `replays` and `replayed_cells`). Terminal nodes keep no session.
With `max_live=0` every expansion replays from the root: JUPITER's way (bench/search.py).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from nbqa_builder.notebooks.parse import output_text, outputs_as_text
from nbqa_builder.sandbox.runner import OK, CellRun, SandboxError, Session, WarmWorker
from nbqa_builder.search.tree import Node
from nbqa_builder.turns import MAX_OBSERVATION_CHARS, cut_observation, printed_text



@dataclass
class Observed:
    """What running a node's cell gave."""

    text: str
    failed: bool  # the cell raised an error
    status: str  # the sandbox's cell status (ok, error, timeout, output_limit, died...)


def observation(run: CellRun, limit: int = MAX_OBSERVATION_CHARS, final_expression: str = "keep") -> str:
    """What a cell showed, as `export sft --final-expression` renders a step's output: `keep`, the
    notebook's display of a final bare expression (`np.float64(5.41)`); `print`, that value as
    print(...) shows it (`5.41`), the code the export teaches; cut at `limit` characters as the
    export cuts its observations."""
    outputs = run.outputs
    if final_expression == "print":
        outputs = [_as_printed(output) for output in outputs]
    text = outputs_as_text(outputs)
    if run.status not in (OK, "error") and run.message:
        text = (text + "\n" if text else "") + f"[{run.status}: {run.message}]"
    return cut_observation(text, limit)


def _as_printed(output: dict[str, Any]) -> dict[str, Any]:
    """A final expression's displayed value as the stdout of print(value) (turns/printing.py)."""
    shown = output_text(output) if output.get("output_type") == "execute_result" else None
    if shown is None:
        return output
    return {"output_type": "stream", "name": "stdout", "text": printed_text(shown) + "\n"}


class StatePool:
    """The sessions of one task's search (see the module doc); use as a context manager."""

    def __init__(self, worker: WarmWorker, files: dict[str, Any], cwd: str, max_live: int, cell_timeout_s: float,
                 final_expression: str = "print", observation_chars: int = MAX_OBSERVATION_CHARS) -> None:
        self.worker, self.files, self.cwd = worker, files, cwd
        self.max_live, self.cell_timeout_s = max_live, cell_timeout_s
        self.final_expression, self.observation_chars = final_expression, observation_chars  # see `observation`
        self.live: OrderedDict[int, Session] = OrderedDict()
        self.cells_run = 0  # cells run for new nodes
        self.replays = 0  # states rebuilt from the root
        self.replayed_cells = 0  # cells run again to rebuild them
        self.peak_live = 0
        self._job: Any = None
        self.root: Session | None = None

    def __enter__(self) -> "StatePool":
        self._job = self.worker.job(self.files, self.cwd)
        self.root = self._job.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        for session in self.live.values():
            session.kill()
        self.live.clear()
        self._job.__exit__(*exc)

    def _session_of(self, node: Node) -> tuple[Session, bool]:
        """(the live state of `node`, whether it is a throwaway): kept, or rebuilt by replaying its
        cells from the root (a throwaway when the pool keeps no state)."""
        assert self.root is not None
        if node.parent is None:
            return self.root, False
        session = self.live.get(node.id)
        if session is not None and not session.dead:
            self.live.move_to_end(node.id)
            return session, False
        self.replays += 1
        session = self.root.fork(own_files=True)
        for code in node.codes():
            self.replayed_cells += 1
            run = session.run_cell(code, self.cell_timeout_s)
            if run.status not in (OK, "error"):
                session.kill()
                raise SandboxError(f"replaying the state of node {node.id} failed: {run.status} {run.message}")
        if self.max_live <= 0:
            return session, True
        self._keep(node.id, session)
        return session, False

    def run(self, parent: Node, child: Node, code: str) -> Observed:
        """Run `code` in a copy of the parent's state; the copy becomes the child's state."""
        parent_state, throwaway = self._session_of(parent)
        session = parent_state.fork(own_files=True)  # a branch writes its own files
        if throwaway:
            parent_state.kill()
        run = session.run_cell(code, self.cell_timeout_s)
        self.cells_run += 1
        observed = Observed(observation(run, self.observation_chars, self.final_expression), run.status == "error",
                            run.status)
        if run.status in (OK, "error"):
            self._keep(child.id, session)
        else:
            session.kill()  # timed out, died, too much output: this state is gone
        return observed

    def carry(self, parent: Node, child: Node) -> None:
        """A child whose step changed nothing (it ran no cell, or its cell's state is gone) goes on
        from a copy of its parent's state."""
        if self.max_live <= 0:
            return  # rebuilt by replay, as every state then is
        parent_state, _ = self._session_of(parent)
        self._keep(child.id, parent_state.fork(own_files=True))

    def drop(self, node: Node) -> None:
        """The node will never be expanded (terminal): let its state go."""
        session = self.live.pop(node.id, None)
        if session is not None:
            session.kill()

    def _keep(self, node_id: int, session: Session) -> None:
        if self.max_live <= 0:
            session.kill()
            return
        self.live[node_id] = session
        self.live.move_to_end(node_id)
        while len(self.live) > self.max_live:
            _, oldest = self.live.popitem(last=False)
            oldest.kill()
        self.peak_live = max(self.peak_live, len(self.live))

