"""Python code of notebook cells as ASTs, parsed once per cell.

Notebook cells are IPython, not Python: `%magic`, `!shell`, `obj?` and `%%cell` magics are
replaced by `pass` lines of the same indentation (so line numbers stay right) before `ast.parse`.
A cell that still does not parse (Python 2 `print x`, say) gives None: callers treat it as opaque.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from nbqa_builder.records import Cell, Notebook

# cell magics whose body is still Python
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_SHELL_LINE = re.compile(r"^(\s*)(?:[%!]|\w+\s*=\s*[%!])")
_HELP_LINE = re.compile(r"^(\s*)[\w.\[\]'\"]+\?\??\s*$")


def ipython_to_python(source: str) -> str | None:
    """Python source equivalent enough for static analysis, or None for non-Python cells."""
    if "%" not in source and "!" not in source and "?" not in source:
        return source  # no magic, shell or help line can be there
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(None, 1)
        if not magic or magic[0] not in _PYTHON_CELL_MAGICS:
            return None
        lines = ["pass"] + lines[1:]
    out = []
    for line in lines:
        match = _SHELL_LINE.match(line) or _HELP_LINE.match(line)
        out.append(f"{match.group(1)}pass" if match else line)
    return "\n".join(out)


# CPython before 3.11.8 and 3.12.1 can fail `ast.parse` run in several threads at once
# ("SystemError: AST constructor recursion depth mismatch", gh-106905), and warnings.catch_warnings
# is not thread-safe: the LLM extractor parses cells from its worker threads, so every parse of
# the package holds this lock (parsing is CPU work under the GIL: nothing is lost).
_PARSE_LOCK = threading.Lock()


def parse_python(source: str, mode: str = "exec") -> ast.AST:
    """`ast.parse`, one thread at a time, without the warnings old code gives (invalid escapes)."""
    with _PARSE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, mode=mode)


def parse_cell(source: str) -> ast.Module | None:
    python = ipython_to_python(source)
    if python is None:
        return None
    try:
        return parse_python(python)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def parse_cells(cells: list[Cell]) -> list[ast.Module | None]:
    """One AST (or None) per cell, markdown and raw cells included as None, same indices."""
    return [parse_cell(cell.source) if cell.cell_type == "code" else None for cell in cells]


class LazyTrees(Sequence):
    """One AST (or None) per cell, parsed on first access: parsing is most of the cost of the
    code checks, and many checks need only a few cells (those that mention a reading call)."""

    _UNPARSED = object()

    def __init__(self, cells: list[Cell]) -> None:
        self._cells = cells
        self._trees: list[Any] = [self._UNPARSED] * len(cells)

    def __len__(self) -> int:
        return len(self._cells)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        tree = self._trees[index]
        if tree is self._UNPARSED:
            cell = self._cells[index]
            tree = self._trees[index] = parse_cell(cell.source) if cell.cell_type == "code" else None
        return tree


def notebook_trees(notebook: Notebook) -> LazyTrees:
    """The notebook's cell ASTs, parsed lazily and cached on the record for later steps."""
    trees = notebook.cache.get("trees")
    if trees is None or len(trees) != len(notebook.cells):
        trees = notebook.cache["trees"] = LazyTrees(notebook.cells)
    return trees


def dotted_name(node: ast.AST) -> str | None:
    """`pd.read_csv` for `Attribute(Name('pd'), 'read_csv')`; None for anything not a plain chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


# fields that hold no code: names, flags, expression contexts (Load/Store), import aliases
_LEAF_FIELDS = frozenset(("ctx", "id", "attr", "arg", "kind", "type_comment", "names", "module", "level",
                          "conversion", "is_async", "asname", "name"))
_CODE_FIELDS: dict[type, tuple[str, ...]] = {}  # AST class -> its fields that may hold code


def code_fields(kind: type) -> tuple[str, ...]:
    """The fields of AST class `kind` that can hold code (not names, flags or contexts)."""
    fields = _CODE_FIELDS.get(kind)
    if fields is None:
        fields = _CODE_FIELDS[kind] = tuple(f for f in kind._fields if f not in _LEAF_FIELDS)
    return fields


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """`list(ast.iter_child_nodes(node))`, less the leaves that hold no code, without generators."""
    children = []
    for name in code_fields(type(node)):
        value = getattr(node, name, None)
        if type(value) is list:
            children += [item for item in value if isinstance(item, ast.AST)]
        elif isinstance(value, ast.AST):
            children.append(value)
    return children


def walk(tree: ast.AST) -> list[ast.AST]:
    """The nodes of `ast.walk(tree)`, in the same order, less the leaves that hold no code
    (expression contexts, import aliases). Faster: no generators, and per class only the fields
    that can hold code are read."""
    nodes = [tree]
    for node in nodes:  # grows while it is read: breadth first, as ast.walk
        nodes += child_nodes(node)
    return nodes


def call_names(node: ast.AST) -> list[str]:
    """The names of the functions called in `node` (`pd.read_csv`, or the method's name)."""
    return [dotted_name(n.func) or getattr(n.func, "attr", "") for n in walk(node) if type(n) is ast.Call]
