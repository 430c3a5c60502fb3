"""The redact step: credentials out of everything a task publishes, credential files dropped.

Runs after extract (and verify, which needs the original code and files). For each kept notebook:
- a data file that is itself a credential file (`.env`, `credentials.json`, `id_rsa`, a file of
  mostly keys) drops the notebook with reason `credential_file:<name>`: its analysis is about
  secrets, and no redaction makes the file worth publishing;
- every text field of every task (question, constraints, format, answers, each step's thought,
  code and output) is redacted, counted per kind in stats.json["metrics"]["redact"].
Data files that merely contain a credential are redacted when the dataset is written (writer.py),
where their sha256 is recomputed together with the tasks that point at them.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from nbqa_builder.redact.secrets import CREDENTIAL_SCAN_BYTES, credential_file_reason, redact_text
from nbqa_builder.records import FOUND, Notebook, Task
from nbqa_builder.step import Step, StepConfig, count


class RedactConfig(StepConfig):
    # a notebook that reads a credential file is dropped; off only for private, trusted corpora
    drop_credential_files: bool = True


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

    for name in ("task", "constraints", "format", "answer", "label"):
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
    requires: ClassVar[tuple[str, ...]] = ("validate", "extract")

    def process(self, notebook: Notebook) -> str | None:
        if self.config.drop_credential_files:
            for ref in notebook.data_refs:
                if ref.status != FOUND or not ref.resolved:
                    continue
                path = Path(notebook.repo_dir, ref.resolved)
                try:
                    with open(path, "rb") as handle:
                        head = handle.read(CREDENTIAL_SCAN_BYTES + 1)
                except OSError:
                    continue
                reason = credential_file_reason(ref.resolved, head)
                if reason:
                    count(notebook, self.name, "credential_files")
                    return reason
        redact = functools.lru_cache(maxsize=None)(redact_text)  # the tasks of a notebook repeat its cells
        for task in notebook.tasks:
            found = redact_task(task, redact)
            if found:
                count(notebook, self.name, "tasks_redacted")
            for kind, n in found.items():
                count(notebook, self.name, f"secrets:{kind}", n)
        return None
