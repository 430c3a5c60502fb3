"""Constant folding: the value an expression has when the cells run top to bottom, as far as the
constants and import aliases in view decide it.

`DATA + "x.csv"`, `f"{DATA}x.csv"` and `os.path.join(DATA, "x.csv")` give "data/x.csv" after
`DATA = "data/"`; `Path(DATA) / "x.csv"` gives a PathValue, `glob.glob("*.csv")` a GlobPattern
(deps/paths.py). deps/analyze.py binds the names as it follows the cells; an expression that does
not fold gives None.
"""

from __future__ import annotations

import ast
import posixpath
import re
import string
from typing import Any

from nbqa_builder.deps.calls import DEFAULT_ALIASES, GLOB_CALLS, PATH_CONSTRUCTORS, PATH_GLOB_METHODS
from nbqa_builder.deps.paths import GlobMatch, GlobPattern, PathValue, path_value
from nbqa_builder.notebooks.code import dotted_name

# Folded strings longer than this are not paths but a runaway (`s += s` in a loop of cells).
MAX_FOLDED_CHARS = 4096

_JOINS = frozenset(("os.path.join", "posixpath.join", "ntpath.join"))
_IDENTITIES = frozenset(
    ("str", "os.fspath", "os.path.normpath", "os.path.abspath", "os.path.expanduser", "os.path.realpath")
)
# A width or precision of 1000 or more would build a huge string while folding.
_BIG_NUMBER = re.compile(r"\d{4}")
_WIDE_PERCENT = re.compile(r"%[#0 +\-]*(?:\*|\d{4})|%[#0 +\-]*\d*\.(?:\*|\d{4})")

HANDLE = object()  # value of a name bound to an open file or an in-memory buffer


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


class ConstantFolder:
    """The constants and import aliases in view, and the value they give an expression."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {}  # name -> folded constant (str, PathValue, int, float) or HANDLE
        self.aliases: dict[str, str | None] = {}  # name -> module path; None: a local shadows it

    def canonical(self, func: ast.AST) -> tuple[str | None, str | None]:
        """(`pandas.read_csv`, `pd.read_csv`) for `pd.read_csv`; canonical None when unknown."""
        dotted = dotted_name(func)
        if dotted is None:
            return None, None
        head, _, rest = dotted.partition(".")
        module = self.aliases[head] if head in self.aliases else DEFAULT_ALIASES.get(head)
        if module is None:
            return None, dotted
        return (f"{module}.{rest}" if rest else module), dotted

    def fold(self, node: ast.AST) -> Any:
        """The constant value of an expression (str, PathValue, int, float), or None."""
        kind = type(node)
        if kind is ast.Constant:
            value = node.value
            return value if type(value) in (str, int, float) else None
        if kind is ast.Name:
            value = self.env.get(node.id)
            return None if value is HANDLE else value
        if kind is ast.JoinedStr:
            return self._fold_fstring(node)
        if kind is ast.BinOp:
            return self._fold_binop(node)
        if kind is ast.Call:
            return self._fold_call(node)
        if kind is ast.Attribute:
            canonical, _ = self.canonical(node)
            if canonical == "os.sep":
                return "/"
            receiver = self.fold(node.value) if canonical is None else None
            if isinstance(receiver, PathValue):
                if node.attr == "parent":
                    return path_value(posixpath.dirname(receiver))
                if node.attr == "name":
                    return posixpath.basename(receiver)
        return None

    def fold_all(self, nodes: list[ast.expr]) -> list[Any] | None:
        values = [self.fold(node) for node in nodes]
        return None if any(value is None for value in values) else values

    def _fold_fstring(self, node: ast.JoinedStr) -> str | None:
        parts = []
        for part in node.values:
            if type(part) is ast.Constant:
                parts.append(str(part.value))
                continue
            if type(part) is not ast.FormattedValue:
                return None
            value = self.fold(part.value)
            if value is None:
                return None
            if part.conversion != -1:  # !r, !a, !s
                value = {114: repr, 97: ascii}.get(part.conversion, str)(value)
            spec = self.fold(part.format_spec) if part.format_spec is not None else ""
            if not isinstance(spec, str) or _BIG_NUMBER.search(spec):
                return None
            try:
                parts.append(format(value, spec))
            except (ValueError, TypeError):
                return None
        return _capped("".join(parts))

    def _fold_binop(self, node: ast.BinOp) -> Any:
        left = self.fold(node.left)
        if left is None:
            return None
        op = type(node.op)
        if op is ast.Mod and type(left) is str:
            items = node.right.elts if type(node.right) is ast.Tuple else [node.right]
            values = self.fold_all(items)
            if values is None or _WIDE_PERCENT.search(left):
                return None
            try:
                return _capped(left % tuple(values))
            except (TypeError, ValueError, KeyError):
                return None
        right = self.fold(node.right)
        if right is None:
            return None
        if op is ast.Add:
            if type(left) is str and type(right) is str:
                return _capped(left + right)
            if type(left) in (int, float) and type(right) in (int, float):
                return left + right
        elif op is ast.Div and isinstance(left, str) and isinstance(right, str):
            if isinstance(left, PathValue) or isinstance(right, PathValue):
                return path_value(_capped(posixpath.join(left, right)))
        return None

    def _fold_call(self, node: ast.Call) -> Any:
        func = node.func
        canonical, _ = self.canonical(func)
        if canonical in GLOB_CALLS and len(node.args) == 1:
            pattern = self.fold(node.args[0])
            return GlobPattern(pattern) if isinstance(pattern, str) else None
        if type(func) is ast.Name and func.id in ("sorted", "list", "tuple") and len(node.args) == 1 \
                and func.id not in self.env and func.id not in self.aliases:
            inner = self.fold(node.args[0])  # sorted(glob.glob(...)) matches the same files
            return inner if isinstance(inner, GlobPattern) else None
        if canonical is not None:
            if node.keywords:
                return None
            if canonical in _JOINS or canonical in PATH_CONSTRUCTORS:
                values = self.fold_all(node.args)
                if values is None or not all(isinstance(v, str) for v in values):
                    return None
                joined = _capped(posixpath.join(*values)) if values else "."
                return path_value(joined) if canonical in PATH_CONSTRUCTORS else joined
            if canonical in _IDENTITIES and len(node.args) == 1:
                value = self.fold(node.args[0])
                return value if isinstance(value, GlobMatch) else (str(value) if value is not None else None)
            return None
        if type(func) is not ast.Attribute:
            return None
        receiver = self.fold(func.value)
        if not isinstance(receiver, str):
            return None
        method = func.attr
        if method == "format" and type(receiver) is str:
            args = self.fold_all(node.args)
            kwargs = self.fold_all([k.value for k in node.keywords])
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
            values = self.fold_all(sequence.elts)
            if values is None or not all(isinstance(v, str) for v in values):
                return None
            return _capped(receiver.join(values))
        if method in PATH_GLOB_METHODS and isinstance(receiver, PathValue) and len(node.args) == 1:
            pattern = self.fold(node.args[0])
            if not isinstance(pattern, str):
                return None
            return GlobPattern(posixpath.join(receiver, "**", pattern) if method == "rglob" else
                               posixpath.join(receiver, pattern))
        if method == "joinpath" and isinstance(receiver, PathValue):
            values = self.fold_all(node.args)
            if values is None or not all(isinstance(v, str) for v in values):
                return None
            return path_value(_capped(posixpath.join(receiver, *values)))
        if method == "replace" and type(receiver) is str and len(node.args) == 2:
            values = self.fold_all(node.args)
            if values is None or not all(type(v) is str for v in values):
                return None
            if len(receiver) * max(1, len(values[1])) > MAX_FOLDED_CHARS * 4:
                return None
            return _capped(receiver.replace(values[0], values[1]))
        return None
