"""Near-duplicate notebooks: MinHash signatures of code shingles, banded LSH, one survivor per cluster.

What is compared: the normalised code of a notebook (`normalized_code`: comments, blank lines and
whitespace runs dropped), cut into units (code tokens, or whole lines), and the set of its n-grams
of units (shingles).

Signatures are exactly datasketch's: for any text,
`signatures([text], config)[0]` equals the `hashvalues` of

    MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=shingle_hash32, scheme="affine32")
    .update_batch(shingles(text, config))

so signatures can be checked with datasketch and reused with `LeanMinHash` and `MinHashLSH`:
`LeanMinHash(seed=config.seed, hashvalues=signature, scheme="affine32")`, where a key's signature
is `np.frombuffer(key.signature, "<u4")`.
They are computed without a Python call per shingle: tokens are hashed once, vectorised
(`hashing.py`), n-gram hashes are polynomials of token hashes, and the affine32 permutations are
applied to (num_perm x shingles) blocks in numpy.

The step runs in two phases (see `step.GlobalStep`):
- `minhash_map(batch)`: one small `MinHashKey` per kept notebook (uid, band keys, the survivor-rule
  fields, and the signature when `confirm` is on), so parts can be written and run anywhere.
- `minhash_reduce(keys)`: groups equal band keys, confirms candidate pairs, clusters them with
  union-find and keeps one notebook per cluster; it holds keys and ids, never notebooks.

Survivor rule (deterministic, independent of input order): the notebook with the most data
references resolved ("found"), then the most executed code cells, then the smallest uid. The others
are dropped with reason `near_duplicate:<survivor uid>`.

Edge cases:
- A notebook with fewer units than one shingle (no code, or a few tokens) gets no signature and is
  never merged here: there is too little code to call two notebooks near copies, and identical
  ones are exact dedup's to remove.
- Identical notebooks (with enough code) have equal signatures and fall into one cluster; the rule
  above picks the survivor.
"""

from __future__ import annotations

import functools
from array import array
from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
from pydantic import Field

from nbqa_builder.dedup.hashing import (
    SHINGLE_SEP,
    combine_token_hashes,
    shingle_hash32,
    token_hashes,
    tokens,
)
from nbqa_builder.dedup.normalize import normalized_code
from nbqa_builder.records import FOUND, Notebook
from nbqa_builder.step import StepConfig

SCHEME = "affine32"  # datasketch's permutation scheme that our signatures reproduce
REASON_PREFIX = "near_duplicate:"
# datasketch.MinHashLSH's default weights: false positives and false negatives count the same.
FALSE_POSITIVE_WEIGHT = FALSE_NEGATIVE_WEIGHT = 0.5
_EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's value for a permutation that saw no shingle
_DOCS_PER_BLOCK = 1024  # documents tokenised together: bounds the temporary arrays
# Columns of one (permutations x shingles) block: numpy's broadcast multiply takes a slow path below
# about 4096 columns, and per-block bookkeeping costs more than cache misses (measured: 27 us per
# 800-token document at 8192, 40 at 4096).
_SHINGLES_PER_BLOCK = 8192
# Permutations applied together: a 32 x 8192 block is 1 MB and stays in a core's L2 cache while
# it is multiplied, added to and reduced, where the whole 128 x 8192 (4 MB) went out to memory
# between those passes (measured: 40 us instead of 57 us per 835-token document).
_PERMS_PER_PASS = 32
# Confirmation compares each member of an LSH bucket (in uid order) with the _WINDOW members before
# it and with the bucket's first member: all pairs of buckets up to _WINDOW + 1, and a number of
# pairs linear in the size of larger ones (boilerplate notebooks can fill buckets of thousands).
_WINDOW = 8
_PAIRS_PER_BLOCK = 1 << 16  # candidate pairs compared at once: 2 x 32 MB of gathered signatures


class MinHashConfig(StepConfig):
    """Settings of near-duplicate detection."""

    # Estimated Jaccard similarity of shingle sets at or above which two notebooks are copies;
    # 0.7 on 5-grams is what BigCode's near-dedup of source code used (bigcode-dataset).
    threshold: float = Field(0.7, gt=0.0, lt=1.0)
    # Permutations per signature: datasketch's default; standard error of a Jaccard estimate
    # near 0.7 is about 0.04, and a signature is 512 bytes (0.8 GB for the paper's 1.6 M notebooks).
    num_perm: int = Field(128, ge=2)
    # Units per shingle: 5 tokens span about one short statement, so one edited statement changes
    # only the shingles around it (BigCode's choice for code as well).
    ngram: int = Field(5, ge=1)
    # What a unit is: code tokens (robust to re-spacing) or whole normalised lines (coarser:
    # one edited character changes every shingle of its line).
    unit: Literal["tokens", "lines"] = "tokens"
    # Seed of the permutations: datasketch's default, so MinHash(num_perm, hashfunc=...) matches.
    seed: int = 1
    # Check each LSH candidate pair's estimated Jaccard against the threshold before merging:
    # without it, pairs that share a band by chance merge and union-find chains them into large
    # clusters. Costs num_perm * 4 bytes per notebook at the reduce (512 MB per million).
    confirm: bool = True


@dataclass(frozen=True, slots=True)
class MinHashKey:
    """What the map emits per notebook and the reduce needs; small and picklable."""

    uid: str
    band_keys: bytes  # `bands` little-endian uint64 hashes; b"" when the notebook has no shingle
    found_refs: int  # data references with status "found" (survivor rule, first)
    executed_cells: int  # code cells with an execution count (survivor rule, second)
    signature: bytes = b""  # num_perm little-endian uint32, only when `confirm` is on


# --------------------------------------------------------------------------------------------
# Shingles and signatures


def _units(text: str, config: MinHashConfig) -> list[bytes]:
    code = text.encode("utf-8")
    if config.unit == "tokens":
        return tokens(code)
    return [line for line in code.split(b"\n") if line]


def shingles(text: str, config: MinHashConfig) -> list[bytes]:
    """The shingles of normalised code, as datasketch would be given them (reference path)."""
    units = _units(text, config)
    n = config.ngram
    return [SHINGLE_SEP.join(units[i : i + n]) for i in range(len(units) - n + 1)]


def datasketch_minhash(text: str, config: MinHashConfig):
    """The datasketch MinHash of a text, computed by datasketch itself (slow; for checking)."""
    from datasketch import MinHash

    minhash = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=shingle_hash32, scheme=SCHEME)
    minhash.update_batch(shingles(text, config))
    return minhash


@functools.lru_cache(maxsize=16)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a, b) for these settings."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    assert a.dtype == np.uint32 and b.dtype == np.uint32 and a.shape == (num_perm,)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer: datasketch's affine32 pre-mix of every input hash."""
    h = h ^ (h >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _shingle_hashes(texts: list[str], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Hash of every shingle of every text and the index of its text, grouped by text."""
    if config.unit == "tokens":
        unit_hashes, doc_of_unit = token_hashes([t.encode("utf-8") for t in texts])
    else:
        import xxhash

        units = [_units(t, config) for t in texts]
        unit_hashes = np.fromiter(
            (xxhash.xxh32_intdigest(u) for us in units for u in us), dtype=np.uint32, count=sum(map(len, units))
        )
        doc_of_unit = np.repeat(np.arange(len(texts)), [len(us) for us in units])
    return combine_token_hashes(unit_hashes, doc_of_unit, config.ngram)


def _min_permuted(hashes: np.ndarray, doc_of_hash: np.ndarray, n_docs: int, config: MinHashConfig) -> np.ndarray:
    """Per document, the minimum over its shingles of each permutation a*fmix(h)+b mod 2**32."""
    a, b = _permutations(config.num_perm, config.seed)
    a_col, b_col = a[:, None], b[:, None]
    sig_t = np.full((config.num_perm, n_docs), _EMPTY, dtype=np.uint32)  # permutation-major: fast reduceat
    block = np.empty((min(_PERMS_PER_PASS, config.num_perm), _SHINGLES_PER_BLOCK), dtype=np.uint32)
    with np.errstate(over="ignore"):
        mixed = _fmix32(hashes.copy())
        for lo in range(0, len(mixed), _SHINGLES_PER_BLOCK):
            h = mixed[lo : lo + _SHINGLES_PER_BLOCK]
            docs = doc_of_hash[lo : lo + _SHINGLES_PER_BLOCK]
            seg_starts = np.flatnonzero(np.concatenate(([True], docs[1:] != docs[:-1])))
            seg_docs = docs[seg_starts]  # distinct: shingles are grouped by document
            for p in range(0, config.num_perm, _PERMS_PER_PASS):
                rows = slice(p, p + _PERMS_PER_PASS)
                out = block[: len(a_col[rows]), : len(h)]
                np.multiply(a_col[rows], h[None, :], out=out)
                np.add(out, b_col[rows], out=out)
                seg_min = np.minimum.reduceat(out, seg_starts, axis=1)
                sig_t[rows, seg_docs] = np.minimum(sig_t[rows, seg_docs], seg_min)
    return np.ascontiguousarray(sig_t.T)


def signatures_and_counts(texts: list[str], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures (n, num_perm) uint32 of normalised code texts, and each text's shingle count."""
    sigs = np.empty((len(texts), config.num_perm), dtype=np.uint32)
    counts = np.zeros(len(texts), dtype=np.int64)
    for lo in range(0, len(texts), _DOCS_PER_BLOCK):
        part = texts[lo : lo + _DOCS_PER_BLOCK]
        hashes, doc_of_hash = _shingle_hashes(part, config)
        sigs[lo : lo + len(part)] = _min_permuted(hashes, doc_of_hash, len(part), config)
        counts[lo : lo + len(part)] = np.bincount(doc_of_hash, minlength=len(part))
    assert sigs.shape == (len(texts), config.num_perm) and sigs.dtype == np.uint32
    return sigs, counts


def signatures(texts: list[str], config: MinHashConfig) -> np.ndarray:
    """MinHash signatures (n, num_perm) uint32, equal to datasketch's `hashvalues` for each text.

    A text without a shingle gets datasketch's empty signature (all 2**32-1).
    """
    return signatures_and_counts(texts, config)[0]


# --------------------------------------------------------------------------------------------
# Banded LSH


@functools.lru_cache(maxsize=64)
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) for a Jaccard threshold, as datasketch.MinHashLSH chooses them."""
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, FALSE_POSITIVE_WEIGHT, FALSE_NEGATIVE_WEIGHT)
    assert bands * rows <= num_perm
    return bands, rows


def band_keys(sigs: np.ndarray, config: MinHashConfig) -> np.ndarray:
    """(n, bands) uint64: a hash of each band's rows; equal keys mean an equal band (up to 2**-64)."""
    assert sigs.ndim == 2 and sigs.shape[1] == config.num_perm and sigs.dtype == np.uint32, sigs.shape
    bands, rows = lsh_bands(config.threshold, config.num_perm)
    keys = np.zeros((len(sigs), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys *= np.uint64(0x9E3779B97F4A7C15)  # odd, so the fold is injective per step
            # row r of every band (band j is columns [j*rows, (j+1)*rows), as in MinHashLSH)
            keys += sigs[:, r : bands * rows : rows].astype(np.uint64)
        # A final 64-bit mix, so keys spread evenly whatever the structure of the values.
        keys ^= keys >> np.uint64(33)
        keys *= np.uint64(0xFF51AFD7ED558CCD)
        keys ^= keys >> np.uint64(33)
    return keys


# --------------------------------------------------------------------------------------------
# Map and reduce


def minhash_map(batch: list[Notebook], config: MinHashConfig) -> list[MinHashKey]:
    """One key per kept notebook of the batch."""
    kept = [nb for nb in batch if nb.kept]
    sigs, counts = signatures_and_counts([normalized_code(nb) for nb in kept], config)
    keys = band_keys(sigs, config)
    out = []
    for nb, sig, key, count in zip(kept, sigs, keys, counts):
        has_shingles = count > 0
        out.append(
            MinHashKey(
                uid=nb.uid,
                band_keys=key.astype("<u8").tobytes() if has_shingles else b"",
                found_refs=sum(ref.status == FOUND for ref in nb.data_refs),
                executed_cells=sum(c.execution_count is not None for c in nb.code_cells),
                signature=sig.astype("<u4").tobytes() if has_shingles and config.confirm else b"",
            )
        )
    return out


@dataclass
class _KeyColumns:
    """The reduce's whole state: keys as columns, rows in uid order (index order = uid order)."""

    uids: list[str]
    band_keys: np.ndarray  # (n, bands) uint64
    found_refs: np.ndarray  # (n,) int64
    executed_cells: np.ndarray  # (n,) int64
    signatures: np.ndarray | None  # (n, num_perm) uint32 when confirming, in arrival order
    arrival_row: np.ndarray  # (n,) row of each (uid-ordered) notebook in `signatures`


def _collect(keys: Iterable[MinHashKey], config: MinHashConfig) -> _KeyColumns:
    bands, _ = lsh_bands(config.threshold, config.num_perm)
    key_size, sig_size = bands * 8, config.num_perm * 4
    uids: list[str] = []
    band_buf, sig_buf = bytearray(), bytearray()
    found, executed = array("q"), array("q")
    for key in keys:
        if not key.band_keys:
            continue  # no shingle: never merged (see the module docstring)
        if len(key.band_keys) != key_size or (config.confirm and len(key.signature) != sig_size):
            raise ValueError(
                f"minhash key of {key.uid!r} has {len(key.band_keys)} band-key and {len(key.signature)} "
                f"signature bytes, expected {key_size} and {sig_size if config.confirm else 'any'}: "
                "it was made with other settings"
            )
        uids.append(key.uid)
        band_buf += key.band_keys
        found.append(key.found_refs)
        executed.append(key.executed_cells)
        if config.confirm:
            sig_buf += key.signature
    n = len(uids)
    order = sorted(range(n), key=uids.__getitem__)
    uids = [uids[i] for i in order]
    for prev, cur in zip(uids, uids[1:]):
        if prev == cur:
            raise ValueError(f"two minhash keys share the uid {cur!r}: uids must be unique within a run")
    perm = np.asarray(order, dtype=np.int64)
    band_mat = np.frombuffer(band_buf, dtype="<u8").reshape(n, bands)[perm].astype(np.uint64)
    del band_buf
    # Signatures stay in arrival order (read through `arrival_row`): reordering them would copy
    # the reduce's largest array (512 MB per million notebooks).
    sigs = np.frombuffer(sig_buf, dtype="<u4").reshape(n, config.num_perm) if config.confirm else None
    found_arr, executed_arr = np.asarray(found, dtype=np.int64)[perm], np.asarray(executed, dtype=np.int64)[perm]
    return _KeyColumns(uids, band_mat, found_arr, executed_arr, sigs, perm)


def _candidate_pairs(band_mat: np.ndarray, window: int) -> np.ndarray:
    """Pairs (i < j) that share a band key, encoded i << 32 | j, unique and sorted.

    Per bucket: each member with the bucket's first, and (window > 0) with the `window` before it.
    """
    found = [bucket_pairs(col, window) for col in band_mat.T]
    if not found:
        return np.empty(0, dtype=np.uint64)
    return np.unique(np.concatenate(found))


def bucket_pairs(col: np.ndarray, window: int) -> np.ndarray:
    """The candidate pairs of one band: `col[i]` is row i's key of the band, rows in uid order.
    Pairs (i < j) encoded i << 32 | j, not unique (the sharded reduce runs this per shard)."""
    order = np.argsort(col, kind="stable")  # stable: within a bucket, index (= uid) order
    sorted_keys = col[order]
    new_bucket = np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1]))
    if new_bucket.all():
        return np.empty(0, dtype=np.uint64)
    bucket = np.cumsum(new_bucket) - 1
    head = order[np.flatnonzero(new_bucket)][bucket]
    later = ~new_bucket
    found = [(head[later].astype(np.uint64) << np.uint64(32)) | order[later].astype(np.uint64)]
    for d in range(1, window + 1):
        same = bucket[d:] == bucket[:-d]
        if not same.any():
            break
        i, j = order[:-d][same], order[d:][same]
        found.append((i.astype(np.uint64) << np.uint64(32)) | j.astype(np.uint64))
    return np.concatenate(found)


def _confirmed(pairs: np.ndarray, sigs: np.ndarray, arrival_row: np.ndarray, threshold: float) -> np.ndarray:
    """The pairs whose estimated Jaccard (share of equal signature values) reaches the threshold."""
    keep = np.zeros(len(pairs), dtype=bool)
    need = threshold * sigs.shape[1]
    for lo in range(0, len(pairs), _PAIRS_PER_BLOCK):
        block = pairs[lo : lo + _PAIRS_PER_BLOCK]
        i = arrival_row[(block >> np.uint64(32)).astype(np.int64)]
        j = arrival_row[(block & np.uint64(0xFFFFFFFF)).astype(np.int64)]
        keep[lo : lo + len(block)] = np.count_nonzero(sigs[i] == sigs[j], axis=1) >= need
    return pairs[keep]


def _cluster_roots(pairs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Union-find over the pairs: the notebooks in any pair, and the smallest index of each's cluster."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    lo = (pairs >> np.uint64(32)).astype(np.int64)
    hi = (pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)
    for i, j in zip(lo.tolist(), hi.tolist()):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    members = np.unique(np.concatenate((lo, hi)))
    roots = np.fromiter((find(x) for x in members.tolist()), dtype=np.int64, count=len(members))
    return members, roots


def minhash_reduce(keys: Iterable[MinHashKey], config: MinHashConfig) -> dict[str, str]:
    """All keys in, `{uid: "near_duplicate:<survivor uid>"}` out for the notebooks to drop."""
    cols = _collect(keys, config)
    n = len(cols.uids)
    assert n < 1 << 32, "pair encoding holds 32-bit indices"
    pairs = _candidate_pairs(cols.band_keys, _WINDOW if config.confirm else 0)
    if config.confirm:
        pairs = _confirmed(pairs, cols.signatures, cols.arrival_row, config.threshold)
    return drops_of_clusters(cols.uids, cols.found_refs, cols.executed_cells, pairs)


def drops_of_clusters(uids: list[str], found_refs: np.ndarray, executed_cells: np.ndarray,
                      pairs: np.ndarray) -> dict[str, str]:
    """Cluster confirmed pairs (indices into `uids`, which are in uid order) and keep one
    notebook per cluster: `{uid: "near_duplicate:<survivor uid>"}` for the others."""
    members, roots = _cluster_roots(pairs, len(uids))
    if not len(members):
        return {}
    # Survivor first within each cluster: most found refs, most executed cells, smallest uid.
    order = np.lexsort((members, -executed_cells[members], -found_refs[members], roots))
    members, roots = members[order], roots[order]
    first = np.concatenate(([True], roots[1:] != roots[:-1]))
    survivor_of = members[first][np.cumsum(first) - 1]
    return {
        uids[m]: REASON_PREFIX + uids[s]
        for m, s in zip(members[~first].tolist(), survivor_of[~first].tolist())
    }
