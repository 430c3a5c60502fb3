"""The `print` rendering of a step's final expression: what a model should write and see.

27 of 28 notebook steps end in a bare expression whose display value is the stored output
(`np.float64(5.41)`); the sandboxes agents run in show only what is printed, so the same code
would observe nothing there. `export sft --final-expression print` (publish/steps.py) teaches the
printed code, and the search shows a policy what that code prints (search/states.py):

- `print_final_expression(code)`: `code` with its final bare expression wrapped in `print(...)`,
  unless it ends in `;` or is a call that shows itself (print, display, `.info()`, plots);
- `printed_text(shown)`: what print(value) shows, from what the notebook displayed for the value
  (a numpy scalar's repr loses its wrapper, a string its quotes).
"""

from __future__ import annotations

import ast
import re

from nbqa_builder.notebooks.code import dotted_name, parse_cell

FINAL_EXPRESSIONS = ("print", "keep")  # a step's final bare expression: printed, or kept as the notebook wrote it

# calls whose value is not what they show: they print or draw themselves and return None or an
# artist, so print(...) around them would add "None" or "Axes(0.125,0.11;0.775x0.77)"
_SHOWS_ITSELF = frozenset(("print", "display", "info", "show", "savefig", "plot", "hist", "bar", "barh", "scatter",
                           "boxplot", "heatmap", "pairplot", "countplot", "imshow", "pie", "legend", "title",
                           "xlabel", "ylabel", "tight_layout", "figure", "subplots"))
_DRAWING_PARTS = frozenset(("plt", "sns", "pyplot", "matplotlib", "seaborn", "px", "plot", "style"))
_NUMPY_SCALAR = re.compile(r"np\.[a-z]+\d*_?\((.*)\)")


def print_final_expression(code: str) -> str | None:
    """`code` with its final bare expression wrapped in `print(...)`; None when it has none to wrap."""
    tree = parse_cell(code)
    if tree is None or not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    statement = tree.body[-1]  # its span holds the parentheses around the expression, if any
    if isinstance(statement.value, (ast.Await, ast.Yield, ast.YieldFrom)) or _shows_itself(statement.value):
        return None
    lines = code.splitlines(keepends=True)
    start = _offset(lines, statement.lineno, statement.col_offset)
    end = _offset(lines, statement.end_lineno, statement.end_col_offset)
    if code[end:].lstrip(" \t").startswith(";"):  # `df.head();` shows nothing in a notebook
        return None
    return f"{code[:start]}print({code[start:end]}){code[end:]}"


def _shows_itself(value: ast.expr) -> bool:
    if not isinstance(value, ast.Call):
        return False
    name = dotted_name(value.func) or getattr(value.func, "attr", "")
    parts = name.split(".")
    return parts[-1] in _SHOWS_ITSELF or any(part in _DRAWING_PARTS for part in parts[:-1])


def _offset(lines: list[str], lineno: int, col_utf8: int) -> int:
    """Character offset in the source of an AST position (its column counts UTF-8 bytes)."""
    line = lines[lineno - 1]
    return sum(len(text) for text in lines[: lineno - 1]) + len(line.encode()[:col_utf8].decode(errors="ignore"))


def printed_text(shown: str) -> str:
    """What `print(value)` shows, from what the notebook displayed for `value`: a numpy scalar
    (`np.float64(5.41)`) prints its number, a string prints without quotes; tables, series and
    lists print as they display."""
    head, newline, last = shown.rstrip("\n").rpartition("\n")
    scalar = _NUMPY_SCALAR.fullmatch(last.strip())
    if scalar:
        last = scalar.group(1)
    if last[:1] in ("'", '"') and not head:
        try:
            value = ast.literal_eval(last)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, str):
            last = value
    return head + newline + last
