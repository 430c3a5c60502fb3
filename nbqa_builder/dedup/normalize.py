"""Normalised code: what exact and near-duplicate detection compare.

Comments, blank lines, and whitespace runs are dropped, so that two notebooks that differ only there
count as the same code. Outputs and markdown are not part of it.
"""

from __future__ import annotations

from nbqa_builder.records import Notebook


def strip_comment(line: str) -> str:
    """Cut a trailing `# comment` that is not inside a string literal (quote-parity heuristic)."""
    if "#" not in line:
        return line
    in_quote: str | None = None
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_quote:
            if ch == in_quote:
                in_quote = None
        elif ch in "'\"":
            in_quote = ch
        elif ch == "#":
            return line[:i]
    return line


def normalized_lines(code: str) -> list[str]:
    """Each line without its comment, whitespace runs as one space, ends stripped; blank ones dropped.

    `" ".join(line.split())` gives what `re.sub(r"\\s+", " ", line).strip()` gives (str.split and
    re's \\s agree on what whitespace is) at half the cost; bench/dedup.py times this step.
    """
    lines = []
    for line in code.splitlines():
        if "#" in line:
            line = strip_comment(line)
        words = line.split()
        if words:
            lines.append(" ".join(words))
    return lines


def normalized_code(notebook: Notebook) -> str:
    """All code cells of a notebook, normalised and joined by newlines."""
    return "\n".join(line for cell in notebook.code_cells for line in normalized_lines(cell.source))
