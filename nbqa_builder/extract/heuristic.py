"""The offline extractor: tasks from cells that show a value, each built from a task spec.

A code cell is a candidate when what it shows (its result, or what it prints) is one value, or a
short Series (`describe()`, a `groupby` result: several answers). Its backward slice is read by
extract/interpret.py into a spec: the data file, every preparation step in order, the statistic.
The spec is rendered twice (extract/spec/, extract/statistics/): as a self-contained question
that names every step, and as a reference program that `verify` runs on the files alone. The label
is the notebook's own stored value; the solution is the slice's cells with their stored outputs.
Nothing is invented, and a candidate the spec cannot state is dropped with its reason.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import re
from pathlib import Path, PurePosixPath

from nbqa_builder.answers import EXACT, Rounding, render_answers
from nbqa_builder.extract import spec as S
from nbqa_builder.extract import statistics as T
from nbqa_builder.extract.charts import (
    chart_call, chart_concepts, chart_kind_name, chart_program, chart_text, plotted_tree, stored_image,
)
from nbqa_builder.extract.concepts import (
    CORRELATION, DISTRIBUTION, FEATURES, MACHINE_LEARNING, OUTLIERS, PREPROCESSING, SUMMARY, VISUALIZATION,
)
from nbqa_builder.extract.degenerate import degenerate_reason
from nbqa_builder.extract.descriptions import (
    UNRENDERABLE_PREPROCESSING, UNRENDERABLE_STATISTIC, FrameV, SeriesV, snippet, thawed,
)
from nbqa_builder.extract.grounding import (
    RESULT, Scalar, answer_field, ground_answers, has_image, line_value, read_scalar, series_entries, unwrapped,
)
from nbqa_builder.extract.inline_tables import inline_tables
from nbqa_builder.extract.interpret import MAX_GROUPS, Reading, read_slice
from nbqa_builder.extract.models import ModelMetric
from nbqa_builder.extract.tables import Plan, table_plan
from nbqa_builder.extract.slicer import cell_names, slice_cells
from nbqa_builder.notebooks.code import notebook_trees
from nbqa_builder.notebooks.parse import output_text, outputs_as_text, truncate_text
from nbqa_builder.records import FOUND, INLINE, Answer, DataRef, Notebook, SolutionStep, Task, TaskFile, code_path

log = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 2000
NO_DATA_FILE = "no_data_file"
# a name a question can give a file by: `sales.csv`, not `data?id=3` nor a bare host
_FILE_NAME = re.compile(r"^[\w\-. ]+\.[A-Za-z0-9]{1,8}$")


def displayed_text(outputs: list[dict]) -> str | None:
    """What a cell showed as its result: its execute_result, else the value of the one line it
    printed (`mean: 5.41` shows 5.41)."""
    for output in outputs:
        if output.get("output_type") == "execute_result":
            return output_text(output)
    streams = [output_text(o) for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"]
    if len(streams) != 1 or len(streams[0].strip().splitlines()) != 1:
        return None
    return line_value(streams[0])


def outputs_text(outputs: list[dict]) -> str:
    """A cell's outputs as a solution step shows them, cut (after redaction) at 2,000 characters."""
    return truncate_text(outputs_as_text(outputs), MAX_OUTPUT_CHARS)


def markdown_before(notebook: Notebook, index: int) -> str | None:
    if index > 0 and notebook.cells[index - 1].cell_type == "markdown":
        for line in notebook.cells[index - 1].source.splitlines():
            line = line.strip().lstrip("#").strip()
            if line:
                return line[:300]
    return None


# -- what a cell shows ----------------------------------------------------------------------------


def shown_value(text: str) -> Scalar | dict[str, Scalar] | None:
    """One value, or label -> value of a short Series; None for anything else."""
    scalar = read_scalar(text)
    if scalar is not None:
        return scalar
    entries = series_entries(text)
    if entries and len(entries) <= MAX_GROUPS:
        values = {label: read_scalar(value) for label, value in entries.items()}
        if all(v is not None and v.kind in ("int", "float") for v in values.values()):
            return values  # type: ignore[return-value]
    return None


def rounding_of(text: str, value: Scalar) -> Rounding:
    """The rounding a label asks for, from how the notebook showed the number: integers stay
    integers, small numbers keep three significant digits, others up to two decimals."""
    if value.kind == "int":
        return Rounding("decimals", 0)
    if value.kind != "float":
        return EXACT
    number = float(value.value)
    if number != 0 and abs(number) < 0.01:
        return Rounding("significant", 3)
    digits = unwrapped(text)
    decimals = len(digits.split(".")[1]) if "." in digits and "e" not in digits.lower() else 0
    return Rounding("decimals", min(decimals, 2) if decimals else 2)


def _label_value(value: Scalar, rounding: Rounding) -> str:
    if value.kind in ("int", "float"):
        return rounding.apply(value.value)
    return str(value.value)


def _value_rule(value: Scalar, rounding: Rounding) -> str:
    if value.kind == "bool":
        return "True or False"
    if value.kind == "str":
        return "a text value, written exactly as it appears in the data, without quotes"
    return rounding.describe()


def _printer(value: Scalar, rounding: Rounding, name: str, variable: str = "value") -> str:
    if value.kind in ("int", "float") and rounding.kind == "decimals":
        return f"@{name}[{{{variable}:.{rounding.digits}f}}]"
    if value.kind in ("int", "float") and rounding.kind == "significant":
        return f"@{name}[{{{variable}:.{rounding.digits}g}}]"
    return f"@{name}[{{{variable}}}]"


# -- the task -------------------------------------------------------------------------------------


def task_files(refs: list[DataRef]) -> tuple[list[str], list[TaskFile], bool]:
    """(file names, data files, deps complete) of a task whose solution makes these data refs."""
    file_names = sorted({PurePosixPath((r.resolved or r.as_written).replace("\\", "/")).name for r in refs})
    data_files, complete = [], True
    for ref in refs:
        path = code_path(ref.as_written)
        if ref.status == FOUND and path and ref.sha256:
            if all(f.path != path for f in data_files):
                data_files.append(TaskFile(path=path, sha256=ref.sha256, size=ref.size or 0))
        else:
            complete = False
    return file_names, data_files, complete


def slice_refs(notebook: Notebook, cells: list[int], stat: T.Statistic) -> list[DataRef]:
    """The data files of a task on these cells: every file its cells read (the solution runs
    them), and the tables they type in that the question reads (extract/inline_tables.py; a cell
    that types in three tables ships only those the statistic's frames read)."""
    chosen = set(cells)
    return question_refs([ref for ref in notebook.data_refs
                          if any(site[0] in chosen for site in ref.sites) or ref.cell in chosen], stat)


def question_refs(refs, stat: T.Statistic) -> list[DataRef]:
    """These data refs less the typed-in tables the statistic does not read."""
    read = {name for frame in stat.frames() for name in frame.files()}
    return [ref for ref in refs if ref.kind != INLINE or ref.as_written in read]


def file_header(notebook: Notebook):
    """The columns a read of one of the notebook's files gives (its header: no rows are read), or
    None; each read once per notebook (the slices of its cells share `notebook.cache`)."""
    headers = notebook.cache.setdefault("headers", {})

    def header(ref: DataRef, reader: str, options: tuple) -> list[str] | None:
        key = (ref.resolved, reader, options)
        if key not in headers:
            headers[key] = _read_header(ref.source(notebook.repo_dir) if ref.status == FOUND else None, reader, options)
        return headers[key]

    return header


def _read_header(path: Path | None, reader: str, options: tuple) -> list[str] | None:
    # text files only: a header line is read, where a crawled workbook would be parsed whole here,
    # outside the sandbox
    if path is None or not path.is_file() or reader not in ("read_csv", "read_table"):
        return None
    import pandas as pd  # (only notebooks that read columns by position come here)

    try:
        read = getattr(pd, reader)(path, nrows=0, **{key: thawed(value) for key, value in options})
        return [str(c) for c in read.columns]
    except Exception:  # noqa: BLE001 - a file pandas cannot read this way names no column
        return None


def pruned(stat: T.Statistic) -> T.Statistic:
    """The statistic over frames without the steps that cannot change it (`Frame.pruned`)."""
    if isinstance(stat, T.Round):
        return dataclasses.replace(stat, inner=pruned(stat.inner))
    if isinstance(stat, (T.EntryExtreme, T.EntriesWhere)):
        return dataclasses.replace(stat, series=pruned(stat.series))
    if isinstance(stat, T.Combine):
        sides = [pruned(s) if isinstance(s, T.Statistic) else s for s in (stat.left, stat.right)]
        return dataclasses.replace(stat, left=sides[0], right=sides[1])
    if isinstance(stat, ModelMetric):
        split = stat.split
        return dataclasses.replace(stat, split=dataclasses.replace(split, frame=split.frame.pruned(stat.columns())))
    frame = getattr(stat, "frame", None)
    if frame is None:
        return stat
    labels = not isinstance(stat, LABEL_FREE_STATISTICS)
    return dataclasses.replace(stat, frame=frame.pruned(stat.columns(), labels=labels))


# statistics whose value never depends on the row labels (`Frame.pruned`'s `labels`): aggregates
# of columns, counts, and a Series whose labels are the column names
LABEL_FREE_STATISTICS = (T.Agg, T.RowCount, T.ColumnCount, T.MissingCount, T.MissingPerColumn, T.FrameAgg,
                         T.TableTotal)


def _nodes(node):
    """Every spec node under `node` (dataclass fields, tuples), `node` included."""
    yield node
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            yield from _nodes(getattr(node, field.name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _nodes(item)


def outlier_rule(stat: T.Statistic, frame: S.Frame) -> bool:
    """Whether the statistic counts the rows a rule of outliers picks: a condition against the
    IQR fences (built from the 0.25 and 0.75 quantiles) or on a z-score (a deviation from the mean
    divided by the standard deviation)."""
    if stat.kind not in ("count_where", "row_count", "share_where"):
        return False
    conds = [n for n in _nodes((stat, frame.ops)) if isinstance(n, (S.Compare, S.Between))]
    derived = {op.name: op.value for op in frame.ops if isinstance(op, S.SetColumn)}  # `df["z"] = ...`
    for cond in conds:
        tested = [cond] + [derived[c] for c in cond.columns() if c in derived]
        for node in _nodes(tuple(tested)):
            if isinstance(node, T.Agg) and node.method == "quantile" and node.q in (0.25, 0.75):
                return True
            if isinstance(node, S.Arith) and node.op == "/" and isinstance(node.right, S.StatRef) \
                    and isinstance(node.right.stat, T.Agg) and node.right.stat.method == "std":
                return True
    return False


def concepts_for(stat: T.Statistic, frame: S.Frame) -> list[str]:
    kind = stat.kind
    features = [FEATURES] if any(isinstance(op, S.SetColumn) for op in frame.ops) else []
    if kind == "model_metric":
        return [MACHINE_LEARNING] + features
    if outlier_rule(stat, frame):
        return [OUTLIERS, PREPROCESSING] + features
    concepts = [CORRELATION if kind in ("correlation", "strongest_correlation") else
                DISTRIBUTION if kind in ("quantile", "skew", "kurt", "most_common", "describe", "text_describe", "share_where",
                                         "value_counts", "top_values") else SUMMARY]
    if any(isinstance(op, (S.FilterRows, S.DropNA, S.FillNA, S.DropDuplicates, S.Rename, S.Merge, S.SetColumns))
           for op in frame.ops):
        concepts.append(PREPROCESSING)
    return concepts + features


def question(stat: T.Statistic, frame: S.Frame) -> tuple[str, str]:
    """(task, constraints): the question names every step; the constraints pin the method down."""
    files = " and ".join(S.column(name) for name in frame.files())
    steps = frame.steps()
    asked = stat.text()
    verb = "are" if getattr(stat, "plural", False) else "is"
    if steps:
        text = f"Using {files}: " + " ".join(f"{step}." for step in steps) + f" Then, what {verb} {asked}?"
    else:
        text = f"Using {files}, what {verb} {asked}?"
    notes = ["Read each file with pandas' default settings unless a step says otherwise."]
    if steps:
        notes.append("Apply the steps in the order given.")
    notes += stat.notes()
    return text, " ".join(dict.fromkeys(notes))


def _one_frame(stat: T.Statistic) -> S.Frame | None:
    frames = list(dict.fromkeys(stat.frames()))
    return frames[0] if len(frames) == 1 else None


def build_task(notebook: Notebook, cells: list[int], reading: Reading, shown: str | None, max_value_chars: int,
               plan: Plan | None = None) -> Task:
    """The task for the statistic the answer cell (the last of `cells`) shows as `shown`, or for
    the values a `plan` picks out of a table it shows (extract/tables.py); a task with
    `drop_reason` set when it cannot be asked exactly."""
    stat = pruned(plan.stat if plan is not None else reading.stat)
    frame = _one_frame(stat)
    file_names, data_files, complete = task_files(slice_refs(notebook, cells, stat))
    task = Task(task="", file_names=file_names, concepts=[SUMMARY], difficulty="easy", constraints="", format="",
                answer="", label="", solution=[], github_repo=notebook.repo, ipynb_name=notebook.path,
                data_files=data_files, deps_complete=complete, source=notebook.notebook_id, commit=notebook.commit,
                license=notebook.license, url=notebook.url, extractor_backend="heuristic", cells=list(cells),
                question_kind=stat.kind)
    used = question_refs(reading.refs, stat)
    spec_files = {(ref.resolved or ref.as_written) for ref in used}
    placed = {f.sha256 for f in data_files}
    absent = [ref for ref in used if ref.sha256 is None or ref.sha256 not in placed]
    if absent and not (notebook.not_interactive and all(_FILE_NAME.match(PurePosixPath(ref.resolved or ref.as_written).name)
                                                        for ref in absent)):
        # read from a URL or a missing file: the task's files cannot hold it. A notebook kept for
        # `sft` keeps the task where the question can still name the file (its tasks are
        # grounded in the stored outputs; `reference_checked` stays false)
        task.drop_reason = "data_file_not_local"
    elif (len({PurePosixPath(path).name for path in spec_files}) != len(spec_files)
            or len({PurePosixPath(f.path).name for f in data_files}) != len(data_files)):
        task.drop_reason = "ambiguous_file_names"  # the reference program finds its files by name
    elif opaque := S.opaque_step(stat.frames()):  # a column the question reads was set by code no text states
        task.drop_reason = f"{UNRENDERABLE_PREPROCESSING}: {opaque}"
    else:
        task.drop_reason = _build(task, notebook, cells, stat, frame, shown, max_value_chars, plan)
    task.assign_id()
    return task


def _build(task: Task, notebook: Notebook, cells: list[int], stat: T.Statistic, frame: S.Frame | None,
           shown: str | None, max_value_chars: int, plan: Plan | None = None) -> str | None:
    if frame is None:
        return "unrenderable_statistic"  # quantities over different tables: no one question
    value = shown_value(shown) if plan is None and shown is not None else None
    if plan is not None:
        made = _picked(plan, max_value_chars)
        if isinstance(made, str):
            return made
        pairs, printers, entry_names, rule = made
    elif value is None:
        return "not_a_value"
    elif isinstance(value, dict) != stat.multi():
        return "unrenderable_statistic"
    elif isinstance(value, dict):
        pairs, printers, entry_names, rule = _several(stat, value, shown)
        if pairs is None:
            return "unrenderable_statistic"
    else:
        rounding = rounding_of(shown, value)
        if isinstance(stat, T.Round) and value.kind in ("int", "float"):
            # round(x, n) in the notebook is what the format asks: the question needs no more
            rounding, stat = Rounding("decimals", stat.ndigits or 0), stat.inner
        label_value = _label_value(value, rounding)
        if len(label_value) > max_value_chars or "]" in label_value or "\n" in label_value:
            return "answer_too_long"
        name = stat.name()
        pairs, printers, entry_names = [(name, label_value)], [_printer(value, rounding, name)], None
        rule = f"@{name}[value] where value is {_value_rule(value, rounding)}."
    degenerate = degenerate_reason(stat, [value for _, value in pairs])
    if degenerate:
        return degenerate
    try:
        task.label = render_answers(pairs)
    except ValueError:
        return "invalid_answer_format"
    task.answers = [Answer(name, value) for name, value in pairs]
    if plan is not None:  # each answer at the place the plan read it from
        for answer, pick in zip(task.answers, plan.picks):
            answer.place = pick.place
    elif entry_names:  # each entry of the shown Series at its own label
        places = {name: f"{RESULT}[{label}]" for label, name in entry_names.items()}
        for answer in task.answers:
            answer.place = places[answer.name]
    task.answer = answer_field(task.answers)
    task.format = rule
    task.task, task.constraints = question(stat, frame)
    task.reference_code = T.program(stat, printers, entry_names)
    task.concepts = concepts_for(stat, frame)
    task.category = task.concepts[0]
    steps = len(frame.ops) + (1 if frame.source.options else 0)
    task.difficulty = "easy" if steps == 0 else "medium" if steps <= 2 else "hard"
    task.solution = _solution(notebook, cells, shown or "", task.label)
    return ground_answers(task.answers, task.format, notebook.cells[cells[-1]].outputs)


def _several(stat: T.Statistic, values: dict[str, Scalar], shown: str):
    """The answers of a Series the cell shows: one per entry, all rounded alike."""
    entries = series_entries(shown) or {}
    roundings = {rounding_of(entries[label], value) for label, value in values.items()}
    decimals = max((r.digits for r in roundings if r.kind == "decimals"), default=2)
    rounding = Rounding("decimals", decimals) if all(r.kind == "decimals" for r in roundings) else Rounding("significant", 3)
    pairs, entry_names = [], {}
    for label, value in values.items():
        name = stat.entry_name(label)  # type: ignore[attr-defined]
        if name is None or name in entry_names.values():
            return None, None, None, None
        entry_names[label] = name
        pairs.append((name, rounding.apply(value.value)))
    items = " ".join(f"@{name}[value]" for name, _ in pairs)
    rule = f"{items} where each value is {rounding.describe()}."
    printer = _printer(Scalar("float", 0.0), rounding, "{names[str(label)]}", "entry")
    return pairs, [printer], entry_names, rule


def _picked(plan: Plan, max_value_chars: int):
    """The answers a plan picks: (pairs, printers, None, format rule), or a drop reason."""
    pairs, printers, rules = [], [], []
    for pick in plan.picks:
        value = read_scalar(pick.shown)
        if value is None:
            return "not_a_value"
        rounding = rounding_of(pick.shown, value)
        label_value = _label_value(value, rounding)
        if len(label_value) > max_value_chars or "]" in label_value or "\n" in label_value:
            return "answer_too_long"
        pairs.append((pick.name, label_value))
        printers.append(_printer(value, rounding, pick.name, pick.code))
        rules.append(f"{pick.name} is {_value_rule(value, rounding)}")
    if len({name for name, _ in pairs}) != len(pairs):
        return "duplicate_answer_name"
    items = " ".join(f"@{name}[value]" for name, _ in pairs)
    return pairs, printers, None, f"{items} where " + "; ".join(rules) + "."


def _solution(notebook: Notebook, cells: list[int], shown: str, label: str) -> list[SolutionStep]:
    files_text = "the data"
    steps = []
    for position, index in enumerate(cells, 1):
        cell = notebook.cells[index]
        thought = markdown_before(notebook, index) or (
            f"Load {files_text}." if position == 1 else f"Step {position}: continue the analysis.")
        steps.append(SolutionStep(thought=thought, python_code=cell.source, code_output=outputs_text(cell.outputs)))
    result = shown.strip() if shown.strip() and "\n" not in shown.strip() else "shown above"
    steps.append(SolutionStep(thought=f"The result is {result}; as the format asks, the answer is {label}.", label=label))
    return steps


def shows_something(outputs: list[dict]) -> bool:
    """Whether a cell showed anything a task could be read from: a result, a display, or text it
    printed (warnings on stderr are not shown values)."""
    return any(o.get("output_type") in ("execute_result", "display_data")
               or (o.get("output_type") == "stream" and o.get("name") == "stdout") for o in outputs)


def output_kind(outputs: list[dict]) -> str:
    """What a cell that gives no task showed, for its drop reason."""
    if has_image(outputs):
        return "chart_output"
    for output in outputs:
        data = output.get("data") or {}
        if "text/html" in data and "<table" in "".join(data["text/html"]):
            return "table_output"
        if output.get("output_type") == "execute_result":
            text = output_text(output).strip()
            if series_entries(text) is not None or re.search(r"dtype: \w+$", text):  # (also a cut Series)
                return "long_series_output"
            return "table_output" if "\n" in text and not text.startswith(("[", "(", "{", "<")) else "not_a_value"
    return "printed_text"


def extract_tasks(notebook: Notebook, max_tasks: int, max_value_chars: int,
                  inline_folder: Path | None = None) -> list[Task]:
    """The notebook's tasks, kept and dropped (a dropped one has `drop_reason`): every cell that
    shows something gives a task or says why not. With `inline_folder`, the tables the notebook
    types in are written there as data files (extract/inline_tables.py) and analysed like files."""
    candidates = [(index, displayed_text(cell.outputs)) for index, cell in enumerate(notebook.cells)
                  if cell.cell_type == "code" and cell.outputs and shows_something(cell.outputs)]
    if not candidates:
        return []
    trees = notebook_trees(notebook)
    if not any(ref.kind == INLINE for ref in notebook.data_refs):  # (once: verify re-extracts nothing)
        notebook.data_refs += inline_tables(notebook, trees, inline_folder)
    if not notebook.data_refs:
        return [_dropped(notebook, [index], NO_DATA_FILE) for index, _ in candidates]
    names = [cell_names(trees[i]) for i in range(candidates[-1][0] + 1)]  # slices look backwards only
    read_cells = {site[0] for ref in notebook.data_refs for site in ref.sites} | {ref.cell for ref in notebook.data_refs}
    tasks: list[Task] = []
    seen: set[str] = set()
    for index, shown in candidates:
        cells = slice_cells(names, index)
        if not cells or not read_cells & set(cells):
            tasks.append(_dropped(notebook, cells or [index], NO_DATA_FILE))  # not an analysis of a data file
            continue
        try:
            task = _candidate_task(notebook, cells, shown, max_value_chars)
        except Exception as exc:  # noqa: BLE001 - code we never saw: one cell's failure is that cell's drop
            log.warning("%s cell %d: the spec reader failed: %r", notebook.uid, index, exc)
            task = _dropped(notebook, cells, "interpreter_error", type(exc).__name__)
        if task.drop_reason is None:
            if task.task in seen:  # the same question again (shown again, or rounded otherwise)
                task.drop_reason = "duplicate_task"
            else:
                seen.add(task.task)
        tasks.append(task)
    return _within_limit(_without_bare_reads(tasks), max_tasks)


def _within_limit(tasks: list[Task], max_tasks: int) -> list[Task]:
    """At most `max_tasks` kept, the mix as varied as the notebook allows: the first task of each
    kind comes before the second of any, and so on; in notebook order within each round."""
    kept = [task for task in tasks if task.drop_reason is None]
    if len(kept) <= max_tasks:
        return tasks
    seen: dict[str, int] = {}
    rounds = []
    for position, task in enumerate(kept):
        rounds.append((seen.get(task.question_kind, 0), position))
        seen[task.question_kind] = seen.get(task.question_kind, 0) + 1
    chosen = {position for _, position in sorted(rounds)[:max_tasks]}
    for position, task in enumerate(kept):
        if position not in chosen:
            task.drop_reason = "over_task_limit"
    return tasks


BARE_READ_KINDS = ("shape", "row_count", "column_count", "non_null_counts")


def _without_bare_reads(tasks: list[Task]) -> list[Task]:
    """A file's size, asked with no step beyond reading it, is dropped when the notebook gives a
    richer task: it teaches nothing the richer one does not."""
    kept = [t for t in tasks if t.drop_reason is None]
    bare = [t for t in kept if t.question_kind in BARE_READ_KINDS and t.difficulty == "easy"]
    if len(bare) < len(kept):
        for task in bare:
            task.drop_reason = "bare_read_beside_richer_task"
    return tasks


def _candidate_task(notebook: Notebook, cells: list[int], shown: str | None, max_value_chars: int) -> Task:
    """The task of one candidate cell (the last of `cells`), kept or dropped with its reason."""
    outputs = notebook.cells[cells[-1]].outputs
    value = shown_value(shown) if shown is not None else None
    # a chart: its cell shows an image and draws it last (what `plt.xlabel(...)` returns is no value)
    if has_image(outputs) and (value is None or chart_call(notebook_trees(notebook)[cells[-1]]) is not None):
        return chart_task(notebook, cells, notebook_trees(notebook))
    reading = read_slice(cells, notebook_trees(notebook), notebook.data_refs, notebook.cache.setdefault("defined", {}),
                         absent_files=bool(notebook.not_interactive), header=file_header(notebook))
    if reading.stat is not None and value is not None:
        return build_task(notebook, cells, reading, shown, max_value_chars)
    if reading.reason not in (None, UNRENDERABLE_STATISTIC):  # a step before the answer stopped it
        return _dropped(notebook, cells, reading.reason, reading.detail)
    plan = table_plan(reading.shown, outputs)
    if isinstance(plan, Plan):
        return build_task(notebook, cells, reading, shown, max_value_chars, plan)
    detail = reading.detail or (snippet(reading.last) if reading.last is not None else "")
    if plan is None and value is not None and not has_image(outputs):
        return _dropped(notebook, cells, reading.reason or UNRENDERABLE_STATISTIC, detail)
    return _dropped(notebook, cells, plan or output_kind(outputs), detail)


def chart_task(notebook: Notebook, cells: list[int], trees) -> Task:
    """The visualization task of the chart the last of `cells` draws (extract/charts.py); its
    label is set by `verify`. A chart the spec cannot state is dropped with its reason."""
    index = cells[-1]
    call = chart_call(trees[index])
    if call is None:
        return _dropped(notebook, cells, "unrenderable_chart", "not a plot call of a Series, or a keyword that picks the data")
    reading = _plotted_reading(notebook, cells, trees, call.series, call.statement)
    if call.kind == "scatter":
        stat = _scatter_stat(notebook, cells, trees, call, reading)
        if isinstance(stat, str):
            return _dropped(notebook, cells, "unrenderable_chart", stat)
        stat = pruned(stat)
    elif isinstance(reading.shown, SeriesV) and (call.kind == "hist" or reading.stat is None):
        stat = pruned(T.Plotted(reading.shown.frame, reading.shown.expr))  # a column, drawn row by row
    elif reading.stat is None:
        return _dropped(notebook, cells, reading.reason or "unrenderable_statistic", reading.detail)
    else:
        stat = pruned(reading.stat)
    frame = _one_frame(stat)
    if opaque := S.opaque_step(stat.frames()):
        return _dropped(notebook, cells, UNRENDERABLE_PREPROCESSING, opaque)
    if not isinstance(stat, (T.GroupAll, T.Plotted, T.PlottedPairs)) or frame is None:
        return _dropped(notebook, cells, "unrenderable_chart", f"plots {stat.kind}, not a column nor one value per group")
    file_names, data_files, complete = task_files(slice_refs(notebook, cells, stat))
    task = Task(task="", file_names=file_names, concepts=chart_concepts(), difficulty="medium", constraints="",
                format="", answer="", label="", solution=[], github_repo=notebook.repo, ipynb_name=notebook.path,
                data_files=data_files, deps_complete=complete, is_visualization=True, category=VISUALIZATION,
                source=notebook.notebook_id, commit=notebook.commit, license=notebook.license, url=notebook.url,
                extractor_backend="heuristic", cells=list(cells), question_kind=chart_kind_name(call.kind))
    if not complete:
        # its label comes from a re-run (verify's), which needs every file of the chart's cells
        task.drop_reason = f"chart_needs_rerun: {notebook.not_interactive}" if notebook.not_interactive else "data_file_not_local"
    else:
        task.task, task.constraints, task.format = chart_text(stat, frame, call.kind, call.bins)
        task.reference_code = chart_program(stat, call.kind, call.bins)
        task.chart_image = stored_image(notebook.cells[index].outputs)
        task.solution = _solution(notebook, cells, "a chart", "(the answers read off the chart)")
    task.assign_id()
    return task


def _plotted_reading(notebook: Notebook, cells: list[int], trees, shown: ast.expr, statement: int) -> Reading:
    """The slice read with what the chart draws as the answer cell's result."""
    plotted = {i: trees[i] for i in cells}
    plotted[cells[-1]] = plotted_tree(trees[cells[-1]], shown, statement)
    return read_slice(cells, plotted, notebook.data_refs, header=file_header(notebook))


def _scatter_stat(notebook: Notebook, cells: list[int], trees, call, reading: Reading) -> T.PlottedPairs | str:
    """The two columns a scatter plot draws, or why they cannot be stated."""
    if call.columns is not None:  # df.plot.scatter(x="a", y="b")
        if not isinstance(reading.shown, FrameV):
            return "a scatter plot of a table the spec cannot state"
        return T.PlottedPairs(reading.shown.frame, S.Col(call.columns[0]), S.Col(call.columns[1]))
    xs = _plotted_reading(notebook, cells, trees, call.x, call.statement).shown  # plt.scatter(xs, ys)
    ys = reading.shown
    if not (isinstance(xs, SeriesV) and isinstance(ys, SeriesV) and xs.frame == ys.frame):
        return "a scatter plot whose values are not two columns of one table"
    return T.PlottedPairs(ys.frame, xs.expr, ys.expr)


def _dropped(notebook: Notebook, cells: list[int], reason: str, detail: str = "") -> Task:
    """A candidate that gives no task; `detail` (the code the spec could not state) goes with the
    reason into `rejects/tasks.jsonl`."""
    task = Task(task="", file_names=[], concepts=[], difficulty="", constraints="", format="", answer="", label="",
                solution=[], github_repo=notebook.repo, ipynb_name=notebook.path, source=notebook.notebook_id,
                extractor_backend="heuristic", cells=list(cells), drop_reason=f"{reason}: {detail}" if detail else reason)
    task.assign_id()
    return task


