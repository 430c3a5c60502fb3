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
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from nbqa_builder.redact.cells import redact_cells
from nbqa_builder.redact.secrets import CREDENTIAL_SCAN_BYTES, credential_name_reason, redact_text, scan_data_file
from nbqa_builder.records import FOUND, DataRef, Notebook, Task
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


# Data files whose verdict a redact step remembers. The notebooks of a repository often read the
# same files: each content is searched once (per name, which can make a file a credential file).
SCANNED_FILES_KEPT = 4096


@dataclass(frozen=True)
class FileScan:
    """What the search of one data file found; the redacted copy itself is on disk."""
    credential_reason: str | None
    kinds: Counter[str]
    redacted_sha256: str | None  # None: nothing to redact, or the file is not published


class RedactStep(Step):
    name = "redact"
    Config = RedactConfig
    requires: ClassVar[tuple[str, ...]] = ("validate",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scans: OrderedDict[tuple[str, str], FileScan] = OrderedDict()

    def process(self, notebook: Notebook) -> str | None:
        if not (self.config.drop_credential_files or self.config.redact_secrets):
            return None
        scans = [(ref, self._scan(notebook, ref)) for ref in notebook.data_refs if ref.status == FOUND and ref.resolved]
        if self.config.drop_credential_files:
            reason = next((scan.credential_reason for _, scan in scans if scan.credential_reason), None)
            if reason:
                count(notebook, self.name, "credential_files")
                return reason
        if not self.config.redact_secrets:
            return None
        for (kind, place), n in redact_cells(notebook.cells).items():
            count(notebook, self.name, f"secrets:{kind}", n)
            count(notebook, self.name, f"places:{place}", n)
        for ref, scan in scans:
            if scan.redacted_sha256 is None:
                continue
            ref.redacted, ref.redacted_sha256 = str(self._redacted_path(ref)), scan.redacted_sha256
            for kind, n in scan.kinds.items():
                count(notebook, self.name, f"secrets:{kind}", n)
                count(notebook, self.name, "places:data_file", n)
        redact = functools.lru_cache(maxsize=None)(redact_text)  # the tasks of a notebook repeat its cells
        for task in notebook.tasks:  # tasks exist when an older recipe extracts first
            for kind, n in redact_task(task, redact).items():
                count(notebook, self.name, f"secrets:{kind}", n)
                count(notebook, self.name, "places:task_text", n)
        return None

    def _scan(self, notebook: Notebook, ref: DataRef) -> FileScan:
        """One data file's verdict, from its content (searched once per name and content); a file
        that holds credentials gets its redacted copy under `_work/redacted/`."""
        # (a file deps could not hash is known by its place)
        key = (ref.resolved.rsplit("/", 1)[-1], ref.sha256 or f"{notebook.repo_dir}/{ref.resolved}")
        scan = self._scans.get(key)
        if scan is not None:
            self._scans.move_to_end(key)
            return scan
        published = ref.size is None or ref.size <= self.config.max_data_file_bytes
        content = None
        if published or (ref.size or 0) <= CREDENTIAL_SCAN_BYTES:  # larger files are data, not credential files
            try:
                content = Path(notebook.repo_dir, ref.resolved).read_bytes()
            except OSError:
                pass
        if content is None:
            scan = FileScan(credential_name_reason(ref.resolved), Counter(), None)
        else:
            reason, redacted, kinds = scan_data_file(ref.resolved, content)
            redacted_sha256 = None
            if kinds and published and ref.sha256 and self.config.redact_secrets:
                redacted_sha256 = self._write_redacted(ref, redacted)
            scan = FileScan(reason, kinds, redacted_sha256)
        self._scans[key] = scan
        if len(self._scans) > SCANNED_FILES_KEPT:
            self._scans.popitem(last=False)
        return scan

    def _redacted_path(self, ref: DataRef) -> Path:
        output = self.context.get("output")
        if not output:
            raise ValueError("the redact step writes redacted data files into the run's output folder; none was given")
        return Path(output, "_work", "redacted", ref.sha256)

    def _write_redacted(self, ref: DataRef, redacted: bytes) -> str:
        target = self._redacted_path(ref)
        digest = hashlib.sha256(redacted).hexdigest()
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.{digest[:8]}.tmp")
            temp.write_bytes(redacted)
            temp.replace(target)
        return digest
