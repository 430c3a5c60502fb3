"""Backward slices over notebook cells: which earlier cells a cell needs.

A cell defines the names it binds (assignments, imports, def/class) and the names it mutates
(`df["x"] = ...`, `df.dropna(inplace=True)`, `items.append(x)` as a statement); it uses the names
it reads. The slice of cell t holds t and, going backwards, every cell that defines a name needed by
a cell already in the slice. Mutations count as definitions, so a cleaning step is kept with the
load it cleans.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable

from nbqa_builder.notebooks.code import child_nodes


# methods that change their receiver in place (lists, dicts, sets, and a few pandas/numpy ones)
MUTATING_METHODS = {
    "append", "extend", "insert", "pop", "remove", "clear", "update", "sort", "reverse", "add",
    "discard", "setdefault", "popitem", "fill", "resize", "shuffle", "seed", "set_axis", "rename_axis",
    "fit", "partial_fit", "set_params", "set_option",
}


@dataclass
class CellNames:
    defines: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)


def _base_name(node: ast.AST) -> str | None:
    """`df` for `df`, `df["a"]`, `df.a.b`, `df.loc[0, "a"]`."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _NameCollector(ast.NodeVisitor):
    # AST class -> the method that visits it, looked up once per class rather than once per node
    _handlers: dict[type, Callable[["_NameCollector", Any], None]] = {}

    def __init__(self) -> None:
        self.names = CellNames()

    def visit(self, node: ast.AST) -> None:
        handler = self._handlers.get(type(node))
        if handler is None:
            kind = type(node)
            handler = self._handlers[kind] = getattr(_NameCollector, "visit_" + kind.__name__,
                                                     _NameCollector.generic_visit)
        handler(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        """NodeVisitor's, less the fields that hold no code (names, contexts, import aliases)."""
        for child in child_nodes(node):
            self.visit(child)

    def _store(self, target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self.names.defines.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._store(element)
        elif isinstance(target, ast.Starred):
            self._store(target.value)
        else:  # df["x"] = ..., df.x = ...: a mutation of df, which also needs df
            base = _base_name(target)
            if base:
                self.names.defines.add(base)
                self.names.uses.add(base)
            self.visit(target)

    def visit_Constant(self, node: ast.Constant) -> None:
        """A constant holds no names. (NodeVisitor's own visit_Constant looks for handlers of the
        pre-3.8 node types on every constant, a fifth of a notebook's visit.) Contexts (Load,
        Store) are never visited: `child_nodes` leaves them out."""

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.names.uses.add(node.id)
        elif isinstance(node.ctx, ast.Del):
            self.names.defines.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._store(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value:
            self.visit(node.value)
        self._store(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        base = _base_name(node.target)
        if base:
            self.names.defines.add(base)
            self.names.uses.add(base)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self._store(node.target)
        for statement in node.body + node.orelse:
            self.visit(statement)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._store(item.optional_vars)
        for statement in node.body:
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.names.defines.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self.names.defines.add(alias.asname or alias.name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        # the body runs later; what it reads from the notebook's globals is what the cell needs
        self.names.defines.add(node.name)
        inner = _NameCollector()
        for statement in node.body:
            inner.visit(statement)
        for decorator in node.decorator_list:
            self.visit(decorator)
        params = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        self.names.uses |= inner.names.uses - inner.names.defines - params

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.names.defines.add(node.name)
        for base in node.bases:
            self.visit(base)
        inner = _NameCollector()
        for statement in node.body:
            inner.visit(statement)
        self.names.uses |= inner.names.uses - inner.names.defines

    def visit_Expr(self, node: ast.Expr) -> None:
        # `items.append(x)`, `df.dropna(inplace=True)`: a statement that changes its receiver
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            inplace = any(k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
                          for k in call.keywords)
            if inplace or call.func.attr in MUTATING_METHODS:
                base = _base_name(call.func.value)
                if base:
                    self.names.defines.add(base)
        self.visit(node.value)


def cell_names(tree: ast.Module | None) -> CellNames | None:
    if tree is None:
        return None
    collector = _NameCollector()
    collector.visit(tree)
    # comprehension variables are stored inside the comprehension only; they are not globals
    return collector.names


def slice_cells(names: list[CellNames | None], target: int) -> list[int]:
    """Indices of the cells `target` needs, in notebook order, `target` included.

    Repeats the backward scan until nothing changes: a function defined early may read a global
    that a later cell (still before the target) sets.
    """
    if names[target] is None:
        return []
    needed = set(names[target].uses)
    chosen = {target}
    changed = True
    while changed:
        changed = False
        for index in range(target - 1, -1, -1):
            cell = names[index]
            if index not in chosen and cell is not None and cell.defines & needed:
                chosen.add(index)
                needed |= cell.uses
                changed = True
    return sorted(chosen)


def reads_data(trees: Any, cells: list[int], read_sites: set[tuple[int, int]], read_cells: set[int]) -> bool:
    """Whether the last of `cells` computes with data read from a file, statement by statement:
    a statement that reads a file (`read_sites`: (cell, line) of each read call; a cell in
    `read_cells` counts as reading in every statement) taints what it defines, a statement that
    uses a tainted name taints what it defines in turn. An import cell that also loads the data
    does not make `np.arange(10).mean()` data analysis."""
    tainted: set[str] = set()
    answer = cells[-1]
    for index in cells:
        tree = trees[index]
        if tree is None:
            continue
        for statement in tree.body:
            names = cell_names(ast.Module(body=[statement], type_ignores=[]))
            lines = range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)
            reads = index in read_cells or any((index, line) in read_sites for line in lines)
            if reads or (names is not None and names.uses & tainted):
                if index == answer:
                    return True
                tainted |= names.defines if names is not None else set()
    return False
