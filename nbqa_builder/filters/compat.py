"""Code that this machine's Python and libraries cannot run, found without running it.

The sandbox re-runs a notebook with the Python and the libraries installed here. A notebook written
for older ones fails at the first line they no longer accept:

- `syntax_error`: a code cell Python 3 cannot parse (`print x`, Python 2's `except E, e:`);
- `missing_module`: an import of a module that is not installed, or of a helper module of the
  repository (the sandbox holds the notebook's data files, not its code);
- `removed_api`: a name or a keyword a library has removed (`np.NaN`, `pd.rolling_mean`,
  `from sklearn.cross_validation import ...`, `.applymap(...)`, `.fillna(method=...)`,
  `.resample("M")`).

Names are checked against the installed libraries, so the verdict follows the environment (pandas
2.1 still has `applymap`; pandas 3 has not).
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import warnings
from typing import Any

from nbqa_builder.notebooks.code import dotted_name, ipython_to_python, notebook_trees, walk
from nbqa_builder.records import Notebook

# Libraries whose names are checked attribute by attribute: the ones analysis notebooks use most,
# and whose removals break old notebooks. Other modules are only checked to be installed.
CHECKED_LIBRARIES = frozenset(("pandas", "numpy", "sklearn", "scipy", "matplotlib", "seaborn", "statsmodels"))
# DataFrame/Series methods pandas removed (0.20 to 3.0). Only those the installed pandas lacks
# count; names that other types share widely (append, sort, first) are not listed.
REMOVED_METHODS = frozenset((
    "applymap", "iteritems", "as_matrix", "get_value", "set_value", "ix", "convert_objects", "to_sparse",
    "lookup", "swapaxes", "mad", "get_dtype_counts", "ftypes", "reindex_axis", "tshift", "is_monotonic",
))
# Methods found only on pandas objects, whose keywords are checked against the installed
# signatures (`fillna(method=...)`, `groupby(axis=...)`, `to_csv(line_terminator=...)`).
KEYWORD_CHECKED_METHODS = frozenset((
    "fillna", "groupby", "resample", "pivot_table", "drop_duplicates", "to_csv", "sort_values", "value_counts",
    "dropna", "reset_index", "set_index",
))
# Calls that take a frequency alias (`resample("M")` is `resample("ME")` since pandas 2.2, and
# the old spelling is gone in 3.0).
FREQUENCY_METHODS = frozenset(("resample", "asfreq"))
FREQUENCY_FUNCTIONS = frozenset(("pandas.date_range", "pandas.bdate_range", "pandas.timedelta_range", "pandas.Grouper"))
DEFAULT_ALIASES = {"pd": "pandas", "np": "numpy"}
# `append` is a list's method too, so `x.append(...)` counts only where x holds a pandas object:
# a name bound to what a pandas function returns, or to a frame method's result on such a name.
PANDAS_FACTORIES = frozenset(("DataFrame", "Series", "concat", "merge", "pivot_table", "crosstab", "get_dummies"))
FRAME_METHODS = frozenset((
    "copy", "dropna", "fillna", "drop", "rename", "sort_values", "sort_index", "reset_index", "set_index", "query",
    "head", "tail", "merge", "join", "astype", "assign", "drop_duplicates", "sample", "append", "reindex",
))


def incompatibility(notebook: Notebook) -> str | None:
    """`syntax_error`, `missing_module` or `removed_api` for the first code cell that has one, with
    what matched: `removed_api: DataFrame.append (cell 4, line 2)`, `missing_module: torchx (cell 0,
    line 1)`, `syntax_error: cell 3`."""
    aliases = dict(DEFAULT_ALIASES)
    frames: set[str] = set()  # names bound to pandas objects
    trees = notebook_trees(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not cell.source or cell.source.isspace():
            continue
        tree = trees[index]
        if tree is None:
            if ipython_to_python(cell.source) is None:
                continue  # a cell magic in another language (%%bash, %%html)
            return f"syntax_error: cell {index}"
        problem = _cell_problem(tree, aliases, frames)
        if problem:
            reason, what, line = problem
            return f"{reason}: {what} (cell {index}, line {line})"
    return None


def _cell_problem(tree: ast.Module, aliases: dict[str, str], frames: set[str]) -> tuple[str, str, int] | None:
    """(reason, what matched, line in the cell) of the cell's first problem."""
    nodes = walk(tree)
    for node in nodes:  # imports first: names of this cell may use them
        kind = type(node)
        if kind is ast.Import:
            for alias in node.names:
                reason = _module_problem(alias.name)
                if reason:
                    return reason, alias.name, node.lineno
                head = alias.name.split(".")[0]
                aliases[alias.asname or head] = alias.name if alias.asname else head
        elif kind is ast.ImportFrom and node.level == 0 and node.module:
            reason = _module_problem(node.module)
            if reason:
                return reason, node.module, node.lineno
            for alias in node.names:
                if alias.name == "*":
                    continue
                full = f"{node.module}.{alias.name}"
                if _checked(full) and not _exists(full):
                    return "removed_api", full, node.lineno
                aliases[alias.asname or alias.name] = full
    for node in nodes:
        if type(node) is ast.Assign and _pandas_valued(node.value, aliases, frames):
            frames.update(target.id for target in node.targets if type(target) is ast.Name)
    for node in nodes:
        kind = type(node)
        if kind is ast.Attribute:
            if node.attr in REMOVED_METHODS and _removed_method(node.attr):
                return "removed_api", f"DataFrame.{node.attr}", node.lineno
            full = _resolved(node, aliases)
            if full is not None and _checked(full) and not _exists(full):
                return "removed_api", full, node.lineno
        elif kind is ast.Call:
            what = _call_problem(node, aliases, frames)
            if what:
                return "removed_api", what, node.lineno
    return None


def _call_problem(node: ast.Call, aliases: dict[str, str], frames: set[str]) -> str | None:
    """What of the call the installed libraries no longer take (`DataFrame.append`,
    `fillna(method=)`, `resample("M")`); None when nothing."""
    func = node.func
    full = _resolved(func, aliases) if type(func) in (ast.Name, ast.Attribute) else None
    keywords = [k.arg for k in node.keywords if k.arg is not None]
    if full is not None:  # a function of a module: its keywords and, for some, a frequency
        if not _checked(full):
            return None
        if keywords and not _accepts(full, tuple(keywords)):
            return f"{full}({', '.join(k + '=' for k in keywords)})"
        freq = _argument_string(node, None, "freq")  # (given by keyword: its position varies)
        if full in FREQUENCY_FUNCTIONS and freq is not None and not _valid_frequency(freq):
            return f"{full}(freq={freq!r})"
        return None
    if type(func) is not ast.Attribute:
        return None
    method = func.attr
    if method == "append" and type(func.value) is ast.Name and func.value.id in frames:
        # (an Index still has `append`)
        return "DataFrame.append" if _removed_method(method, frames_only=True) else None
    if method in KEYWORD_CHECKED_METHODS and keywords and not _method_accepts(method, tuple(keywords)):
        return f"{method}({', '.join(k + '=' for k in keywords)})"
    if method in FREQUENCY_METHODS:
        freq = _argument_string(node, 0, "rule" if method == "resample" else "freq")
        if freq is not None and not _valid_frequency(freq):
            return f"{method}({freq!r})"
    return None


def _pandas_valued(node: ast.AST, aliases: dict[str, str], frames: set[str]) -> bool:
    kind = type(node)
    if kind is ast.Subscript:  # df["a"], df.loc[rows]
        node = node.value.value if type(node.value) is ast.Attribute and node.value.attr in ("loc", "iloc") else node.value
        return type(node) is ast.Name and node.id in frames
    if kind is not ast.Call:
        return False
    func = node.func
    if type(func) is ast.Attribute and type(func.value) is ast.Name and func.value.id in frames:
        return func.attr in FRAME_METHODS
    full = _resolved(func, aliases)
    if full is None or not full.startswith("pandas."):
        return False
    name = full.rsplit(".", 1)[-1]
    return name.startswith("read_") or name in PANDAS_FACTORIES


def _resolved(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """`pandas.read_csv` for `pd.read_csv` after `import pandas as pd`; None when the head is no import."""
    dotted = dotted_name(node)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    if head not in aliases:
        return None
    return f"{aliases[head]}.{rest}" if rest else aliases[head]


def _argument_string(node: ast.Call, position: int | None, keyword: str) -> str | None:
    for item in node.keywords:
        if item.arg == keyword:
            value = item.value
            break
    else:
        value = node.args[position] if position is not None and len(node.args) > position else None
    return value.value if type(value) is ast.Constant and type(value.value) is str else None


def _checked(full: str) -> bool:
    return full.split(".")[0] in CHECKED_LIBRARIES


@functools.lru_cache(maxsize=4096)
def _module_problem(module: str) -> str | None:
    """`missing_module` when the module's package is not installed; `removed_api` when the
    package is, but not this module of it (`sklearn.cross_validation`)."""
    top = module.split(".")[0]
    try:
        if importlib.util.find_spec(top) is None:
            return "missing_module"
    except (ImportError, ValueError):
        return "missing_module"
    if top in CHECKED_LIBRARIES and module != top and not _exists(module):
        return "removed_api"
    return None


@functools.lru_cache(maxsize=8192)
def _lookup(full: str) -> Any:
    """The object `full` names in an installed library (importing submodules as needed), or
    `_MISSING`."""
    # asking whether a name exists must not print the library's warnings about it (NumPy warns
    # on `hasattr(np, "object")`): the user sees them in `inspect`'s output, not the notebook's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = full.split(".")
        try:
            value: Any = importlib.import_module(parts[0])
        except Exception:  # noqa: BLE001 - a library that fails to import cannot be used either
            return _MISSING
        for depth, part in enumerate(parts[1:], start=1):
            if hasattr(value, part):
                value = getattr(value, part)
                continue
            try:
                value = importlib.import_module(".".join(parts[: depth + 1]))
            except Exception:  # noqa: BLE001
                return _MISSING
        return value


_MISSING = object()


def _exists(full: str) -> bool:
    return _lookup(full) is not _MISSING


@functools.lru_cache(maxsize=4096)
def _accepts(full: str, keywords: tuple[str, ...]) -> bool:
    return _signature_accepts(_lookup(full), keywords)


@functools.lru_cache(maxsize=1024)
def _method_accepts(method: str, keywords: tuple[str, ...]) -> bool:
    """Whether some pandas type's `method` takes these keywords (the receiver's type is unknown)."""
    import pandas as pd

    with warnings.catch_warnings():  # as in _lookup
        warnings.simplefilter("ignore")
        owners = [getattr(owner, method) for owner in (pd.DataFrame, pd.Series) if hasattr(owner, method)]
    return not owners or any(_signature_accepts(function, keywords) for function in owners)


def _signature_accepts(function: Any, keywords: tuple[str, ...]) -> bool:
    if function is _MISSING or not callable(function):
        return True  # reported by the name check, or not a call at all
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True  # a builtin without a signature: nothing to check against
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return True
    names = {p.name for p in parameters if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    return all(keyword in names for keyword in keywords)


@functools.lru_cache(maxsize=1024)
def _removed_method(method: str, frames_only: bool = False) -> bool:
    import pandas as pd

    owners = (pd.DataFrame, pd.Series) if frames_only else (pd.DataFrame, pd.Series, pd.Index)
    with warnings.catch_warnings():  # as in _lookup: a deprecated method may warn when asked for
        warnings.simplefilter("ignore")
        return not any(hasattr(owner, method) for owner in owners)


@functools.lru_cache(maxsize=1024)
def _valid_frequency(alias: str) -> bool:
    from pandas.tseries.frequencies import to_offset

    try:
        to_offset(alias)
    except (ValueError, TypeError):
        return False
    return True
