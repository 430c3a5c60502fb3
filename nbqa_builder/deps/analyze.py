"""Which data files a notebook reads, found statically in the ASTs of its cells.

The cells are followed in order, like a kernel running them top to bottom: imports give aliases
(`import pandas as pd`), assignments of constants give values (`DATA = "data/"`), and each call in
`calls.FILE_CALLS` is a read or a write. A read whose path folds to a constant is recorded as written
(`DATA + "x.csv"` gives "data/x.csv"); one that does not fold is `dynamic`, with the argument's
source text. A read of a path that an earlier statement wrote is not an input, so it is skipped.

Three more kinds of read: a name bound by a loop over a constant glob pattern
(`for f in glob.glob("data/*.csv")`) reads the files the pattern matches (`kind` GLOB, expanded
by the resolver); a call that fetches over the network (`requests.get`, `sns.load_dataset`,
`pd.read_csv(url_template.format(year))`) is a `url` ref of kind NETWORK; and a sqlite database
that the notebook writes into (`to_sql`, CREATE TABLE) before it reads it is not an input.

Speed: statements are visited once per cell to follow bindings; the expressions of a cell are walked
for calls only when its source mentions a file function at all (`calls.TRIGGER`).

This module follows the statements (bindings, imports, functions, loops) and finds the calls; what
a call does to files is deps/accesses.py, the value of an expression deps/constants.py, a path's
spellings and folded values deps/paths.py, and the catalogue of file functions deps/calls.py.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from nbqa_builder.deps.accesses import AccessRecorder
from nbqa_builder.deps.calls import DEFAULT_ALIASES, FILE_CALLS, TRIGGER, is_network_call, mentions_network, mentions_read
from nbqa_builder.deps.constants import HANDLE
from nbqa_builder.deps.paths import GlobMatch, GlobPattern
from nbqa_builder.notebooks.code import child_nodes, parse_cells
from nbqa_builder.records import Cell, DataRef

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

# anything that can bind a name: assignment (also augmented, walrus), import, def, class, for,
# with ... as, except ... as, del
_BINDS = re.compile(r"=|\b(?:import|def|class|for|as|del)\b")


def find_data_refs(cells: list[Cell], trees: list[ast.Module | None] | None = None) -> list[DataRef]:
    """The data files the cells read, in order of first read, one ref per (as_written, call).

    `trees` are `parse_cells(cells)` when the caller already has them; cells that do not parse
    (None) are skipped.
    """
    # Cells after the last one that mentions a file access cannot add a read; with lazy `trees`
    # (notebooks.code.LazyTrees) they are not even parsed.
    last = max((i for i, c in enumerate(cells)
                if c.cell_type == "code" and (mentions_read(c.source) or mentions_network(c.source))), default=-1)
    if trees is None:
        trees = parse_cells(cells)
    analyzer = _Analyzer()
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        mentions_alias = any(name in cell.source for name in analyzer.alias_triggers)
        if index > last and not mentions_alias and not analyzer.connections:
            continue  # (a database it connected to is written into, or read, later on)
        if "!" in cell.source or "%%" in cell.source:
            analyzer.run_shell(index, cell.source)
        if not (mentions_alias or TRIGGER.search(cell.source) or _BINDS.search(cell.source)):
            continue  # binds no name and touches no file: it cannot change what later reads resolve to
        tree = trees[index]
        if tree is not None:
            analyzer.run_cell(index, cell.source, tree)
    unique: dict[tuple[str, str], DataRef] = {}
    for ref in analyzer.refs:
        if id(ref) in analyzer.created:
            continue  # a database the notebook wrote into before it read it
        first = unique.setdefault((ref.as_written, ref.call), ref)
        if first is not ref:
            first.sites += ref.sites
    return list(unique.values())


class _Analyzer(AccessRecorder):
    """State carried from cell to cell: constants, import aliases, written paths, refs found."""

    def __init__(self) -> None:
        super().__init__()
        self.alias_triggers: list[str] = []  # `rc` after `from pandas import read_csv as rc`
        self.scan_calls = False

    def run_cell(self, index: int, source: str, tree: ast.Module) -> None:
        self.cell = index
        self.scan_calls = TRIGGER.search(source) is not None or any(
            name in source for name in self.alias_triggers
        )
        try:
            self._statements(tree.body)
        except (RecursionError, MemoryError):
            pass  # pathological nesting: keep what the earlier statements gave

    # -- statements: bindings in order -------------------------------------------------------

    def _statements(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self._statement(statement)

    def _statement(self, node: ast.stmt) -> None:
        kind = type(node)
        if kind is ast.Assign:
            self._scan(node.value)
            for target in node.targets:
                self._bind(target, node.value)
        elif kind is ast.Expr or kind is ast.Return:
            if node.value is not None:
                self._scan(node.value)
        elif kind is ast.Import or kind is ast.ImportFrom:
            self._import(node)
        elif kind is ast.AnnAssign:
            if node.value is not None:
                self._scan(node.value)
                self._bind(node.target, node.value)
        elif kind is ast.AugAssign:
            self._scan(node.value)
            if type(node.target) is ast.Name:
                current = ast.Name(id=node.target.id, ctx=ast.Load())
                grown = ast.BinOp(left=current, op=node.op, right=node.value)
                self._set(node.target.id, self.fold(grown))
        elif kind is ast.For or kind is ast.AsyncFor:
            self._scan(node.iter)
            self._unbind(node.target)
            pattern = self.fold(node.iter)
            if isinstance(pattern, GlobPattern) and type(node.target) is ast.Name:
                self._set(node.target.id, GlobMatch(pattern))
            self._statements(node.body)
            self._statements(node.orelse)
        elif kind is ast.With or kind is ast.AsyncWith:
            for item in node.items:
                self._scan(item.context_expr)
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, item.context_expr)
            self._statements(node.body)
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            self._function(node)
        elif kind is ast.ClassDef:
            for expression in node.bases + node.decorator_list:
                self._scan(expression)
            self._statements(node.body)
            self._set(node.name, None)
        elif kind is ast.Delete:
            for target in node.targets:
                self._unbind(target)
        else:  # If, While, Try, Match, Raise, Assert ...: fields in their order of execution
            for field in node._fields:
                value = getattr(node, field, None)
                for item in value if isinstance(value, list) else (value,):
                    if isinstance(item, ast.stmt):
                        self._statement(item)
                    elif isinstance(item, ast.ExceptHandler):
                        if item.type is not None:
                            self._scan(item.type)
                        if item.name:
                            self._set(item.name, None)
                        self._statements(item.body)
                    elif isinstance(item, ast.AST):
                        self._scan(item)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """The body runs with the parameters' constant defaults, as in the common
        `def load(path=DATA_PATH): return pd.read_csv(path)`; other parameters are unknown."""
        args = node.args
        for expression in args.defaults + [d for d in args.kw_defaults if d] + node.decorator_list:
            self._scan(expression)
        outer_env = self.env
        self.env = dict(outer_env)
        positional = args.posonlyargs + args.args
        defaults = [None] * (len(positional) - len(args.defaults)) + args.defaults
        params = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
        params += [(extra, None) for extra in (args.vararg, args.kwarg) if extra is not None]
        for param, default in params:
            value = self.fold(default) if default is not None else None
            if value is None:
                self.env.pop(param.arg, None)
            else:
                self.env[param.arg] = value
        try:
            self._statements(node.body)
        finally:
            self.env = outer_env
        self._set(node.name, None)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if type(node) is ast.Import:
            for alias in node.names:
                if alias.asname:
                    self._alias(alias.asname, alias.name)
                else:
                    head = alias.name.split(".")[0]
                    self._alias(head, head)
            return
        module = node.module if node.level == 0 else None  # relative imports: the repo's own code
        for alias in node.names:
            if alias.name == "*":
                prefix = f"{module}."
                for canonical in FILE_CALLS if module else ():
                    name = canonical[len(prefix) :]
                    if canonical.startswith(prefix) and "." not in name:
                        self._alias(name, canonical)
            else:
                self._alias(alias.asname or alias.name, f"{module}.{alias.name}" if module else None)

    def _alias(self, name: str, target: str | None) -> None:
        self.aliases[name] = target
        self.env.pop(name, None)
        reads = target is not None and (target in FILE_CALLS or is_network_call(target + "."))
        if reads and not TRIGGER.search(name) and name not in self.alias_triggers:
            self.alias_triggers.append(name)

    def _bind(self, target: ast.expr, value_node: ast.expr) -> None:
        kind = type(target)
        if kind is ast.Name:
            self._bind_name(target.id, value_node)
        elif kind is ast.Tuple or kind is ast.List:
            values = value_node.elts if type(value_node) in (ast.Tuple, ast.List) else None
            if values is not None and len(values) == len(target.elts) and not any(
                type(e) is ast.Starred for e in values + target.elts
            ):
                for element, value in zip(target.elts, values):
                    self._bind(element, value)
            else:
                self._unbind(target)
        elif kind is ast.Starred:
            self._unbind(target.value)

    def _bind_name(self, name: str, value_node: ast.expr) -> None:
        kind = type(value_node)
        if kind is ast.Name or kind is ast.Attribute:
            canonical, _ = self.canonical(value_node)
            # `read = pd.read_csv` or `pandas = pd`: the name now calls what the value called
            if canonical is not None and (kind is ast.Name or canonical in FILE_CALLS):
                self._alias(name, canonical)
                return
        value = self.fold(value_node)
        if value is None and kind is ast.Call and self.is_handle(value_node):
            value = HANDLE
        self._set(name, value)
        connection = self.connection(value_node) if kind is ast.Call else None
        if connection is not None:
            self.connections[name] = connection

    def _set(self, name: str, value: Any) -> None:
        self.connections.pop(name, None)
        if value is None:
            self.env.pop(name, None)
        else:
            self.env[name] = value
        if name in self.aliases or name in DEFAULT_ALIASES:
            self.aliases[name] = None

    def _unbind(self, target: ast.expr) -> None:
        kind = type(target)
        if kind is ast.Name:
            self._set(target.id, None)
        elif kind is ast.Tuple or kind is ast.List:
            for element in target.elts:
                self._unbind(element)
        elif kind is ast.Starred:
            self._unbind(target.value)

    # -- expressions: calls, post-order (arguments run before the call) ----------------------

    def _scan(self, node: ast.AST) -> None:
        if not self.scan_calls:
            return
        kind = type(node)
        if kind is ast.Call:
            self._scan(node.func)
            for argument in node.args:
                self._scan(argument)
            for keyword in node.keywords:
                self._scan(keyword.value)
            self.on_call(node)
        elif kind is ast.Name or kind is ast.Constant:
            return
        elif kind is ast.NamedExpr:
            self._scan(node.value)
            self._bind(node.target, node.value)
        elif kind in _COMPREHENSIONS or kind is ast.Lambda:
            self._scan_shadowed(node)
        else:
            for child in child_nodes(node):
                self._scan(child)

    def _scan_shadowed(self, node: ast.AST) -> None:
        """Comprehension variables and lambda parameters hide constants of the same name; a
        variable over a glob pattern (`for f in glob.glob("*.csv")`) is any file it matches."""
        matches: dict[str, GlobMatch] = {}
        if type(node) is ast.Lambda:
            names = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        else:
            names = [n.id for gen in node.generators for n in ast.walk(gen.target) if type(n) is ast.Name]
            for gen in node.generators:
                pattern = self.fold(gen.iter)
                if isinstance(pattern, GlobPattern) and type(gen.target) is ast.Name:
                    matches[gen.target.id] = GlobMatch(pattern)
        hidden = {name: self.env.pop(name) for name in names if name in self.env}
        self.env.update(matches)
        try:
            for child in child_nodes(node):
                self._scan(child)
        finally:
            for name in matches:
                self.env.pop(name, None)
            self.env.update(hidden)
