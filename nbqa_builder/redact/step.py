"""The redact step: credentials out of every text and data file, before anything runs or is stored.

It comes right after the rules that judge notebooks (a recipe puts it before `dedup`, `execute`,
`extract` and `verify`; recipe.py checks), so that:
- no part file under `_work/`, no reject record and no task holds a credential: each kept
  notebook's code, markdown and outputs are redacted here (redact/cells.py), before its part is
  written;
- `execute` and `verify` run what is published: a data file that holds a credential gets a
  redacted copy under `_work/redacted/` (`DataRef.redacted`), which the sandbox steps and the
  writer use instead of the repository's file;
- a notebook whose data file is itself a credential file (`.env`, `credentials.json`, `id_rsa`, a
  file of mostly keys) is dropped with reason `credential_file:<name>`.
Findings are counted by kind and by place in stats.json["metrics"]["redact"]. Redaction keeps code
runnable where it can (only the value is replaced; a string literal stays one); a task that needed
the secret to give its label is dropped by `verify` (`needs_secret`).
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from nbqa_builder.redact.cells import redact_cells
from nbqa_builder.redact.secrets import CREDENTIAL_SCAN_BYTES, credential_file_reason, redact_bytes, redact_text
from nbqa_builder.records import FOUND, Notebook, Task
from nbqa_builder.step import Step, StepConfig, count


class RedactConfig(StepConfig):
    # a notebook that reads a credential file is dropped; off only for private, trusted corpora
    drop_credential_files: bool = True
    # Credentials in code, outputs, markdown and data files become `<REDACTED:kind>`. Off only for
    # a private corpus that is never published (the writer still redacts what it publishes).
    redact_secrets: bool = True
    # data files up to this size are scanned (and published); the dataset viewer takes no larger row
    max_data_file_bytes: int = Field(100_000_000, ge=0)


def redact_task(task: Task, redact: Callable[[str], tuple[str, Counter[str]]] = redact_text) -> Counter[str]:
    """Redact every published text field of a task in place; the counts per kind.

    `redact` is `redact_text` or a cache of it (the writer's): the counts it returns are only read,
    so a cache may hand the same Counter out for equal texts.
    """
    found: Counter[str] = Counter()

    def clean(text: str | None) -> str | None:
        if not text:
            return text
        redacted, kinds = redact(text)
        if kinds:  # nearly always empty, and Counter.update is slow even then
            found.update(kinds)
        return redacted

    for name in ("task", "constraints", "format", "answer", "label", "reference_code"):
        setattr(task, name, clean(getattr(task, name)))
    task.file_names = [clean(name) or "" for name in task.file_names]
    for answer in task.answers:
        answer.value = clean(answer.value) or ""
    for step in task.solution:
        step.thought = clean(step.thought) or ""
        step.python_code = clean(step.python_code)
        step.code_output = clean(step.code_output)
        step.label = clean(step.label)
    return found


class RedactStep(Step):
    name = "redact"
    Config = RedactConfig
    requires: ClassVar[tuple[str, ...]] = ("validate",)

    def process(self, notebook: Notebook) -> str | None:
        if self.config.drop_credential_files:
            reason = self._credential_file(notebook)
            if reason:
                count(notebook, self.name, "credential_files")
                return reason
        if not self.config.redact_secrets:
            return None
        for (kind, place), n in redact_cells(notebook.cells).items():
            count(notebook, self.name, f"secrets:{kind}", n)
            count(notebook, self.name, f"places:{place}", n)
        self._redact_data_files(notebook)
        redact = functools.lru_cache(maxsize=None)(redact_text)  # the tasks of a notebook repeat its cells
        for task in notebook.tasks:  # tasks exist when an older recipe extracts first
            for kind, n in redact_task(task, redact).items():
                count(notebook, self.name, f"secrets:{kind}", n)
                count(notebook, self.name, "places:task_text", n)
        return None

    def _credential_file(self, notebook: Notebook) -> str | None:
        for ref in notebook.data_refs:
            if ref.status != FOUND or not ref.resolved:
                continue
            try:
                with open(Path(notebook.repo_dir, ref.resolved), "rb") as handle:
                    head = handle.read(CREDENTIAL_SCAN_BYTES + 1)
            except OSError:
                continue
            reason = credential_file_reason(ref.resolved, head)
            if reason:
                return reason
        return None

    def _redact_data_files(self, notebook: Notebook) -> None:
        """A redacted copy of each data file that holds a credential, under `_work/redacted/`."""
        output = self.context.get("output")
        for ref in notebook.data_refs:
            if ref.status != FOUND or not ref.resolved or not ref.sha256:
                continue
            if ref.size is not None and ref.size > self.config.max_data_file_bytes:
                continue
            try:
                content = Path(notebook.repo_dir, ref.resolved).read_bytes()
            except OSError:
                continue
            redacted, kinds = redact_bytes(content)
            if not kinds:
                continue
            if not output:
                raise ValueError("the redact step writes redacted data files into the run's output folder; none was given")
            target = Path(output, "_work", "redacted", ref.sha256)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                temp = target.with_name(f".{target.name}.{hashlib.sha256(redacted).hexdigest()[:8]}.tmp")
                temp.write_bytes(redacted)
                temp.replace(target)
            ref.redacted, ref.redacted_sha256 = str(target), hashlib.sha256(redacted).hexdigest()
            for kind, n in kinds.items():
                count(notebook, self.name, f"secrets:{kind}", n)
                count(notebook, self.name, "places:data_file", n)
