"""Paths as the analysis of a notebook's reads holds them (deps/analyze.py): the values a folded path
expression takes (a `pathlib.Path`, a glob pattern, one of its matches), and the spellings of a path
that deps/ compares (a URL or a file; one form for `./a\\b.csv` and `a/b.csv`).
"""

from __future__ import annotations

import posixpath

URL_SCHEMES = ("http://", "https://", "ftp://", "s3://", "gs://", "gcs://", "az://", "abfs://", "hdfs://")


class PathValue(str):
    """A folded `pathlib.Path`, kept as its POSIX string (so `/` joins and `.read_text` reads)."""


class GlobPattern(str):
    """A folded `glob.glob(pattern)`: the list of the files it matches, kept as the pattern."""


class GlobMatch(str):
    """A name bound by a loop over a GlobPattern: any one of the files the pattern matches."""


def path_value(path: str | None) -> PathValue | None:
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
