"""Dedup's reduce in shards, for clusters: no process holds every notebook's keys.

`DedupStep.reduce` reads all map keys in one process (1.6 GB for a million notebooks with
MinHash). On a cluster the same decisions are taken in three shuffle rounds, each a scatter
(per group of map parts: its keys cut into `n` pieces, one per shard) and a reduce per shard:

1. exact: keys go to the shard of their code hash; each shard settles its own groups.
2. bands: each kept notebook's band keys go to the shard of (band, key); each shard finds the
   candidate pairs of its buckets exactly as `minhash_reduce` does (members in uid order, each
   with the bucket's first and the 8 before it). Rows carry band, key and uid, not signatures.
3. confirm: each candidate pair (a, b) belongs to the shard of `a`; the notebooks of the pairs
   send their signature (and survivor-rule fields) to the shards that hold their pairs, and
   each shard keeps the pairs whose estimated Jaccard reaches the threshold.

The driver holds only what the rounds pass on: exact drops, candidate pairs and which shards
each paired notebook feeds, i.e. memory in the number of near-duplicates, not of notebooks. Union-find
over the confirmed pairs and the survivor rule then give the same drops as `DedupStep.reduce`
(the tests check that they are equal).

The executor supplies the two primitives (`ShuffleRunner`): run a scatter function over every
group of keys with the pieces kept where the executor keeps data (Ray's object store), and run a
reduce function per shard over that shard's pieces. `LocalShuffle` runs both in this process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import xxhash

from nbqa_builder.dedup.exact import exact_reduce
from nbqa_builder.dedup.minhash import (
    _WINDOW,
    MinHashConfig,
    MinHashKey,
    bucket_pairs,
    drops_of_clusters,
    lsh_bands,
)

Scatter = Callable[[list, Any, int], list]  # (keys of a group, broadcast, n_shards) -> n pieces
Reduce = Callable[[list, Any], Any]  # (the shard's pieces, the shard's own input) -> result


class ShuffleRunner(Protocol):
    def scatter(self, fn: Scatter, broadcast: Any, n_shards: int) -> Any:
        """Call `fn(keys, broadcast, n_shards)` on every group of map keys; return a handle on
        the pieces (group x shard)."""

    def reduce(self, fn: Reduce, scattered: Any, inputs: Sequence[Any]) -> list[Any]:
        """Call `fn(pieces of shard s from every group, inputs[s])` for every shard; results in shard order."""


def shard_of(text: str, n_shards: int) -> int:
    return xxhash.xxh64_intdigest(text.encode()) % n_shards


# ---------------------------------------------------------------------------------------------
# Round 1: exact duplicates


def scatter_exact(keys: list, dropped: Any, n_shards: int) -> list[list]:
    pieces: list[list] = [[] for _ in range(n_shards)]
    for kind, key in keys:
        if kind == "exact":
            pieces[int(key[0][:16], 16) % n_shards].append(key)
    return pieces


def reduce_exact(pieces: list[list], _: Any) -> dict[str, str]:
    return exact_reduce(chain.from_iterable(pieces))


# ---------------------------------------------------------------------------------------------
# Round 2: LSH buckets -> candidate pairs


@dataclass
class BandRows:
    """Rows (band, band key, uid) bound for one shard."""

    bands: np.ndarray  # uint8
    keys: np.ndarray  # uint64
    uids: list[str] = field(default_factory=list)  # one per row


def _minhash_keys(keys: list, dropped: frozenset | set | dict) -> list[MinHashKey]:
    return [key for kind, key in keys if kind == "minhash" and key.band_keys and key.uid not in dropped]


def scatter_bands(keys: list, dropped: Any, n_shards: int, config: MinHashConfig) -> list[BandRows]:
    bands, _ = lsh_bands(config.threshold, config.num_perm)
    mine = _minhash_keys(keys, dropped)
    for key in mine:
        if len(key.band_keys) != bands * 8:
            raise ValueError(f"minhash key of {key.uid!r} has {len(key.band_keys)} band-key bytes, "
                             f"expected {bands * 8}: it was made with other settings")
    matrix = np.frombuffer(b"".join(k.band_keys for k in mine), dtype="<u8").reshape(len(mine), bands)
    band_of = np.broadcast_to(np.arange(bands, dtype=np.uint8), matrix.shape)
    # the band takes part in the shard choice, so equal keys of different bands spread out
    with np.errstate(over="ignore"):
        shard = ((matrix ^ (band_of.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))) % np.uint64(n_shards))
    row_of = np.broadcast_to(np.arange(len(mine))[:, None], matrix.shape)
    pieces = []
    for s in range(n_shards):
        here = shard == s
        rows = row_of[here]
        pieces.append(BandRows(band_of[here].copy(), matrix[here].astype(np.uint64), [mine[r].uid for r in rows.tolist()]))
    return pieces


def reduce_bands(pieces: list[BandRows], _: Any, config: MinHashConfig) -> list[tuple[str, str]]:
    """Candidate pairs (a < b by uid) of the buckets of one shard."""
    bands = np.concatenate([p.bands for p in pieces]) if pieces else np.empty(0, np.uint8)
    keys = np.concatenate([p.keys for p in pieces]) if pieces else np.empty(0, np.uint64)
    uids = [uid for p in pieces for uid in p.uids]
    if not uids:
        return []
    distinct = sorted(set(uids))
    index = {uid: i for i, uid in enumerate(distinct)}
    rank = np.fromiter((index[u] for u in uids), dtype=np.int64, count=len(uids))
    window = _WINDOW if config.confirm else 0
    pairs = []
    for band in np.unique(bands).tolist():
        rows = np.flatnonzero(bands == band)
        rows = rows[np.argsort(rank[rows], kind="stable")]  # uid order, as bucket_pairs expects
        found = bucket_pairs(keys[rows], window)
        i = rank[rows[(found >> np.uint64(32)).astype(np.int64)]]
        j = rank[rows[(found & np.uint64(0xFFFFFFFF)).astype(np.int64)]]
        pairs.append(np.minimum(i, j) << 32 | np.maximum(i, j))
    encoded = np.unique(np.concatenate(pairs)) if pairs else np.empty(0, np.int64)
    return [(distinct[p >> 32], distinct[p & 0xFFFFFFFF]) for p in encoded.tolist()]


# ---------------------------------------------------------------------------------------------
# Round 3: confirm candidate pairs with signatures


def scatter_signatures(keys: list, needs: dict[str, list[int]], n_shards: int) -> list[list[tuple]]:
    pieces: list[list[tuple]] = [[] for _ in range(n_shards)]
    for kind, key in keys:
        if kind == "minhash" and key.uid in needs:
            for s in needs[key.uid]:
                pieces[s].append((key.uid, key.found_refs, key.executed_cells, key.signature))
    return pieces


def reduce_confirm(pieces: list[list[tuple]], pairs: list[tuple[str, str]], config: MinHashConfig) -> tuple[list, dict]:
    """The shard's pairs that reach the threshold, and the survivor-rule fields of their notebooks."""
    rows = {uid: (found, executed, sig) for piece in pieces for uid, found, executed, sig in piece}
    ranks = {}
    confirmed = []
    need = config.threshold * config.num_perm
    for a, b in pairs:
        if config.confirm:
            sig_a, sig_b = (np.frombuffer(rows[u][2], dtype="<u4") for u in (a, b))
            if sig_a.shape != (config.num_perm,) or sig_b.shape != (config.num_perm,):
                raise ValueError(f"minhash signatures of {a!r} or {b!r} are not {config.num_perm} values: "
                                 "they were made with other settings")
            if np.count_nonzero(sig_a == sig_b) < need:
                continue
        confirmed.append((a, b))
        for u in (a, b):
            ranks[u] = rows[u][:2]
    return confirmed, ranks


# ---------------------------------------------------------------------------------------------
# The driver


def sharded_dedup(runner: ShuffleRunner, n_shards: int, exact: bool, config: MinHashConfig | None) -> dict[str, str]:
    """The dedup step's drops, computed in shards; equal to `DedupStep.reduce` over the same keys."""
    drops: dict[str, str] = {}
    if exact:
        scattered = runner.scatter(scatter_exact, None, n_shards)
        for result in runner.reduce(reduce_exact, scattered, [None] * n_shards):
            drops.update(result)
    if config is None:
        return drops
    scattered = runner.scatter(functools.partial(scatter_bands, config=config), frozenset(drops), n_shards)
    candidates = sorted(set(chain.from_iterable(
        runner.reduce(functools.partial(reduce_bands, config=config), scattered, [None] * n_shards))))
    if not candidates:
        return drops
    by_shard: list[list[tuple[str, str]]] = [[] for _ in range(n_shards)]
    needs: dict[str, set[int]] = {}
    for a, b in candidates:
        s = shard_of(a, n_shards)
        by_shard[s].append((a, b))
        needs.setdefault(a, set()).add(s)
        needs.setdefault(b, set()).add(s)
    scattered = runner.scatter(scatter_signatures, {u: sorted(s) for u, s in needs.items()}, n_shards)
    results = runner.reduce(functools.partial(reduce_confirm, config=config), scattered, by_shard)
    ranks: dict[str, tuple[int, int]] = {}
    confirmed: list[tuple[str, str]] = []
    for pairs, shard_ranks in results:
        confirmed += pairs
        ranks.update(shard_ranks)
    uids = sorted(ranks)
    index = {uid: i for i, uid in enumerate(uids)}
    pairs = np.array([index[a] << 32 | index[b] for a, b in confirmed], dtype=np.uint64)
    found = np.array([ranks[u][0] for u in uids], dtype=np.int64)
    executed = np.array([ranks[u][1] for u in uids], dtype=np.int64)
    drops.update(drops_of_clusters(uids, found, executed, pairs))
    return drops


class LocalShuffle:
    """The shuffle in this process: key groups are read again for every round (from `read_group`)."""

    def __init__(self, n_groups: int, read_group: Callable[[int], list]) -> None:
        self.n_groups = n_groups
        self.read_group = read_group

    def scatter(self, fn: Scatter, broadcast: Any, n_shards: int) -> list[list]:
        return [fn(self.read_group(g), broadcast, n_shards) for g in range(self.n_groups)]

    def reduce(self, fn: Reduce, scattered: list[list], inputs: Sequence[Any]) -> list[Any]:
        return [fn([pieces[s] for pieces in scattered], inputs[s]) for s in range(len(inputs))]


def groups_of_parts(n_parts: int, n_groups: int) -> list[list[int]]:
    """Consecutive map parts cut into at most `n_groups` groups (one scatter task each)."""
    n_groups = max(1, min(n_groups, n_parts))
    bounds = np.linspace(0, n_parts, n_groups + 1).round().astype(int)
    return [list(range(lo, hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]

