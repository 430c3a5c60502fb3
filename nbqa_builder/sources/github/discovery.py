"""How the crawl finds repositories, shared by the crawl and its plan: a list file, and the limits of GitHub's search."""

from __future__ import annotations

import re
from pathlib import Path

from nbqa_builder.recipe import REPO_NAME
from nbqa_builder.sources.github.errors import CrawlError

# GitHub's result counts for code search are estimates: split a slice before it reaches the cap
NEAR_CAP = 0.9
SEARCH_PAGE = 100  # results per page, the most GitHub serves


def read_repository_list(path: str | Path) -> list[str]:
    """`owner/name` entries from a file: one a line, GitHub URLs accepted, `#` comments and blank lines skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CrawlError(f"{path}: cannot read the repository list: {exc}") from None
    names = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        text = re.sub(r"^(https?://)?(www\.)?github\.com/", "", text).removesuffix(".git").rstrip("/")
        if not re.fullmatch(REPO_NAME, text):
            raise CrawlError(f"{path}:{number}: {line.strip()!r} is not a GitHub owner/name or repository URL")
        names.append(text)
    return names
