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
"""

from __future__ import annotations

import ast
import posixpath
import re
import string
from typing import Any

from nbqa_builder.deps.calls import (
    BUFFERS,
    DEFAULT_ALIASES,
    FILE_CALLS,
    GLOB_CALLS,
    HANDLE_LOADERS,
    LOCAL_DATASET_BUILDERS,
    MODE,
    NETWORK_CALLS,
    PATH_CONSTRUCTORS,
    PATH_GLOB_METHODS,
    PATH_READ_METHODS,
    PATH_WRITE_METHODS,
    SQL_CONNECTION_METHODS,
    SQL_READERS,
    SQL_WRITE,
    TRIGGER,
    WRITE,
    WRITE_METHOD_KEYWORDS,
    WRITE_METHODS,
    FileCall,
    is_network_call,
    mentions_network,
    mentions_read,
)
from nbqa_builder.notebooks.code import child_nodes, dotted_name, parse_cells
from nbqa_builder.records import DYNAMIC, GLOB, MISSING, NETWORK, URL, Cell, DataRef

URL_SCHEMES = ("http://", "https://", "ftp://", "s3://", "gs://", "gcs://", "az://", "abfs://", "hdfs://")
# Folded strings longer than this are not paths but a runaway (`s += s` in a loop of cells).
MAX_FOLDED_CHARS = 4096
MAX_DYNAMIC_CHARS = 300  # source text kept for a dynamic argument

_JOINS = frozenset(("os.path.join", "posixpath.join", "ntpath.join"))
_IDENTITIES = frozenset(
    ("str", "os.fspath", "os.path.normpath", "os.path.abspath", "os.path.expanduser", "os.path.realpath")
)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# A width or precision of 1000 or more would build a huge string while folding.
_BIG_NUMBER = re.compile(r"\d{4}")
_WIDE_PERCENT = re.compile(r"%[#0 +\-]*(?:\*|\d{4})|%[#0 +\-]*\d*\.(?:\*|\d{4})")

_HANDLE = object()  # value of a name bound to an open file or an in-memory buffer


class PathValue(str):
    """A folded `pathlib.Path`, kept as its POSIX string (so `/` joins and `.read_text` reads)."""


class GlobPattern(str):
    """A folded `glob.glob(pattern)`: the list of the files it matches, kept as the pattern."""


class GlobMatch(str):
    """A name bound by a loop over a GlobPattern: any one of the files the pattern matches."""


def _path_value(path: str | None) -> PathValue | None:
    """As pathlib spells it: `./data//x.csv` is `data/x.csv`; `..` stays (it may cross a symlink)."""
    if path is None:
        return None
    parts = [part for part in path.split("/") if part not in ("", ".")]
    joined = "/".join(parts)
    return PathValue(("/" + joined) if path.startswith("/") else (joined or "."))


def is_url(path: str) -> bool:
    return path[:8].lower().startswith(URL_SCHEMES)


def normalised_path(path: str) -> str:
    """The form two spellings of one relative path share: `./a\\b.csv` and `a/b.csv` give `a/b.csv`."""
    return posixpath.normpath(path.replace("\\", "/"))


# IPython's shell escapes: `!wget -O data.csv URL`, `files = !ls`, and `%%bash` cells
_SHELL_LINE = re.compile(r"^[ \t]*(?:\w+[ \t]*=[ \t]*)?!(.*)$", re.M)
_SHELL_CELL = re.compile(r"^\s*%%(?:bash|sh|script)\b")
_WRITEFILE = re.compile(r"^\s*%%(?:writefile|file)[ \t]+(?:-a[ \t]+)?(\S+)")
_FETCHER = re.compile(r"\b(wget|curl|git[ \t]+clone|kaggle|gdown|aria2c)\b")
_SHELL_OUTPUT = re.compile(r"(?:[ \t]-O[ \t]*|[ \t]-o[ \t]+|[ \t]--output(?:-document)?[=  \t]|>[ \t]*)([^\s;|&]+)")

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


def _argument(node: ast.Call, position: int, keywords: tuple[str, ...]) -> ast.expr | None:
    for keyword in node.keywords:
        if keyword.arg in keywords:
            return keyword.value
    if len(node.args) > position and not any(type(a) is ast.Starred for a in node.args[: position + 1]):
        return node.args[position]
    return None


def _source_text(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except (RecursionError, ValueError, AttributeError, TypeError):
        return "<unparseable>"
    return text if len(text) <= MAX_DYNAMIC_CHARS else text[: MAX_DYNAMIC_CHARS - 3] + "..."


def _capped(value: str) -> str | None:
    return value if len(value) <= MAX_FOLDED_CHARS else None


def _safe_format_template(template: str) -> bool:
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return False
    # `{0.attr}` / `{0[key]}` would read attributes of the folded values, not build a path
    return all(
        (not spec or ("{" not in spec and not _BIG_NUMBER.search(spec)))
        and (not field or ("." not in field and "[" not in field))
        for _, field, spec, _ in fields
    )


class _Analyzer:
    """State carried from cell to cell: constants, import aliases, written paths, refs found."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {}  # name -> folded constant (str, PathValue, int, float) or _HANDLE
        self.aliases: dict[str, str | None] = {}  # name -> module path; None: a local shadows it
        self.written: set[str] = set()  # normalised paths written so far
        self.refs: list[DataRef] = []
        self.ref_by_call: dict[int, DataRef] = {}  # id(Call node) -> its ref (json.load(open(...)))
        self.alias_triggers: list[str] = []  # `rc` after `from pandas import read_csv as rc`
        # sqlite connections: name -> the ref of its `connect`, until the notebook reads or writes
        self.connections: dict[str, DataRef] = {}
        self.settled: set[int] = set()  # id() of connect refs of databases read or written since
        self.created: set[int] = set()  # ...of those written before any read: not inputs
        self.cell = 0
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

    def run_shell(self, index: int, source: str) -> None:
        """`%%writefile PATH` writes PATH; a shell line that downloads (`!wget`, `!curl`, `git
        clone`) is a network read, and the file it writes (`-O x.csv`, `> x.csv`) is no input."""
        self.cell = index
        magic = _WRITEFILE.match(source)
        if magic:
            self._note_write(magic.group(1).strip("'\""))
            return
        lines = source.splitlines() if _SHELL_CELL.match(source) else _SHELL_LINE.findall(source)
        for line in lines:
            fetcher = _FETCHER.search(line)
            if fetcher is None:
                continue
            text = line.strip()
            self.refs.append(DataRef(as_written=text if len(text) <= MAX_DYNAMIC_CHARS else text[:MAX_DYNAMIC_CHARS],
                                     cell=index, call="!" + fetcher.group(1).split()[0], status=URL, kind=NETWORK))
            output = _SHELL_OUTPUT.search(line)
            if output and not is_url(output.group(1)):
                self._note_write(output.group(1).strip("'\""))

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
                self._set(node.target.id, self._fold(grown))
        elif kind is ast.For or kind is ast.AsyncFor:
            self._scan(node.iter)
            self._unbind(node.target)
            pattern = self._fold(node.iter)
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
            value = self._fold(default) if default is not None else None
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
            canonical, _ = self._canonical(value_node)
            # `read = pd.read_csv` or `pandas = pd`: the name now calls what the value called
            if canonical is not None and (kind is ast.Name or canonical in FILE_CALLS):
                self._alias(name, canonical)
                return
        value = self._fold(value_node)
        if value is None and kind is ast.Call and self._is_handle(value_node):
            value = _HANDLE
        self._set(name, value)
        connection = self._connection(value_node) if kind is ast.Call else None
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
            self._on_call(node)
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
                pattern = self._fold(gen.iter)
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

    def _canonical(self, func: ast.AST) -> tuple[str | None, str | None]:
        """(`pandas.read_csv`, `pd.read_csv`) for `pd.read_csv`; canonical None when unknown."""
        dotted = dotted_name(func)
        if dotted is None:
            return None, None
        head, _, rest = dotted.partition(".")
        module = self.aliases[head] if head in self.aliases else DEFAULT_ALIASES.get(head)
        if module is None:
            return None, dotted
        return (f"{module}.{rest}" if rest else module), dotted

    def _on_call(self, node: ast.Call) -> None:
        func = node.func
        canonical, written_as = self._canonical(func)
        if canonical is not None and is_network_call(canonical):
            self._note_network(node, canonical, written_as or canonical)
        if self.connections or canonical in SQL_READERS:
            self._sql_call(node, canonical)
        if canonical is not None:
            spec = FILE_CALLS.get(canonical)
            if spec is not None:
                self._file_call(node, spec, written_as or canonical)
                return
            if canonical in HANDLE_LOADERS:
                inner = node.args[0] if node.args else None
                if inner is not None and id(inner) in self.ref_by_call:
                    self.ref_by_call[id(inner)].call = written_as or canonical
                return
        if type(func) is not ast.Attribute:
            return
        method = func.attr
        if method in PATH_READ_METHODS or method in PATH_WRITE_METHODS:
            receiver = self._fold(func.value)
            if isinstance(receiver, PathValue):
                if method in PATH_WRITE_METHODS or (method == "open" and self._mode_writes(node, 0, "r")):
                    self._note_write(receiver)
                else:
                    self._note_read(node, receiver, f"Path.{method}")
            elif method in PATH_READ_METHODS and type(func.value) is ast.Call:
                if self._canonical(func.value.func)[0] in PATH_CONSTRUCTORS:
                    self._note_dynamic(node, func.value, f"Path.{method}")
        elif method in WRITE_METHODS:
            argument = _argument(node, 0, WRITE_METHOD_KEYWORDS)
            value = self._fold(argument) if argument is not None else None
            if isinstance(value, str):
                self._note_write(value)

    def _file_call(self, node: ast.Call, spec: FileCall, call: str) -> None:
        argument = _argument(node, spec.position, spec.keywords)
        if argument is None or (type(argument) is ast.Constant and type(argument.value) is not str):
            return  # absent, or None / bytes / a file descriptor: no file path to resolve
        if spec.kind == WRITE or (
            spec.kind == MODE and self._mode_writes(node, spec.mode_position, spec.default_mode)
        ):
            value = self._fold(argument)
            if isinstance(value, str):
                suffix = spec.add_suffix
                self._note_write(value if value.endswith(suffix) else value + suffix)
            return
        value = self._fold(argument)
        if isinstance(value, str):
            self._note_read(node, value, call)
        elif value is None and self._is_url(argument):  # `url_template.format(year)`
            self._add(node, DataRef(as_written=_source_text(argument), cell=self.cell, call=call, status=URL,
                                    kind=NETWORK))
        elif value is None and not self._is_handle(argument):
            self._note_dynamic(node, argument, call)

    # -- network and sqlite --------------------------------------------------------------------

    def _note_network(self, node: ast.Call, canonical: str, call: str) -> None:
        if canonical == "datasets.load_dataset":
            name = self._fold(node.args[0]) if node.args else None
            if isinstance(name, str) and (name in LOCAL_DATASET_BUILDERS or name.startswith((".", "/"))):
                return
        position = NETWORK_CALLS.get(canonical)  # a module's loaders name what they fetch
        argument = _argument(node, position, ("url",)) if position is not None else None
        value = self._fold(argument) if argument is not None else None
        as_written = value if isinstance(value, str) else _source_text(node)
        self._add(node, DataRef(as_written=as_written, cell=self.cell, call=call, status=URL, kind=NETWORK))

    def _connection(self, node: ast.Call) -> DataRef | None:
        """The connect ref behind `sqlite3.connect(path)` or `con.cursor()`, if it is tracked."""
        func = node.func
        if type(func) is ast.Attribute and func.attr == "cursor" and type(func.value) is ast.Name:
            return self.connections.get(func.value.id)
        if self._canonical(func)[0] == "sqlite3.connect":
            return self.ref_by_call.get(id(node))
        return None

    def _sql_call(self, node: ast.Call, canonical: str | None) -> None:
        """A database is an input if the notebook reads it before it writes into it."""
        func = node.func
        if canonical in SQL_READERS or (type(func) is ast.Attribute and func.attr == "to_sql"):
            argument = _argument(node, 1, ("con",))
            ref = self.connections.get(argument.id) if type(argument) is ast.Name else None
            writes = canonical not in SQL_READERS
        elif type(func) is ast.Attribute and func.attr in SQL_CONNECTION_METHODS and type(func.value) is ast.Name:
            ref = self.connections.get(func.value.id)
            statement = self._fold(node.args[0]) if node.args else None
            writes = isinstance(statement, str) and SQL_WRITE.match(statement) is not None
        else:
            return
        if ref is None or id(ref) in self.settled:
            return
        self.settled.add(id(ref))
        self.connections = {name: other for name, other in self.connections.items() if other is not ref}
        if writes:
            self.created.add(id(ref))
            self._note_write(ref.as_written)

    def _is_url(self, node: ast.AST) -> bool:
        """Whether a string that does not fold starts with a URL (`BASE + name`, an f-string or a
        `.format` or `%` template whose constant head is one)."""
        kind = type(node)
        if kind is ast.JoinedStr and node.values:
            head = node.values[0]
            prefix = head.value if type(head) is ast.Constant else self._fold(getattr(head, "value", None))
        elif kind is ast.BinOp and type(node.op) in (ast.Add, ast.Mod):
            prefix = self._fold(node.left)
            if prefix is None:
                return self._is_url(node.left)
        elif kind is ast.Call and type(node.func) is ast.Attribute and node.func.attr == "format":
            prefix = self._fold(node.func.value)
        else:
            return False
        return isinstance(prefix, str) and is_url(prefix)

    def _mode_writes(self, node: ast.Call, position: int | None, default: str) -> bool:
        mode_node = _argument(node, position, ("mode",)) if position is not None else None
        mode = default if mode_node is None else self._fold(mode_node)
        return isinstance(mode, str) and any(flag in mode for flag in "wax")

    def _is_handle(self, node: ast.AST) -> bool:
        """An open file or in-memory buffer: `pd.read_csv(f)` after `with open(p) as f`."""
        kind = type(node)
        if kind is ast.Name:
            return self.env.get(node.id) is _HANDLE
        if kind is not ast.Call:
            return False
        if id(node) in self.ref_by_call:
            return True
        canonical, _ = self._canonical(node.func)
        if canonical in FILE_CALLS or canonical in BUFFERS:
            return True
        return type(node.func) is ast.Attribute and node.func.attr == "open"  # zf.open(member)

    def _note_read(self, node: ast.Call, path: str, call: str) -> None:
        glob_match = isinstance(path, GlobMatch)
        path = str(path)
        if not path.strip() or path == ":memory:":
            return
        if glob_match:
            self._add(node, DataRef(as_written=path, cell=self.cell, call=call, status=MISSING, kind=GLOB))
        elif is_url(path):
            self._add(node, DataRef(as_written=path, cell=self.cell, call=call, status=URL))
        elif normalised_path(path) not in self.written:
            self._add(node, DataRef(as_written=path, cell=self.cell, call=call, status=MISSING))

    def _note_dynamic(self, node: ast.Call, argument: ast.AST, call: str) -> None:
        text = _source_text(argument)
        self._add(node, DataRef(as_written=text, cell=self.cell, call=call, status=DYNAMIC))

    def _note_write(self, path: str) -> None:
        if path and not is_url(path):
            self.written.add(normalised_path(path))

    def _add(self, node: ast.Call, ref: DataRef) -> None:
        ref.sites.append((self.cell, node.lineno, node.col_offset))
        self.refs.append(ref)
        self.ref_by_call[id(node)] = ref

    # -- constant folding --------------------------------------------------------------------

    def _fold(self, node: ast.AST) -> Any:
        """The constant value of an expression (str, PathValue, int, float), or None."""
        kind = type(node)
        if kind is ast.Constant:
            value = node.value
            return value if type(value) in (str, int, float) else None
        if kind is ast.Name:
            value = self.env.get(node.id)
            return None if value is _HANDLE else value
        if kind is ast.JoinedStr:
            return self._fold_fstring(node)
        if kind is ast.BinOp:
            return self._fold_binop(node)
        if kind is ast.Call:
            return self._fold_call(node)
        if kind is ast.Attribute:
            canonical, _ = self._canonical(node)
            if canonical == "os.sep":
                return "/"
            receiver = self._fold(node.value) if canonical is None else None
            if isinstance(receiver, PathValue):
                if node.attr == "parent":
                    return _path_value(posixpath.dirname(receiver))
                if node.attr == "name":
                    return posixpath.basename(receiver)
        return None

    def _fold_all(self, nodes: list[ast.expr]) -> list[Any] | None:
        values = [self._fold(node) for node in nodes]
        return None if any(value is None for value in values) else values

    def _fold_fstring(self, node: ast.JoinedStr) -> str | None:
        parts = []
        for part in node.values:
            if type(part) is ast.Constant:
                parts.append(str(part.value))
                continue
            if type(part) is not ast.FormattedValue:
                return None
            value = self._fold(part.value)
            if value is None:
                return None
            if part.conversion != -1:  # !r, !a, !s
                value = {114: repr, 97: ascii}.get(part.conversion, str)(value)
            spec = self._fold(part.format_spec) if part.format_spec is not None else ""
            if not isinstance(spec, str) or _BIG_NUMBER.search(spec):
                return None
            try:
                parts.append(format(value, spec))
            except (ValueError, TypeError):
                return None
        return _capped("".join(parts))

    def _fold_binop(self, node: ast.BinOp) -> Any:
        left = self._fold(node.left)
        if left is None:
            return None
        op = type(node.op)
        if op is ast.Mod and type(left) is str:
            items = node.right.elts if type(node.right) is ast.Tuple else [node.right]
            values = self._fold_all(items)
            if values is None or _WIDE_PERCENT.search(left):
                return None
            try:
                return _capped(left % tuple(values))
            except (TypeError, ValueError, KeyError):
                return None
        right = self._fold(node.right)
        if right is None:
            return None
        if op is ast.Add:
            if type(left) is str and type(right) is str:
                return _capped(left + right)
            if type(left) in (int, float) and type(right) in (int, float):
                return left + right
        elif op is ast.Div and isinstance(left, str) and isinstance(right, str):
            if isinstance(left, PathValue) or isinstance(right, PathValue):
                return _path_value(_capped(posixpath.join(left, right)))
        return None

    def _fold_call(self, node: ast.Call) -> Any:
        func = node.func
        canonical, _ = self._canonical(func)
        if canonical in GLOB_CALLS and len(node.args) == 1:
            pattern = self._fold(node.args[0])
            return GlobPattern(pattern) if isinstance(pattern, str) else None
        if type(func) is ast.Name and func.id in ("sorted", "list", "tuple") and len(node.args) == 1 \
                and func.id not in self.env and func.id not in self.aliases:
            inner = self._fold(node.args[0])  # sorted(glob.glob(...)) matches the same files
            return inner if isinstance(inner, GlobPattern) else None
        if canonical is not None:
            if node.keywords:
                return None
            if canonical in _JOINS or canonical in PATH_CONSTRUCTORS:
                values = self._fold_all(node.args)
                if values is None or not all(isinstance(v, str) for v in values):
                    return None
                joined = _capped(posixpath.join(*values)) if values else "."
                return _path_value(joined) if canonical in PATH_CONSTRUCTORS else joined
            if canonical in _IDENTITIES and len(node.args) == 1:
                value = self._fold(node.args[0])
                return value if isinstance(value, GlobMatch) else (str(value) if value is not None else None)
            return None
        if type(func) is not ast.Attribute:
            return None
        receiver = self._fold(func.value)
        if not isinstance(receiver, str):
            return None
        method = func.attr
        if method == "format" and type(receiver) is str:
            args = self._fold_all(node.args)
            kwargs = self._fold_all([k.value for k in node.keywords])
            if args is None or kwargs is None or any(k.arg is None for k in node.keywords):
                return None
            if not _safe_format_template(receiver):
                return None
            try:
                named = {keyword.arg: value for keyword, value in zip(node.keywords, kwargs)}
                return _capped(receiver.format(*args, **named))
            except (IndexError, KeyError, ValueError, TypeError, AttributeError):
                return None
        if method == "join" and type(receiver) is str and len(node.args) == 1:
            sequence = node.args[0]
            if type(sequence) not in (ast.List, ast.Tuple):
                return None
            values = self._fold_all(sequence.elts)
            if values is None or not all(isinstance(v, str) for v in values):
                return None
            return _capped(receiver.join(values))
        if method in PATH_GLOB_METHODS and isinstance(receiver, PathValue) and len(node.args) == 1:
            pattern = self._fold(node.args[0])
            if not isinstance(pattern, str):
                return None
            return GlobPattern(posixpath.join(receiver, "**", pattern) if method == "rglob" else
                               posixpath.join(receiver, pattern))
        if method == "joinpath" and isinstance(receiver, PathValue):
            values = self._fold_all(node.args)
            if values is None or not all(isinstance(v, str) for v in values):
                return None
            return _path_value(_capped(posixpath.join(receiver, *values)))
        if method == "replace" and type(receiver) is str and len(node.args) == 2:
            values = self._fold_all(node.args)
            if values is None or not all(type(v) is str for v in values):
                return None
            if len(receiver) * max(1, len(values[1])) > MAX_FOLDED_CHARS * 4:
                return None
            return _capped(receiver.replace(values[0], values[1]))
        return None
