"""Exact duplicates: notebooks whose normalised code is identical (forks, copies, re-uploads).

Which copy survives is decided by `survivor_rank`, shared with near-duplicate removal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from nbqa_builder.dedup.normalize import normalized_code
from nbqa_builder.records import FOUND, Notebook


@dataclass(frozen=True)
class SurvivorRank:
    """Sorts best first: most found data files, then most executed cells, then smallest uid."""

    found_refs: int
    executed_cells: int
    uid: str

    def sort_key(self) -> tuple[int, int, str]:
        return (-self.found_refs, -self.executed_cells, self.uid)


def survivor_rank(notebook: Notebook) -> SurvivorRank:
    return SurvivorRank(
        found_refs=sum(1 for r in notebook.data_refs if r.status == FOUND),
        executed_cells=sum(1 for c in notebook.code_cells if c.execution_count is not None),
        uid=notebook.uid,
    )


def code_hash(notebook: Notebook) -> str:
    return hashlib.sha256(normalized_code(notebook).encode()).hexdigest()


def exact_map(batch: list[Notebook]) -> list[tuple[str, SurvivorRank]]:
    return [(code_hash(nb), survivor_rank(nb)) for nb in batch if nb.kept]


def exact_reduce(keys: Iterable[tuple[str, SurvivorRank]]) -> dict[str, str]:
    """`{uid: "exact_duplicate:<survivor uid>"}` for every copy but the best of each group."""
    best: dict[str, SurvivorRank] = {}
    members: dict[str, list[str]] = {}
    for digest, rank in keys:
        members.setdefault(digest, []).append(rank.uid)
        if digest not in best or rank.sort_key() < best[digest].sort_key():
            best[digest] = rank
    return {
        uid: f"exact_duplicate:{best[digest].uid}"
        for digest, uids in members.items()
        for uid in uids
        if uid != best[digest].uid
    }
