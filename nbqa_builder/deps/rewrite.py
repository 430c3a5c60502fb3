"""Reads that the sandbox cannot serve as written, rewritten in the code to the local file.

A notebook that reads its own repository through a URL
(`pd.read_csv("https://raw.githubusercontent.com/OWNER/REPO/master/data/x.csv")`), or through an
absolute path of its author's machine (`C:\\Users\\me\\data\\x.csv`) whose file the resolver found
in the repository, fails offline in the sandbox at that read. Where the path is a string constant
of the code, it is replaced by the file's path relative to the notebook's folder, in the cells
themselves: the execute and verify steps, and the solutions of the tasks, then all run the
rewritten code, with the file placed where it now reads it. A path that is no constant (built by
`BASE + name`) is left as it is, and its read stays a network read or a missing file.
"""

from __future__ import annotations

import ast
import posixpath

from nbqa_builder.notebooks.code import parse_cell, walk
from nbqa_builder.records import FILE, FOUND, DataRef, Notebook, code_path


def local_targets(notebook: Notebook, refs: list[DataRef]) -> dict[str, str]:
    """As written -> the file's path relative to the notebook's folder, for each found read
    whose spelling no folder can hold (a URL, an absolute path)."""
    notebook_dir = posixpath.dirname(notebook.path.replace("\\", "/"))
    return {
        ref.as_written: posixpath.relpath(ref.resolved, notebook_dir or ".")
        for ref in refs
        if ref.status == FOUND and ref.kind == FILE and ref.resolved and code_path(ref.as_written) is None
    }


def rewrite_reads(notebook: Notebook, targets: dict[str, str]) -> dict[str, str]:
    """Replace every string constant of the code cells that equals a key of `targets` by its
    value; returns what was rewritten (as written -> local path). Cached analyses of the cells
    are dropped, since their code changed."""
    rewritten: dict[str, str] = {}
    for cell in notebook.code_cells:
        if not any(written in cell.source for written in targets):
            continue  # a constant split over several literals is not rewritten: its read stays as it is
        tree = parse_cell(cell.source)
        if tree is None:
            continue
        inside_fstrings = {id(part) for node in walk(tree) if type(node) is ast.JoinedStr for part in node.values}
        constants = [node for node in walk(tree) if type(node) is ast.Constant and type(node.value) is str
                     and node.value in targets and id(node) not in inside_fstrings]
        if constants:
            cell.source = _replaced(cell.source, [(node, repr(targets[node.value])) for node in constants])
            rewritten.update((node.value, targets[node.value]) for node in constants)
    if rewritten:
        notebook.cache.clear()
    return rewritten


def _replaced(source: str, edits: list[tuple[ast.expr, str]]) -> str:
    """`source` with each node's text replaced (ast offsets count UTF-8 bytes; magics were
    replaced by whole lines, so offsets of the parsed text hold for the cell's own)."""
    lines = source.splitlines(keepends=True)
    for node, text in sorted(edits, key=lambda edit: (edit[0].lineno, edit[0].col_offset), reverse=True):
        first, last = node.lineno - 1, node.end_lineno - 1
        head = lines[first].encode()[: node.col_offset].decode()
        tail = lines[last].encode()[node.end_col_offset :].decode()
        lines[first : last + 1] = [head + text + tail]
    return "".join(lines)
