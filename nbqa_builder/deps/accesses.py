"""Call recognition: what one call does to files, given the constants and aliases in view.

A call in `calls.FILE_CALLS` (or a method in `calls.WRITE_METHODS`, a `Path.read_text` ...) whose
path folds (deps/constants.py) is a read recorded as a DataRef, or a write remembered so that a
later read of that path is no input; one that does not fold is `dynamic`. A call that fetches over
the network is a NETWORK ref; a sqlite database is an input only when the notebook reads it before
it writes into it. IPython's shell escapes (`!wget -O x.csv URL`, `%%writefile`) are read here too.
"""

from __future__ import annotations

import ast
import re

from nbqa_builder.deps.calls import (
    BUFFERS,
    FILE_CALLS,
    HANDLE_LOADERS,
    LOCAL_DATASET_BUILDERS,
    MODE,
    NETWORK_CALLS,
    PATH_CONSTRUCTORS,
    PATH_READ_METHODS,
    PATH_WRITE_METHODS,
    SQL_CONNECTION_METHODS,
    SQL_READERS,
    SQL_WRITE,
    WRITE,
    WRITE_METHOD_KEYWORDS,
    WRITE_METHODS,
    FileCall,
    is_network_call,
)
from nbqa_builder.deps.constants import HANDLE, ConstantFolder
from nbqa_builder.deps.paths import GlobMatch, PathValue, is_url, normalised_path
from nbqa_builder.records import DYNAMIC, GLOB, MISSING, NETWORK, URL, DataRef

MAX_DYNAMIC_CHARS = 300  # source text kept for a dynamic argument

# IPython's shell escapes: `!wget -O data.csv URL`, `files = !ls`, and `%%bash` cells
_SHELL_LINE = re.compile(r"^[ \t]*(?:\w+[ \t]*=[ \t]*)?!(.*)$", re.M)
_SHELL_CELL = re.compile(r"^\s*%%(?:bash|sh|script)\b")
_WRITEFILE = re.compile(r"^\s*%%(?:writefile|file)[ \t]+(?:-a[ \t]+)?(\S+)")
_FETCHER = re.compile(r"\b(wget|curl|git[ \t]+clone|kaggle|gdown|aria2c)\b")
_SHELL_OUTPUT = re.compile(r"(?:[ \t]-O[ \t]*|[ \t]-o[ \t]+|[ \t]--output(?:-document)?[=  \t]|>[ \t]*)([^\s;|&]+)")


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


class AccessRecorder(ConstantFolder):
    """The reads and writes found so far, and what one call adds to them."""

    def __init__(self) -> None:
        super().__init__()
        self.written: set[str] = set()  # normalised paths written so far
        self.refs: list[DataRef] = []
        self.ref_by_call: dict[int, DataRef] = {}  # id(Call node) -> its ref (json.load(open(...)))
        # sqlite connections: name -> the ref of its `connect`, until the notebook reads or writes
        self.connections: dict[str, DataRef] = {}
        self.settled: set[int] = set()  # id() of connect refs of databases read or written since
        self.created: set[int] = set()  # ...of those written before any read: not inputs
        self.cell = 0

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

    def on_call(self, node: ast.Call) -> None:
        func = node.func
        canonical, written_as = self.canonical(func)
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
            receiver = self.fold(func.value)
            if isinstance(receiver, PathValue):
                if method in PATH_WRITE_METHODS or (method == "open" and self._mode_writes(node, 0, "r")):
                    self._note_write(receiver)
                else:
                    self._note_read(node, receiver, f"Path.{method}")
            elif method in PATH_READ_METHODS and type(func.value) is ast.Call:
                if self.canonical(func.value.func)[0] in PATH_CONSTRUCTORS:
                    self._note_dynamic(node, func.value, f"Path.{method}")
        elif method in WRITE_METHODS:
            argument = _argument(node, 0, WRITE_METHOD_KEYWORDS)
            value = self.fold(argument) if argument is not None else None
            if isinstance(value, str):
                self._note_write(value)

    def _file_call(self, node: ast.Call, spec: FileCall, call: str) -> None:
        argument = _argument(node, spec.position, spec.keywords)
        if argument is None or (type(argument) is ast.Constant and type(argument.value) is not str):
            return  # absent, or None / bytes / a file descriptor: no file path to resolve
        if spec.kind == WRITE or (
            spec.kind == MODE and self._mode_writes(node, spec.mode_position, spec.default_mode)
        ):
            value = self.fold(argument)
            if isinstance(value, str):
                suffix = spec.add_suffix
                self._note_write(value if value.endswith(suffix) else value + suffix)
            return
        value = self.fold(argument)
        if isinstance(value, str):
            self._note_read(node, value, call)
        elif value is None and self._is_url(argument):  # `url_template.format(year)`
            self._add(node, DataRef(as_written=_source_text(argument), cell=self.cell, call=call, status=URL,
                                    kind=NETWORK))
        elif value is None and not self.is_handle(argument):
            self._note_dynamic(node, argument, call)

    # -- network and sqlite --------------------------------------------------------------------

    def _note_network(self, node: ast.Call, canonical: str, call: str) -> None:
        if canonical == "datasets.load_dataset":
            name = self.fold(node.args[0]) if node.args else None
            if isinstance(name, str) and (name in LOCAL_DATASET_BUILDERS or name.startswith((".", "/"))):
                return
        position = NETWORK_CALLS.get(canonical)  # a module's loaders name what they fetch
        argument = _argument(node, position, ("url",)) if position is not None else None
        value = self.fold(argument) if argument is not None else None
        as_written = value if isinstance(value, str) else _source_text(node)
        self._add(node, DataRef(as_written=as_written, cell=self.cell, call=call, status=URL, kind=NETWORK))

    def connection(self, node: ast.Call) -> DataRef | None:
        """The connect ref behind `sqlite3.connect(path)` or `con.cursor()`, if it is tracked."""
        func = node.func
        if type(func) is ast.Attribute and func.attr == "cursor" and type(func.value) is ast.Name:
            return self.connections.get(func.value.id)
        if self.canonical(func)[0] == "sqlite3.connect":
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
            statement = self.fold(node.args[0]) if node.args else None
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
            prefix = head.value if type(head) is ast.Constant else self.fold(getattr(head, "value", None))
        elif kind is ast.BinOp and type(node.op) in (ast.Add, ast.Mod):
            prefix = self.fold(node.left)
            if prefix is None:
                return self._is_url(node.left)
        elif kind is ast.Call and type(node.func) is ast.Attribute and node.func.attr == "format":
            prefix = self.fold(node.func.value)
        else:
            return False
        return isinstance(prefix, str) and is_url(prefix)

    def _mode_writes(self, node: ast.Call, position: int | None, default: str) -> bool:
        mode_node = _argument(node, position, ("mode",)) if position is not None else None
        mode = default if mode_node is None else self.fold(mode_node)
        return isinstance(mode, str) and any(flag in mode for flag in "wax")

    def is_handle(self, node: ast.AST) -> bool:
        """An open file or in-memory buffer: `pd.read_csv(f)` after `with open(p) as f`."""
        kind = type(node)
        if kind is ast.Name:
            return self.env.get(node.id) is HANDLE
        if kind is not ast.Call:
            return False
        if id(node) in self.ref_by_call:
            return True
        canonical, _ = self.canonical(node.func)
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
