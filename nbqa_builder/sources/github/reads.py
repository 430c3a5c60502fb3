"""The files a repository's notebooks read, found in its tree before they are fetched.

The crawl chooses data files by extension, but notebooks also read files with none, or with
another one (`pd.read_csv('./data/popularity-contest', sep='|')`). Once a repository's notebooks
are in the mirror, their reads are found and resolved the way the `deps` step will later do it
(deps/analyze.py, deps/resolve.py), against the repository's tree as listed, and the files they name
are fetched too; so is any file that a string of their code names by its path (from the notebook's
folder or the repository root), which catches readers `deps` does not know
(`HTML(filename='data/titanic.html')`). A file fetched for nothing costs little; one missed makes
its notebook a drop.
"""

from __future__ import annotations

import logging
import posixpath
import re

from nbqa_builder.deps.analyze import find_data_refs
from nbqa_builder.deps.fetched import FetchedIndex
from nbqa_builder.deps.resolve import FileInfo, resolve_data_refs
from nbqa_builder.notebooks.parse import NotebookError, load_json, to_cells, validate_notebook
from nbqa_builder.records import Notebook

log = logging.getLogger("nbqa_builder.sources.github")


class TreeListing:
    """A repository's files as listed by its tree, shaped as the deps resolver reads a folder
    (deps.resolve.RepoFiles): the paths, an index by file name, the facts of a file."""

    def __init__(self, sizes: dict[str, int]):
        self.sizes = sizes
        self.paths = set(sizes)
        self.fetched = FetchedIndex({}, {})  # URL reads are fetched after the repository's own files
        self.by_name: dict[str, list[str]] = {}
        for path in sorted(sizes):
            self.by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)

    def __contains__(self, path: str) -> bool:
        return path in self.paths

    def __len__(self) -> int:
        return len(self.paths)

    def info(self, path: str) -> FileInfo | None:
        # not fetched yet: no hash, no row count
        return FileInfo(sha256=None, size=self.sizes[path], rows=None) if path in self.paths else None


def files_read_by(notebooks: dict[str, bytes], repo: str, tree: TreeListing) -> set[str]:
    """Paths of `tree` that the notebooks (path -> bytes) read. A notebook that is not valid reads
    nothing here: the validate step will drop it."""
    read: set[str] = set()
    for path, raw in notebooks.items():
        try:
            cells = to_cells(validate_notebook(load_json(raw)))
        except NotebookError as exc:
            log.debug("%s:%s: not scanned for reads (%s)", repo, path, exc)
            continue
        refs = find_data_refs(cells)
        resolve_data_refs(Notebook(notebook_id="", repo=repo, path=path), refs, tree)
        read.update(ref.resolved for ref in refs if ref.resolved)
        folder = posixpath.dirname(path)
        for cell in cells:
            if cell.cell_type == "code":
                read.update(_paths_named(cell.source, folder, tree))
    return read


def _paths_named(code: str, folder: str, tree: TreeListing) -> set[str]:
    """Files of `tree` whose path a string literal of `code` spells, from `folder` or from the root."""
    named = set()
    for literal in _STRING.findall(code):
        text = literal.replace("\\\\", "/").replace("\\", "/")
        for candidate in (posixpath.join(folder, text), text):
            path = posixpath.normpath(candidate)
            if path in tree:
                named.add(path)
    return named


# a one-line string literal in single or double quotes (r"..." and f"..." prefixes aside)
_STRING = re.compile(r"""['"]([^'"\n]{1,300})['"]""")
