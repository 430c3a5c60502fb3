"""The dedup step: exact duplicates of normalised code first, then (optionally) near duplicates.

Exact dedup runs first so that a group of identical copies is settled by the cheap, certain rule;
MinHash then sees only exact-dedup survivors. Both pick survivors by the same rule (most found
data files, then most executed cells, then smallest uid).
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

from nbqa_builder.dedup.exact import exact_map, exact_reduce
from nbqa_builder.dedup.minhash import MinHashConfig, minhash_map, minhash_reduce
from nbqa_builder.records import Notebook
from nbqa_builder.step import GlobalStep, StepConfig


class DedupConfig(StepConfig):
    # Forks and copies share code byte for byte once comments and whitespace are dropped.
    exact: bool = True
    # Near duplicates (edited copies, course templates): MinHash + LSH; None switches it off.
    minhash: MinHashConfig | None = None


class DedupStep(GlobalStep):
    name = "dedup"
    Config = DedupConfig
    requires: ClassVar[tuple[str, ...]] = ("validate",)

    def map(self, batch: list[Notebook]) -> list[Any]:
        keys: list[Any] = []
        if self.config.exact:
            keys += [("exact", key) for key in exact_map(batch)]
        if self.config.minhash is not None:
            keys += [("minhash", key) for key in minhash_map(batch, self.config.minhash)]
        return keys

    def reduce(self, keys: Iterable[Any]) -> dict[str, str]:
        exact_keys, minhash_keys = [], []
        for kind, key in keys:
            (exact_keys if kind == "exact" else minhash_keys).append(key)
        drops = exact_reduce(exact_keys)
        if self.config.minhash is not None:
            survivors = (key for key in minhash_keys if key.uid not in drops)
            drops.update(minhash_reduce(survivors, self.config.minhash))
        return drops

    def reduce_sharded(self, runner: Any, n_shards: int) -> dict[str, str]:
        """The same drops as `reduce`, computed in `n_shards` shards through an executor's
        shuffle (`dedup/sharded.py`), so that no process holds every notebook's keys."""
        from nbqa_builder.dedup.sharded import sharded_dedup

        return sharded_dedup(runner, n_shards, self.config.exact, self.config.minhash)
