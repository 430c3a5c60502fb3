"""The records that flow through the pipeline, and the one Arrow schema of each record type.

A `Notebook` enters from a source, is checked, filtered, deduplicated and executed, and carries the
`Task`s extracted from it. A `Task` is what lands in the shards. A `DataFile` is a file a task
needs, stored once by content. The Arrow schemas below are the only schemas the writer uses; the
JSON Schemas in `schemas/` describe the same rows (a test keeps them in step).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from nbqa_builder import __version__

# Status of a data reference, as found by the deps step.
FOUND, MISSING, URL, DYNAMIC, AMBIGUOUS = "found", "missing", "url", "dynamic", "ambiguous"
REF_STATUSES = (FOUND, MISSING, URL, DYNAMIC, AMBIGUOUS)
# What a data reference reads: a file by its path, the files a glob pattern matches (one ref
# each), something fetched over the network, or a table the notebook types in (written out as a
# file by the extractor: extract/inline_tables.py).
FILE, GLOB, NETWORK, INLINE = "file", "glob", "network", "inline"


@dataclass
class Cell:
    """One notebook cell, as stored (outputs are nbformat v4 output dicts)."""

    cell_type: str
    source: str
    execution_count: int | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DataRef:
    """A data file that a notebook reads, as written in its code and as resolved in its repo."""

    as_written: str
    cell: int
    call: str  # the reading function, e.g. "pd.read_csv"
    status: str = MISSING
    resolved: str | None = None  # path relative to the repository root
    sha256: str | None = None
    size: int | None = None
    rows: int | None = None  # line count of text files, None when not counted
    # every call that reads it: (cell, line, column) of the call in the cell's code, so the
    # extractor can tell which file a `pd.read_csv(...)` it meets reads
    sites: list[tuple[int, int, int]] = field(default_factory=list)
    # FILE: a path; GLOB: a file a constant glob pattern matched (`as_written` is the path the
    # pattern gives); NETWORK: a fetch over the network (`requests.get`, `sns.load_dataset`),
    # never a file of the repository
    kind: str = "file"
    # a copy of the file with its credentials redacted (redact step), which every later step runs
    # and the writer publishes, and that copy's sha256; None when the file holds none
    redacted: str | None = None
    redacted_sha256: str | None = None
    # a file the crawl fetched from a URL (deps/fetched.py): (where it came from, the holding
    # repository's license); None for a file of the notebook's own repository
    fetched_from: tuple[str, str | None] | None = None
    # INLINE: the file the extractor wrote the table to (under `_work/inline/`), and the read
    # options that give the table back from it (`index_col`, `dtype`)
    generated: str | None = None
    read_options: tuple = ()
    series_column: str | None = None  # a Series typed in: the file's column that holds it

    def source(self, repo_dir: str) -> Path | None:
        """The file on this machine that the steps after `redact` read: the redacted copy, if any."""
        if self.redacted:
            return Path(self.redacted)
        if self.generated:
            return Path(self.generated)
        return Path(repo_dir, self.resolved) if self.resolved else None

    @property
    def on_disk(self) -> bool:
        """Found and hashed, with a file on this machine (`source`) that the later steps read."""
        return self.status == FOUND and bool(self.sha256) and bool(self.resolved or self.generated)


def code_path(as_written: str) -> str | None:
    """Where the code expects a file it reads as `as_written`: a POSIX path relative to the
    notebook's folder (it may climb with `..`). None for what no folder can hold: a URL, an
    absolute path (`/home/me/x.csv`, `C:\\Users\\x.csv`, `~/x.csv`).

    The execute and verify steps place files there, and a task's `data_files` name them so."""
    path = as_written.strip().replace("\\", "/")
    if path.startswith("file://"):
        path = path[len("file://"):]
    if "://" in path or path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:/", path):
        return None
    parts = [part for part in path.split("/") if part not in (".", "")]
    return "/".join(parts) or None


@dataclass
class Notebook:
    """A notebook and everything the pipeline learns about it.

    `repo_dir` is where the repository lies on this machine; it is never written to shards.
    `drop_reason` is None while the notebook is kept.
    """

    notebook_id: str  # sha256 of the notebook's bytes
    repo: str  # "owner/name" or the folder name
    path: str  # path of the notebook inside its repository, POSIX separators
    repo_dir: str = ""
    commit: str | None = None
    license: str | None = None
    url: str | None = None
    size: int = 0
    raw: bytes | None = None  # the file's bytes until the validate step has parsed them
    nbformat: int | None = None
    kernel: str | None = None
    cells: list[Cell] = field(default_factory=list)
    data_refs: list[DataRef] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    drop_reason: str | None = None
    dropped_by: str | None = None  # the step that dropped it
    # what matched: the module, the API and its line, the file, the URL, the cell and its error
    drop_detail: str | None = None
    # why its tasks cannot be `interactive` though the notebook is kept ("network_read:
    # pd.read_csv(https://...)", "rerun_failed: cell 7 KeyError '2014'"); None: it may be
    not_interactive: str | None = None
    tasks: list["Task"] = field(default_factory=list)
    # parsed cells and other derived analyses, cached for the steps of one stage; never pickled
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "cache": {}}

    @property
    def uid(self) -> str:
        """Unique within a run (two byte-identical notebooks share a notebook_id, not a uid)."""
        return f"{self.repo}:{self.path}"

    @property
    def kept(self) -> bool:
        return self.drop_reason is None

    def drop(self, reason: str, step: str, detail: str | None = None) -> None:
        """Mark the notebook dropped by `step`; the first reason wins."""
        if self.drop_reason is None:
            self.drop_reason = reason
            self.dropped_by = step
            self.drop_detail = detail

    def route_to_sft(self, reason: str) -> None:
        """Keep the notebook, its tasks for `sft` only; the first reason wins (it names the cause)."""
        if self.not_interactive is None:
            self.not_interactive = reason

    def compact(self) -> None:
        """Join the outputs' multiline strings, as `nbformat.reads` does: a kept notebook waits
        in memory until its part is written, and one string per output instead of a list of line
        objects holds a 1 MB notebook in about 1 MB rather than 15."""
        for cell in self.cells:
            if cell.outputs:
                cell.outputs = [_rejoined(output) for output in cell.outputs]

    def published_files(self) -> list[dict[str, Any]]:
        """The data files its kept tasks ship: sha256, path in the task, `source` (the file on
        this machine that is published: the redacted copy where there is one; None when its data
        reference gives none), `source_sha256`, the sha256 that file must have, and `origin`: where
        the file came from and under which license (the notebook's repository, or, for a file the
        crawl fetched from a URL, the repository or host that serves it: deps/fetched.py)."""
        refs = [ref for ref in self.data_refs if ref.on_disk]
        sources = {ref.sha256: (str(ref.source(self.repo_dir)), ref.redacted_sha256 or ref.sha256) for ref in refs}
        own = f"{self.repo}@{self.commit}" if self.commit else self.repo

        def origin(ref: DataRef) -> tuple[str, str | None]:
            if ref.kind == INLINE:
                return f"{own}:{self.path} (the table cell {ref.cell} types in)", self.license
            return ref.fetched_from or (f"{own}:{ref.resolved}", self.license)

        origins = {ref.sha256: origin(ref) for ref in refs}
        return [{"sha256": f.sha256, "path": f.path, "source": sources.get(f.sha256, (None, None))[0],
                 "source_sha256": sources.get(f.sha256, (None, None))[1],
                 "origin": dict(zip(("source", "license"), origins.get(f.sha256, (None, None))))}
                for task in self.tasks if task.drop_reason is None for f in task.data_files]

    def release(self) -> None:
        """Let go of the content (bytes, cells, parsed trees): a dropped notebook keeps its
        reason and checks, and finished tasks carry the code and outputs they need."""
        self.cells, self.raw, self.cache = [], None, {}

    @property
    def code_cells(self) -> list[Cell]:
        """The code cells, listed once per list of cells (the filter rules each ask for them)."""
        cached = self.cache.get("code_cells")
        if cached is None or cached[0] is not self.cells:
            cached = self.cache["code_cells"] = (self.cells, [c for c in self.cells if c.cell_type == "code"])
        return cached[1]


_JSON_MIME = re.compile(r"^application/(.*\+)?json$")


def _rejoined(output: dict[str, Any]) -> dict[str, Any]:
    """An output with its multiline strings joined (nbformat.v4.rwbase.rejoin_lines): stream
    text, and mimebundle values other than JSON ones (whose lists are data)."""
    kind = output.get("output_type")
    if kind == "execute_result" or kind == "display_data":
        data = output.get("data")
        if type(data) is dict and any(type(value) is list for value in data.values()):
            joined = {mime: _joined_lines(value) if type(value) is list and not _JSON_MIME.match(mime) else value
                      for mime, value in data.items()}
            return {**output, "data": joined}
    elif type(output.get("text")) is list:
        return {**output, "text": _joined_lines(output["text"])}
    return output


def _joined_lines(lines: list[Any]) -> Any:
    try:
        return "".join(lines)
    except TypeError:  # not all strings (a schema-valid notebook has only strings here)
        return lines


@dataclass
class SolutionStep:
    thought: str
    python_code: str | None = None
    code_output: str | None = None
    label: str | None = None  # only on the last step


@dataclass
class Answer:
    name: str
    value: str
    # where the answer cell shows the value (extract/grounding.py): "result", "result[north]",
    # "line 2"; "" where unknown (rows of other datasets)
    place: str = ""


@dataclass
class TaskFile:
    path: str  # where the task's code expects the file, relative to the working directory
    sha256: str
    size: int


@dataclass
class Task:
    """One question with its answer and multi-step solution; NbQA field names first."""

    task: str
    file_names: list[str]
    concepts: list[str]
    difficulty: str
    constraints: str
    format: str
    answer: str
    label: str
    solution: list[SolutionStep]
    github_repo: str
    ipynb_name: str
    # ours
    id: str = ""
    answers: list[Answer] = field(default_factory=list)
    data_files: list[TaskFile] = field(default_factory=list)
    deps_complete: bool = False
    executable: bool | None = None
    deterministic: bool | None = None
    verified: bool | None = None
    is_visualization: bool = False
    category: str = ""
    source: str = ""  # notebook_id
    commit: str | None = None
    license: str | None = None
    url: str | None = None
    extractor_backend: str = ""
    extractor_model: str | None = None
    prompt_version: str | None = None
    builder_version: str = __version__
    cells: list[int] = field(default_factory=list)  # notebook cell indices of the solution
    # what the question asks for: the statistic of a heuristic task ("mean", "count_where", ...),
    # "open" for a task an LLM wrote
    question_kind: str = ""
    # a program written from the task's spec (never copied from the notebook) that prints the
    # label from the task's data files, placed by name in its working folder; None for LLM tasks
    reference_code: str | None = None
    reference_agrees: bool | None = None  # set by verify: the reference program printed the label
    # set by the solve step: a blind solver that saw the task's text, constraints, format and files
    # (never the notebook) reached the label under the strict scorer; None where not checked
    solver_agrees: bool | None = None
    solver_answer: str | None = None  # what it gave after `Formatted answer:`; None without one
    # why the task is `sft` only: its notebook cannot re-run offline ("missing_file: data/x.csv",
    # "removed_api: DataFrame.append (cell 4, line 2)", "rerun_failed: cell 7 KeyError '2014'");
    # None for a task that may be interactive
    not_interactive: str | None = None
    # the reference program was run in the sandbox on the task's data files (and printed the
    # label: one that does not is dropped); False where the files are absent or no program exists
    reference_checked: bool = False
    # a visualization task's chart as the notebook stored it (base64 PNG); None for other tasks
    chart_image: str | None = None
    drop_reason: str | None = None

    def assign_id(self) -> str:
        """A stable id: the same notebook, cells and question always give the same id."""
        key = f"{self.github_repo}\x00{self.ipynb_name}\x00{self.source}\x00{self.cells}\x00{self.task}\x00{self.label}"
        self.id = hashlib.sha256(key.encode()).hexdigest()[:16]
        return self.id

    def to_row(self) -> dict[str, Any]:
        """The row for the shards: every field but `drop_reason`, nested records as dicts.

        The same dict as `dataclasses.asdict` less `drop_reason` (tests/test_records.py checks),
        built by hand: asdict deep-copies every value through a generic recursion, which made
        this about 15% of the writer's time. The lists are still fresh copies, so changing a row
        (fit_task_row cuts outputs) never changes the task.
        """
        row = {name: getattr(self, name) for name in _ROW_FIELDS}  # in field order, as asdict
        row["file_names"] = list(self.file_names)
        row["concepts"] = list(self.concepts)
        row["solution"] = [{"thought": s.thought, "python_code": s.python_code, "code_output": s.code_output,
                            "label": s.label} for s in self.solution]
        row["answers"] = [{"name": a.name, "value": a.value, "place": a.place} for a in self.answers]
        row["data_files"] = [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.data_files]
        row["cells"] = list(self.cells)
        return row


_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(Task) if f.name != "drop_reason")


@dataclass
class DataFile:
    """A data file stored once by content."""

    sha256: str
    size: int
    content: bytes
    paths: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Arrow schemas: the single source of truth for what is written.

SOLUTION_STEP_TYPE = pa.struct(
    [
        ("thought", pa.string()),
        ("python_code", pa.string()),
        ("code_output", pa.string()),
        ("label", pa.string()),
    ]
)

TASK_SCHEMA = pa.schema(
    [
        # NbQA fields, in the order of the original dataset
        ("task", pa.string()),
        ("file_names", pa.list_(pa.string())),
        ("concepts", pa.list_(pa.string())),
        ("difficulty", pa.string()),
        ("constraints", pa.string()),
        ("format", pa.string()),
        ("answer", pa.string()),
        ("label", pa.string()),
        ("solution", pa.list_(SOLUTION_STEP_TYPE)),
        ("github_repo", pa.string()),
        ("ipynb_name", pa.string()),
        # ours
        ("id", pa.string()),
        ("answers", pa.list_(pa.struct([("name", pa.string()), ("value", pa.string()), ("place", pa.string())]))),
        (
            "data_files",
            pa.list_(pa.struct([("path", pa.string()), ("sha256", pa.string()), ("size", pa.int64())])),
        ),
        ("deps_complete", pa.bool_()),
        ("executable", pa.bool_()),
        ("deterministic", pa.bool_()),
        ("verified", pa.bool_()),
        ("is_visualization", pa.bool_()),
        ("category", pa.string()),
        ("source", pa.string()),
        ("commit", pa.string()),
        ("license", pa.string()),
        ("url", pa.string()),
        ("extractor_backend", pa.string()),
        ("extractor_model", pa.string()),
        ("prompt_version", pa.string()),
        ("builder_version", pa.string()),
        ("cells", pa.list_(pa.int32())),
        ("question_kind", pa.string()),
        ("reference_code", pa.string()),
        ("reference_agrees", pa.bool_()),
        ("solver_agrees", pa.bool_()),
        ("solver_answer", pa.string()),
        ("not_interactive", pa.string()),
        ("reference_checked", pa.bool_()),
        ("chart_image", pa.string()),
    ]
)

FILE_SCHEMA = pa.schema(
    [
        ("sha256", pa.string()),
        ("size", pa.int64()),
        ("content", pa.binary()),
        ("paths", pa.list_(pa.string())),
        # where the file came from (`owner/name@commit:path`, or the URL a crawl fetched it from)
        # and under which license; several when several repositories hold the same content
        ("origins", pa.list_(pa.struct([("source", pa.string()), ("license", pa.string())]))),
    ]
)

REJECT_SCHEMA = pa.schema(
    [
        ("notebook_id", pa.string()),
        ("repo", pa.string()),
        ("path", pa.string()),
        ("step", pa.string()),
        ("drop_reason", pa.string()),
    ]
)


def tasks_to_table(tasks: list[Task]) -> pa.Table:
    """Rows in the one task schema; a row that does not fit is an error, never a silent cast."""
    return pa.Table.from_pylist([t.to_row() for t in tasks], schema=TASK_SCHEMA)


def task_from_row(row: dict[str, Any]) -> Task:
    """The inverse of `Task.to_row` for rows read back from shards."""
    row = dict(row)
    row["solution"] = [SolutionStep(**s) for s in row.get("solution") or []]
    row["answers"] = [Answer(a["name"], a["value"], a.get("place") or "") for a in row.get("answers") or []]
    row["data_files"] = [TaskFile(**f) for f in row.get("data_files") or []]
    known = {f.name for f in dataclasses.fields(Task)}
    return Task(**{k: v for k, v in row.items() if k in known})


# ---------------------------------------------------------------------------------------------
# JSON Schemas of the rows, derived from the Arrow schemas; `schemas/*.json` hold them for readers
# in other languages, and tests/test_records.py keeps the files equal to what this gives.


def _json_type(arrow_type: pa.DataType) -> dict[str, Any]:
    if pa.types.is_string(arrow_type):
        return {"type": ["string", "null"]}
    if pa.types.is_binary(arrow_type):
        return {"type": ["string", "null"], "contentEncoding": "base64"}
    if pa.types.is_boolean(arrow_type):
        return {"type": ["boolean", "null"]}
    if pa.types.is_integer(arrow_type):
        return {"type": ["integer", "null"]}
    if pa.types.is_floating(arrow_type):
        return {"type": ["number", "null"]}
    if pa.types.is_list(arrow_type):
        return {"type": ["array", "null"], "items": _json_type(arrow_type.value_type)}
    if pa.types.is_struct(arrow_type):
        return {
            "type": ["object", "null"],
            "properties": {f.name: _json_type(f.type) for f in arrow_type},
            "additionalProperties": False,
        }
    raise TypeError(f"no JSON Schema type for {arrow_type}")


def json_schema(schema: pa.Schema, title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": {f.name: _json_type(f.type) for f in schema},
        "required": list(schema.names),
        "additionalProperties": False,
    }


JSON_SCHEMAS = {"task": (TASK_SCHEMA, "NbQA task"), "file": (FILE_SCHEMA, "Data file"), "reject": (REJECT_SCHEMA, "Rejected notebook")}
