"""The offline extractor: tasks from cells whose stored output is a small value.

A code cell becomes a task when its last statement is an expression (or `print(expr)`) whose stored
output is a scalar (number, boolean, short string), and its backward slice reads a data file. The
question is templated from the expression (`df["price"].mean()` -> "the mean of `price`"), the
label comes from the stored output, and the solution is the slice's cells with their stored outputs.
Nothing is invented: code and outputs are the notebook's own.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from nbqa_builder.extract.concepts import SUMMARY, concepts_of
from nbqa_builder.extract.slicer import cell_names, slice_cells
from nbqa_builder.notebooks.code import call_names, dotted_name, notebook_trees
from nbqa_builder.notebooks.parse import output_text
from nbqa_builder.records import FOUND, URL, Answer, DataRef, Notebook, SolutionStep, Task, TaskFile

# method -> (short name for the answer, description with {col})
OPERATIONS: dict[str, tuple[str, str]] = {
    "mean": ("mean", "the mean of {col}"),
    "median": ("median", "the median of {col}"),
    "sum": ("sum", "the sum of {col}"),
    "std": ("std", "the standard deviation of {col}"),
    "var": ("var", "the variance of {col}"),
    "min": ("min", "the minimum of {col}"),
    "max": ("max", "the maximum of {col}"),
    "count": ("count", "the number of non-missing values of {col}"),
    "nunique": ("nunique", "the number of distinct values of {col}"),
    "skew": ("skew", "the skewness of {col}"),
    "kurt": ("kurtosis", "the kurtosis of {col}"),
    "kurtosis": ("kurtosis", "the kurtosis of {col}"),
    "idxmax": ("idxmax", "the index label of the largest value of {col}"),
    "idxmin": ("idxmin", "the index label of the smallest value of {col}"),
    "sem": ("sem", "the standard error of the mean of {col}"),
    "prod": ("product", "the product of {col}"),
}
_WRAPPED_NUMBER = re.compile(r"^(?:np|numpy)\.(?:float|int|uint|bool_)\w*\((.*)\)$")
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$")
MAX_OUTPUT_CHARS = 2000


@dataclass
class Value:
    kind: str  # int | float | bool | str
    text: str  # the stored output, unwrapped
    label: str  # the value as it goes into @name[...]
    rule: str  # how the format asks for it


def parse_value(text: str, max_chars: int) -> Value | None:
    """A scalar shown by Python, or None for anything else (tables, series, long text)."""
    text = text.strip()
    wrapped = _WRAPPED_NUMBER.match(text)
    if wrapped:
        text = wrapped.group(1).strip()
    if not text or "\n" in text or len(text) > max_chars:
        return None
    if text in ("True", "False"):
        return Value("bool", text, text, "value is True or False")
    if _INT.match(text):
        return Value("int", text, text, "value is an integer")
    if _FLOAT.match(text):
        number = float(text)
        if number != number or abs(number) == float("inf"):
            return None
        if number != 0 and abs(number) < 0.01:
            return Value("float", text, f"{number:.3g}", "value is a number with three significant digits")
        decimals = len(text.split(".")[1]) if "." in text and "e" not in text.lower() else 0
        places = min(decimals, 2) if decimals else 2
        return Value("float", text, f"{number:.{places}f}", f"value is a number rounded to {places} decimal places")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        inner = text[1:-1]
        if inner and "[" not in inner and "]" not in inner:
            return Value("str", text, inner, "value is a string")
    return None


def _column(node: ast.AST) -> str | None:
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    if isinstance(node, ast.Attribute) and node.attr not in OPERATIONS:
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def describe(expr: ast.AST) -> tuple[str, str]:
    """(answer name, description) for an expression; a generic pair when no template fits."""
    if isinstance(expr, ast.Call) and dotted_name(expr.func) == "round" and expr.args:
        expr = expr.args[0]
    if isinstance(expr, ast.Call) and dotted_name(expr.func) == "len" and expr.args:
        return "row_count", "the number of rows"
    if (isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Attribute) and expr.value.attr == "shape"
            and isinstance(expr.slice, ast.Constant) and expr.slice.value in (0, 1)):
        return ("row_count", "the number of rows") if expr.slice.value == 0 else ("column_count", "the number of columns")
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        method, receiver = expr.func.attr, expr.func.value
        inner = receiver.func if isinstance(receiver, ast.Call) else None
        if method in ("idxmax", "idxmin") and isinstance(inner, ast.Attribute) and inner.attr == "value_counts":
            col = _column(inner.value) or "the column"
            return _name("most_common" if method == "idxmax" else "least_common", col), f"the most frequent value of `{col}`" if method == "idxmax" else f"the least frequent value of `{col}`"
        if method == "sum" and isinstance(inner, ast.Attribute) and inner.attr in ("isnull", "isna"):
            col = _column(inner.value) or "the data"
            return _name("missing", col), f"the number of missing values in `{col}`"
        if method == "corr" and expr.args:
            a, b = _column(receiver) or "x", _column(expr.args[0]) or "y"
            return _name("corr", f"{a}_{b}"), f"the Pearson correlation between `{a}` and `{b}`"
        if method == "quantile" and expr.args and isinstance(expr.args[0], ast.Constant):
            col = _column(receiver) or "the column"
            return _name(f"quantile_{expr.args[0].value}", col), f"the {expr.args[0].value} quantile of `{col}`"
        if method in OPERATIONS:
            col = _column(receiver)
            short, template = OPERATIONS[method]
            return _name(short, col or ""), template.format(col=f"`{col}`" if col else "the values")
    source = ast.unparse(expr)
    return "value", f"the value of `{source[:80]}`"


def _name(*parts: str) -> str:
    return re.sub(r"\W+", "_", "_".join(p for p in parts if p)).strip("_").lower()[:48] or "value"


def final_expression(tree: ast.Module) -> ast.AST | None:
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    expr = tree.body[-1].value
    if isinstance(expr, ast.Call) and dotted_name(expr.func) == "print" and len(expr.args) == 1:
        return expr.args[0]
    return expr


def displayed_text(outputs: list[dict]) -> str | None:
    """The result a cell showed: its execute_result, else its only stdout line."""
    for output in outputs:
        if output.get("output_type") == "execute_result":
            return output_text(output)
    streams = [output_text(o) for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"]
    return streams[0] if len(streams) == 1 else None


def outputs_text(outputs: list[dict]) -> str:
    parts = []
    for output in outputs:
        text = output_text(output)
        if text is not None:
            parts.append(text)
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
        elif any(k.startswith("image/") for k in (output.get("data") or {})):
            parts.append("<image>")
    text = "".join(p if p.endswith("\n") else p + "\n" for p in parts).rstrip("\n")
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n... [output truncated]"


def markdown_before(notebook: Notebook, index: int) -> str | None:
    if index > 0 and notebook.cells[index - 1].cell_type == "markdown":
        for line in notebook.cells[index - 1].source.splitlines():
            line = line.strip().lstrip("#").strip()
            if line:
                return line[:300]
    return None


def _task_file_path(as_written: str) -> str | None:
    """Where the code expects the file, relative to the notebook; None when it can't be placed."""
    path = as_written.replace("\\", "/")
    if "://" in path or path.startswith("/") or re.match(r"^[A-Za-z]:/", path):
        return None
    parts = PurePosixPath(path).parts
    normalised = [p for p in parts if p not in (".", "")]
    return "/".join(normalised) or None


def extract_tasks(notebook: Notebook, max_tasks: int, max_value_chars: int) -> list[Task]:
    # candidates first, from the stored outputs alone: most cells show no scalar, and a notebook
    # without one needs no parsing at all
    candidates = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell.outputs:
            shown = displayed_text(cell.outputs)
            value = parse_value(shown, max_value_chars) if shown is not None else None
            if value is not None:
                candidates.append((index, value))
    if not candidates or not notebook.data_refs:
        return []
    trees = notebook_trees(notebook)
    names = [cell_names(trees[i]) for i in range(candidates[-1][0] + 1)]  # slices look backwards only
    refs_by_cell: dict[int, list] = {}
    for ref in notebook.data_refs:
        refs_by_cell.setdefault(ref.cell, []).append(ref)
    calls_by_cell: dict[int, list[str]] = {}  # the tasks of a notebook share most of their cells
    tasks: list[Task] = []
    seen: set[tuple[str, str]] = set()
    for index, value in candidates:
        if len(tasks) >= max_tasks:
            break
        tree = trees[index]
        expr = final_expression(tree) if tree is not None else None
        if expr is None:
            continue
        cells = slice_cells(names, index)
        refs = [ref for i in cells for ref in refs_by_cell.get(i, [])]
        if not refs:
            continue  # not an analysis of a data file
        name, description = describe(expr)
        if (name, value.label) in seen:
            continue
        seen.add((name, value.label))
        for i in cells:
            if i not in calls_by_cell:
                calls_by_cell[i] = call_names(trees[i]) if trees[i] is not None else []
        calls = [call for i in cells for call in calls_by_cell[i]]
        tasks.append(_make_task(notebook, cells, refs, expr, name, description, value, calls))
    return tasks


def task_files(refs: list[DataRef]) -> tuple[list[str], list[TaskFile], bool]:
    """(file names, data files, deps complete) of a task whose solution makes these data refs."""
    file_names = sorted({PurePosixPath((r.resolved or r.as_written).replace("\\", "/")).name for r in refs})
    data_files, complete = [], True
    for ref in refs:
        path = _task_file_path(ref.as_written)
        if ref.status == FOUND and path and ref.sha256:
            if all(f.path != path for f in data_files):
                data_files.append(TaskFile(path=path, sha256=ref.sha256, size=ref.size or 0))
        else:
            complete = False
    return file_names, data_files, complete


def _make_task(notebook, cells, refs, expr, name, description, value, calls) -> Task:
    file_names, data_files, complete = task_files(refs)
    files_text = " and ".join(f"`{f}`" for f in file_names)
    concepts = concepts_of(call_names(expr) + calls) or [SUMMARY]
    steps = []
    for position, i in enumerate(cells, 1):
        cell = notebook.cells[i]
        thought = markdown_before(notebook, i) or (
            f"Load the data from {files_text}." if position == 1 else f"Step {position}: continue the analysis."
        )
        steps.append(SolutionStep(thought=thought, python_code=cell.source, code_output=outputs_text(cell.outputs)))
    label = f"@{name}[{value.label}]"
    steps.append(SolutionStep(thought=f"The result is {value.text}, so the answer is {value.label}.", label=label))
    task = Task(
        task=f"Using {files_text}, what is {description}?",
        file_names=file_names,
        concepts=concepts,
        difficulty="easy" if len(cells) <= 2 else "medium" if len(cells) <= 4 else "hard",
        constraints=(
            f"Read the data from {files_text} and prepare it as the notebook does "
            f"({', '.join(concepts)}) before computing {description}. "
            + ("Data that the notebook fetches from a URL is not provided." if any(r.status == URL for r in refs) else "")
        ).strip(),
        format=f"@{name}[value] where {value.rule}.",
        answer=value.text,
        label=label,
        solution=steps,
        github_repo=notebook.repo,
        ipynb_name=notebook.path,
        answers=[Answer(name=name, value=value.label)],
        data_files=data_files,
        deps_complete=complete,
        category=concepts[0],
        source=notebook.notebook_id,
        commit=notebook.commit,
        license=notebook.license,
        url=notebook.url,
        extractor_backend="heuristic",
        cells=list(cells),
    )
    task.assign_id()
    return task
