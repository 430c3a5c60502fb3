"""A task's code steps as a model should learn them: the final expression printed, the files
named as the consumer serves them, the observations what that code shows.

- **Printed final expression.** 27 of 28 notebook steps end in a bare expression whose display
  value is the stored output (`np.float64(5.41)`); the sandboxes agents run in show only what is
  printed, so the same code would observe nothing there. `print_final_expression` (the turn
  format's, nbqa_builder/turns/printing.py) wraps that expression in `print(...)`, unless it
  ends in `;` or is a call that shows itself (print, display, `.info()`, plots). The observation is then what the printed code shows: for a
  `verified` task it is run in the sandbox (the step's original code in a fork first, so only a
  step that really displayed a value is wrapped); for the others it is read off the stored
  output (`printed_text`: a numpy scalar's repr loses its wrapper, a string its quotes).
- **Files by bare name.** Where the consumer puts every file in one folder by name (JUPITER's
  SandboxFusion), the code's string literals naming a data file's path become the bare name
  (`paths_to_names`); a task whose code names a file some other way, or two files by one name,
  cannot be served so and is left out.
"""

from __future__ import annotations

import ast
import io
import os
import posixpath
import tempfile
import tokenize
from collections import Counter
from pathlib import Path
from typing import Any

from nbqa_builder.notebooks.parse import outputs_as_text
from nbqa_builder.turns import (FINAL_EXPRESSIONS, NotTrainable, bare_name, cut_observation, print_final_expression,
                                printed_text, solution_parts)


def _same_path(a: str, b: str) -> bool:
    return posixpath.normpath(a.replace("\\", "/")) == posixpath.normpath(b.replace("\\", "/"))


def paths_to_names(code: str, paths: list[str]) -> tuple[str, set[str]]:
    """(`code` with every plain string literal naming one of `paths` replaced by its bare name,
    the paths found so)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code, set()
    lines = code.splitlines(keepends=True)
    edits, found = [], set()
    for token in tokens:
        if token.type != tokenize.STRING or token.string[:1].lower() in ("f", "b"):
            continue
        try:
            value = ast.literal_eval(token.string)
        except (ValueError, SyntaxError):
            continue
        path = next((p for p in paths if isinstance(value, str) and _same_path(value, p)), None)
        if path is None:
            continue
        found.add(path)
        quote = token.string.lstrip("rRuU")[0]
        start = _char_offset(lines, *token.start)
        end = _char_offset(lines, *token.end)
        edits.append((start, end, f"{quote}{bare_name(path)}{quote}"))
    for start, end, text in reversed(edits):
        code = code[:start] + text + code[end:]
    return code, found


def _char_offset(lines: list[str], row: int, col: int) -> int:
    return sum(len(text) for text in lines[: row - 1]) + col


class StepRenderer:
    """Rewrites the solution of task rows for training (see the module doc); `counts` says what
    it did. Use as a context manager: it owns the sandbox worker of the re-runs."""

    def __init__(self, final_expression: str = "print", file_naming: str = "path", sandbox: str | None = "bwrap",
                 dataset_dir: str | None = None, contents: dict[str, bytes] | None = None,
                 timeout_s: float = 120.0) -> None:
        """`contents`: sha256 -> bytes of the data files, when the caller has read them already
        (else the files of each re-run task are read from `dataset_dir`)."""
        if final_expression not in FINAL_EXPRESSIONS:
            raise ValueError(f"final_expression must be one of {FINAL_EXPRESSIONS}, not {final_expression!r}")
        self.final_expression, self.file_naming = final_expression, file_naming
        self.sandbox, self.dataset_dir, self.contents, self.timeout_s = sandbox, dataset_dir, contents, timeout_s
        self.counts: Counter = Counter()
        self._worker = None

    def render(self, row: dict[str, Any]) -> dict[str, Any]:
        """A copy of `row` whose solution is its code steps, rendered, then the final step."""
        code_steps, final, label = solution_parts(row)
        codes = [step["python_code"] for step in code_steps]
        if self.file_naming == "name":
            codes = self._served_by_name(row, codes)
        outputs = [step.get("code_output") or "" for step in code_steps]
        if self.final_expression == "print":
            if row.get("verified") and self.sandbox:
                codes, outputs = self._rerun(row, codes)
                self.counts["tasks whose printed steps were re-run in the sandbox"] += 1
            else:
                codes, outputs = self._predict(codes, outputs)
        steps = [{**step, "python_code": code, "code_output": output}
                 for step, code, output in zip(code_steps, codes, outputs)]
        return {**row, "solution": steps + [{**final, "label": label}]}

    def _served_by_name(self, row: dict[str, Any], codes: list[str]) -> list[str]:
        paths = [f["path"] for f in row.get("data_files") or []]
        names = Counter(bare_name(p) for p in paths)
        if any(n > 1 for n in names.values()):
            raise NotTrainable("two data files share a name, so they cannot be served by bare name")
        moved = [p for p in paths if bare_name(p) != posixpath.normpath(p.replace("\\", "/"))]
        found: set[str] = set()
        renamed = []
        for code in codes:
            code, seen = paths_to_names(code, moved)
            renamed.append(code)
            found |= seen
        if set(moved) - found:
            raise NotTrainable("the code names a data file other than by a string literal, so it cannot be served by bare name")
        return renamed

    def _predict(self, codes: list[str], outputs: list[str]) -> tuple[list[str], list[str]]:
        new_codes, new_outputs = [], []
        for code, output in zip(codes, outputs):
            printed = print_final_expression(code) if output.strip() else None  # no output: the value was None
            if printed is not None:
                self.counts["code steps whose final expression became print(...)"] += 1
                code, output = printed, printed_text(output)
            new_codes.append(code)
            new_outputs.append(output)
        return new_codes, new_outputs

    def _rerun(self, row: dict[str, Any], codes: list[str]) -> tuple[list[str], list[str]]:
        from nbqa_builder.sandbox import SandboxError

        with tempfile.TemporaryDirectory(prefix="nbqa-export-") as folder:
            files, cwd = self._place_files(row, Path(folder))
            new_codes, outputs, wrapped = [], [], 0
            try:
                with self.worker().job(files, cwd) as session:
                    for code in codes:
                        printed = print_final_expression(code)
                        if printed is not None and not self._displays_a_value(session, code):
                            printed = None
                        wrapped += printed is not None
                        run = session.run_cell(printed or code)
                        if run.status != "ok":
                            raise NotTrainable(f"a printed step did not run in the sandbox ({run.status})")
                        new_codes.append(printed or code)
                        outputs.append(cut_observation(outputs_as_text(run.outputs)))
            except (SandboxError, ValueError) as exc:
                if isinstance(exc, NotTrainable):
                    raise
                raise NotTrainable(f"the sandbox could not run it ({exc})") from None
        self.counts["code steps whose final expression became print(...)"] += wrapped
        return new_codes, outputs

    @staticmethod
    def _displays_a_value(session: Any, code: str) -> bool:
        """Whether the step as written displays a value: run in a fork, so the state is untouched."""
        branch = session.fork()
        try:
            run = branch.run_cell(code)
        finally:
            branch.kill()
        return any(output.get("output_type") == "execute_result" for output in run.outputs)

    def _place_files(self, row: dict[str, Any], folder: Path) -> tuple[dict[str, str], str]:
        """(job path -> file on this machine, working folder) for the task's data files."""
        from nbqa_builder.publish.load import read_file_contents, working_layout
        from nbqa_builder.records import task_from_row

        task = task_from_row(row)
        contents = self.contents
        if contents is None:
            contents = read_file_contents(self.dataset_dir or "", {f.sha256 for f in task.data_files})
        if self.file_naming == "name":
            cwd, places = ".", {f.path: bare_name(f.path) for f in task.data_files}
        else:
            cwd_path, layout = working_layout(task)
            cwd, places = cwd_path.as_posix(), {path: place.as_posix() for path, place in layout.items()}
        files = {}
        for data_file in task.data_files:
            if data_file.sha256 not in contents:
                raise NotTrainable("a data file is not in the files config")
            target = folder / places[data_file.path]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(contents[data_file.sha256])
            files[places[data_file.path]] = os.fspath(target)
        return files, cwd

    def worker(self):
        if self._worker is None:
            from nbqa_builder.sandbox import Limits, WarmWorker

            self._worker = WarmWorker(self.sandbox or "bwrap", Limits(timeout_s=self.timeout_s))
        return self._worker

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __enter__(self) -> "StepRenderer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
