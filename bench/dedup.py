"""Benchmark of near-duplicate removal: signature throughput against datasketch, quality on planted
near-duplicates, and wall time and peak memory at 100 k and 1 M notebooks.

    python bench/dedup.py             # the whole benchmark, a few minutes on one core
    python bench/dedup.py --quick     # smaller sizes, to try it out

From code text to signatures, in the same run: ours, datasketch (its defaults, and given our hash
function: signatures checked equal to ours) and rensa (`RMinHash`, `CMinHash`; `pip install rensa`),
each fed the same shingles of the same tokens. rensa takes shingles, not text: its documents go
through the plain-Python shingler a rensa user writes (the fastest of those tried), and through its
batch entry points too; the best rensa variant is the baseline of `speedup_vs_rensa`.

The corpus is synthetic and known: code-like documents of about 800 tokens, some of them in
planted groups (a document and 1-4 edited copies at Jaccard 0.8-0.95 to it), some in "related"
pairs (the first 50-75% of the code shared, Jaccard 0.33-0.6: not duplicates), the rest unrelated. Every
document starts with the same import header, as notebooks do. Truth is the planted groups; a
predicted pair is two documents left in one cluster. The 100 k and 1 M runs each run in their own
process, so each peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nbqa_builder.dedup.hashing import SHINGLE_SEP, TOKEN_RE, shingle_hash32  # noqa: E402
from nbqa_builder.dedup.minhash import (  # noqa: E402
    MinHashConfig,
    MinHashKey,
    band_keys,
    minhash_map,
    minhash_reduce,
    shingles,
    signatures,
)
from nbqa_builder.records import Cell, Notebook  # noqa: E402

CONFIG = MinHashConfig()  # the recipe defaults: threshold 0.7, 128 permutations, token 5-grams
TOKENS_PER_DOC = 800
COMMON = (
    "import pandas as pd numpy np matplotlib pyplot plt df = ( ) [ ] . , : ' + - * / == "
    "print for in range if else return def read_csv groupby mean sum plot fit predict head 0 1 2 10"
).split()
HEADER = "import pandas as pd\nimport numpy as np\nimport matplotlib . pyplot as plt\ndf = pd . read_csv ( ' data . csv ' )"
N_IDENTIFIERS = 200_000


# ---------------------------------------------------------------------------------------------
# Corpus


class Corpus:
    """Token-id documents with planted near-duplicate groups; text built on demand."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.vocab = np.array(COMMON + [f"v{i}" for i in range(N_IDENTIFIERS)], dtype=object)
        self.n = n
        self.groups: list[list[int]] = []  # planted: [base, copy, ...]
        self.kinds = np.zeros(n, dtype=np.int8)  # 0 unrelated/base, 2 planted copy, 3 related second
        self.source = np.full(n, -1)  # the document a copy or related second derives from
        self.target_jaccard = np.zeros(n)
        i = 0
        while i < n:
            roll = self.rng.random()
            if roll < 0.15:  # a planted group: 15% of bases, 1-4 copies each (about 38% of docs)
                size = min(int(self.rng.integers(2, 6)), n - i)
                self.groups.append(list(range(i, i + size)))
                self.kinds[i + 1 : i + size], self.source[i + 1 : i + size] = 2, i
                self.target_jaccard[i + 1 : i + size] = self.rng.uniform(0.8, 0.95, size - 1)
                i += size
            elif roll < 0.2 and i + 1 < n:  # related pair (same template, own work): not duplicates
                self.kinds[i + 1], self.source[i + 1] = 3, i
                i += 2
            else:
                i += 1
        self.seeds = self.rng.integers(0, 2**63, n)

    def _random_tokens(self, rng: np.random.Generator, size: int) -> np.ndarray:
        common = rng.integers(0, len(COMMON), size)
        names = len(COMMON) + np.minimum(rng.zipf(1.3, size), N_IDENTIFIERS) - 1
        return np.where(rng.random(size) < 0.5, common, names)

    def _base_ids(self, i: int) -> np.ndarray:
        return self._random_tokens(np.random.default_rng(self.seeds[i]), TOKENS_PER_DOC)

    def token_ids(self, i: int) -> np.ndarray:
        kind = self.kinds[i]
        if kind == 2:  # edited copy of the group's base: spans replaced to hit the target Jaccard
            ids = self._base_ids(self.source[i]).copy()
            rng = np.random.default_rng(self.seeds[i])
            n_shingles = len(ids) - CONFIG.ngram + 1
            t = self.target_jaccard[i]
            changed = n_shingles * (1 - t) / (1 + t)  # shingles to replace: (S-k)/(S+k) = t
            spans = int(rng.integers(1, 4))
            span = max(1, round(changed / spans - (CONFIG.ngram - 1)))
            for start in rng.choice(len(ids) - span, spans, replace=False):
                ids[start : start + span] = self._random_tokens(rng, span)
            return ids
        if kind == 3:
            ids = self._base_ids(self.source[i]).copy()
            rng = np.random.default_rng(self.seeds[i])
            shared = int(len(ids) * rng.uniform(0.5, 0.75))  # Jaccard f/(2-f): 0.33-0.6
            ids[shared:] = self._random_tokens(rng, len(ids) - shared)  # same start, own rest
            return ids
        return self._base_ids(i)

    def text(self, i: int) -> str:
        ids = self.token_ids(i)
        words = self.vocab[ids]
        lines = [" ".join(words[k : k + 10]) for k in range(0, len(words), 10)]
        return HEADER + "\n" + "\n".join(lines)

    def notebook(self, i: int) -> Notebook:
        return Notebook(notebook_id=str(i), repo="bench/repo", path=f"{i:08d}.ipynb", cells=[Cell("code", self.text(i), 1)])


def planted_pairs(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {pair for group in groups for pair in combinations(group, 2)}


def predicted_pairs(drops: dict[str, str], index_of) -> set[tuple[int, int]]:
    clusters: dict[str, list[int]] = {}
    for dropped, reason in drops.items():
        survivor = reason.split(":", 1)[1]
        clusters.setdefault(survivor, [index_of(survivor)]).append(index_of(dropped))
    return {tuple(sorted(p)) for members in clusters.values() for p in combinations(members, 2)}


def precision_recall(drops: dict[str, str], groups: list[list[int]], index_of) -> tuple[float, float]:
    truth, predicted = planted_pairs(groups), predicted_pairs(drops, index_of)
    hits = len(truth & predicted)
    return hits / max(len(predicted), 1), hits / max(len(truth), 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------------------------------------
# Throughput: code text to signatures


def throughput(sample: int, repeats: int = 2) -> dict[str, float]:
    """Documents per second from code text to signature, best of `repeats` passes for each method
    (the machine is shared: the best pass is the least disturbed one)."""
    from nbqa_builder.dedup.normalize import normalized_code
    import xxhash
    from datasketch import MinHash

    corpus = Corpus(sample, seed=1)
    texts = [corpus.text(i) for i in range(sample)]
    n_tokens = [len(shingles(t, CONFIG)) + CONFIG.ngram - 1 for t in texts]
    print(f"throughput sample: {sample} documents, {np.mean(n_tokens):.0f} tokens each on average")
    signatures(texts[:50], CONFIG)  # warm-up: imports and cached permutations
    ours = signatures(texts, CONFIG)

    def with_datasketch(make):
        def run():
            out = []
            for text in texts:
                minhash = make()
                minhash.update_batch(shingles(text, CONFIG))
                out.append(minhash)
            return out
        return run

    methods = {
        "ours": lambda: signatures(texts, CONFIG),
        **rensa_methods(texts),
        "datasketch_default": with_datasketch(lambda: MinHash(num_perm=128)),
        "datasketch_same_settings": with_datasketch(
            lambda: MinHash(num_perm=CONFIG.num_perm, seed=CONFIG.seed, hashfunc=shingle_hash32, scheme="affine32")
        ),
        "datasketch_xxh32_whole_shingle": with_datasketch(
            lambda: MinHash(num_perm=128, hashfunc=xxhash.xxh32_intdigest, scheme="affine32")
        ),
    }
    best = dict.fromkeys(methods, float("inf"))
    for _ in range(repeats):  # interleaved, so that a busy spell on the machine hits every method
        for name, run in methods.items():
            t0 = time.perf_counter()
            result = run()
            best[name] = min(best[name], time.perf_counter() - t0)
            if name == "datasketch_same_settings":
                same = all(np.array_equal(m.hashvalues, sig) for m, sig in zip(result, ours))
                assert same, "our signatures differ from datasketch's with the same settings"
    rates = {name: sample / seconds for name, seconds in best.items()}
    for name, rate in rates.items():
        print(f"  {name:32s} {rate:9.0f} docs/s   ours is {rates['ours'] / rate:5.1f}x")
    print("  (rensa_*: RMinHash/CMinHash(num_perm=128, seed=1) per document, or its batch call (_batch), on")
    print("   shingles made by python_shingles; rensa's own signatures, not datasketch's.)")
    if "rensa_rminhash" in methods:
        rensa_engine(texts, rates["ours"])
    notebooks = [corpus.notebook(i) for i in range(sample)]
    t0 = time.perf_counter()
    for nb in notebooks:
        normalized_code(nb)
    print(
        f"  (not in the above: normalized_code, which minhash_map runs first, {sample / (time.perf_counter() - t0):.0f} docs/s)"
    )
    print("  (same_settings: datasketch given our hash function shingle_hash32 and scheme affine32;")
    print("   its signatures were checked equal to ours on all documents of the sample.")
    print("   xxh32_whole_shingle: xxh32 of each whole shingle, different signatures, for reference.)")
    return rates


def python_shingles(text: str) -> list[bytes]:
    """Our shingles, as a rensa user would make them in plain Python: the same tokens, 5 at a time
    (zip of shifted lists: faster than slicing and joining each window)."""
    toks = TOKEN_RE.findall(text.encode("utf-8"))
    return list(map(SHINGLE_SEP.join, zip(*(toks[i:] for i in range(CONFIG.ngram)))))


def rensa_methods(texts: list[str]) -> dict:
    """rensa from the same texts: per document (update + digest) and through its batch calls."""
    try:
        import rensa
    except ImportError:
        print("  (rensa is not installed: pip install rensa; its rows are left out)")
        return {}
    assert all(python_shingles(t) == shingles(t, CONFIG) for t in texts[:100]), "the shingles must be ours"
    num_perm, seed = CONFIG.num_perm, CONFIG.seed

    def per_document(kind):
        def run():
            out = []
            for text in texts:
                minhash = kind(num_perm, seed)
                minhash.update(python_shingles(text))
                out.append(minhash.digest())
            return out
        return run

    return {
        "rensa_rminhash": per_document(rensa.RMinHash),
        "rensa_cminhash": per_document(rensa.CMinHash),
        "rensa_rminhash_batch": lambda: rensa.RMinHash.digest_matrix_from_token_sets(
            [python_shingles(t) for t in texts], num_perm, seed),
        "rensa_cminhash_batch": lambda: rensa.CMinHash.digests_from_token_sets(
            [python_shingles(t) for t in texts], num_perm, seed),
    }


def rensa_engine(texts: list[str], ours: float, repeats: int = 2) -> None:
    """What rensa would give as the step's engine: our vectorised tokens and shingle hashes, and
    rensa's permutations over them (its flat-buffer call). Printed for the README's decision."""
    import rensa

    from nbqa_builder.dedup.minhash import _shingle_hashes

    def run():
        hashes, doc_of_hash = _shingle_hashes(texts, CONFIG)
        offsets = np.concatenate(([0], np.cumsum(np.bincount(doc_of_hash, minlength=len(texts))))).astype(np.uint64)
        return rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes.astype(np.uint64), offsets,
                                                                    CONFIG.num_perm, CONFIG.seed)

    def hashes_only():
        return _shingle_hashes(texts, CONFIG)

    split = [python_shingles(t) for t in texts]

    def presplit():  # the separate trial: shingles made beforehand, not timed
        return rensa.RMinHash.digest_matrix_from_token_sets(split, CONFIG.num_perm, CONFIG.seed)

    best = {"engine": float("inf"), "hashes": float("inf"), "presplit": float("inf")}
    for _ in range(repeats):
        for name, fn in (("engine", run), ("hashes", hashes_only), ("presplit", presplit)):
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    engine, hashing, presplit_rate = (len(texts) / best[k] for k in ("engine", "hashes", "presplit"))
    print(f"  rensa as our engine (our shingle hashes, rensa's permutations): {engine:.0f} docs/s, "
          f"{engine / ours:.2f}x ours; our shingle hashing alone: {hashing:.0f} docs/s")
    print(f"  rensa RMinHash on shingles made beforehand (shingling not timed): {presplit_rate:.0f} docs/s")


# ---------------------------------------------------------------------------------------------
# Scale runs, each in its own process


def run_documents(n: int, part: int = 5000) -> dict:
    """The real path: notebooks -> minhash_map per part -> minhash_reduce; notebooks are made part
    by part and dropped after their map, as the executor does, so memory holds keys only."""
    corpus = Corpus(n, seed=2)
    t0 = time.perf_counter()
    make_s = 0.0
    keys: list[MinHashKey] = []
    for lo in range(0, n, part):
        t1 = time.perf_counter()
        batch = [corpus.notebook(i) for i in range(lo, min(n, lo + part))]
        make_s += time.perf_counter() - t1
        keys += minhash_map(batch, CONFIG)
    map_s = time.perf_counter() - t0 - make_s
    t1 = time.perf_counter()
    drops = minhash_reduce(keys, CONFIG)
    reduce_s = time.perf_counter() - t1
    index_of = lambda uid: int(uid.rsplit(":", 1)[1][:8])  # noqa: E731
    precision, recall = precision_recall(drops, corpus.groups, index_of)
    predicted = predicted_pairs(drops, index_of)
    copies = np.flatnonzero(corpus.kinds == 2)
    found = np.array([(int(corpus.source[c]), int(c)) in predicted for c in copies])
    by_similarity = {}
    for lo in (0.80, 0.85, 0.90):
        in_band = (corpus.target_jaccard[copies] >= lo) & (corpus.target_jaccard[copies] < lo + 0.05)
        by_similarity[f"{lo:.2f}-{lo + 0.05:.2f}"] = float(found[in_band].mean())
    related = np.flatnonzero(corpus.kinds == 3)
    related_merged = sum((int(corpus.source[r]), int(r)) in predicted for r in related)
    # The edits aim at a Jaccard; check the aim on a sample against the true shingle sets.
    aim_error = []
    for c in copies[:300]:
        a, b = (set(shingles(corpus.text(int(i)), CONFIG)) for i in (corpus.source[c], c))
        aim_error.append(abs(len(a & b) / len(a | b) - corpus.target_jaccard[c]))
    related_j = []
    for r in related[:100]:
        a, b = (set(shingles(corpus.text(int(i)), CONFIG)) for i in (corpus.source[r], r))
        related_j.append(len(a & b) / len(a | b))
    return {
        "recall_copy_to_base_by_jaccard": by_similarity, "related_pairs": len(related),
        "related_merged": related_merged, "related_jaccard_range": [min(related_j), max(related_j)],
        "jaccard_aim_mean_abs_error": float(np.mean(aim_error)),
        "n": n, "source": "documents", "map_s": map_s, "reduce_s": reduce_s, "generate_s": make_s,
        "dropped": len(drops), "precision": precision, "recall": recall, "peak_rss_mb": peak_rss_mb(),
    }


def synthetic_signatures(n: int, seed: int = 3) -> tuple[np.ndarray, list[list[int]]]:
    """Signatures as MinHash would give them: unrelated ones independent, a planted copy equal to
    its base in each position with probability J (J uniform in 0.8-0.95, as in the documents)."""
    rng = np.random.default_rng(seed)
    sigs = rng.integers(0, 2**32, (n, CONFIG.num_perm), dtype=np.uint32)
    groups, i = [], 0
    while i < n:
        if rng.random() < 0.15:
            size = min(int(rng.integers(2, 6)), n - i)
            for c in range(i + 1, i + size):
                same = rng.random(CONFIG.num_perm) < rng.uniform(0.8, 0.95)
                sigs[c, same] = sigs[i, same]
            groups.append(list(range(i, i + size)))
            i += size
        else:
            i += 1
    return sigs, groups


def run_synthetic(n: int, part: int = 50_000) -> dict:
    """1 M notebooks from synthetic signatures (making 1 M documents would take most of the
    benchmark): band keys and keys are made part by part and streamed into the reduce."""
    t0 = time.perf_counter()
    sigs, groups = synthetic_signatures(n)
    generate_s = time.perf_counter() - t0

    def keys():
        for lo in range(0, n, part):
            block = sigs[lo : lo + part]
            for k, (sig, key) in enumerate(zip(block, band_keys(block, CONFIG))):
                yield MinHashKey(f"bench/repo:{lo + k:08d}.ipynb", key.tobytes(), 0, 1, sig.tobytes())

    # The signatures stand in for the notebooks the map reads: not counted in the reduce's memory.
    rss_before = peak_rss_mb()
    t1 = time.perf_counter()
    drops = minhash_reduce(keys(), CONFIG)
    reduce_s = time.perf_counter() - t1
    precision, recall = precision_recall(drops, groups, lambda uid: int(uid.rsplit(":", 1)[1][:8]))
    return {
        "n": n, "source": "synthetic signatures", "map_s": None, "reduce_s": reduce_s, "generate_s": generate_s,
        "dropped": len(drops), "precision": precision, "recall": recall, "peak_rss_mb": peak_rss_mb(),
        "input_signatures_mb": sigs.nbytes / 2**20, "rss_before_reduce_mb": rss_before,
    }


def in_subprocess(mode: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(n)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(result: dict) -> None:
    if "recall_copy_to_base_by_jaccard" in result:
        print(
            f"  planted copy found with its base, by Jaccard to the base: {result['recall_copy_to_base_by_jaccard']}"
            f" (copies hit their aimed Jaccard within {result['jaccard_aim_mean_abs_error']:.3f} on average)"
        )
        lo, hi = result["related_jaccard_range"]
        print(
            f"  related pairs (Jaccard {lo:.2f}-{hi:.2f}, not duplicates) merged: "
            f"{result['related_merged']} of {result['related_pairs']}"
        )
    map_part = f"map {result['map_s']:.1f} s + " if result["map_s"] is not None else ""
    print(
        f"N={result['n']:>9,} ({result['source']}): {map_part}reduce {result['reduce_s']:.1f} s "
        f"(generating the corpus, not counted: {result['generate_s']:.1f} s), dropped {result['dropped']:,}, "
        f"precision {result['precision']:.4f}, recall {result['recall']:.4f}, peak RSS {result['peak_rss_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the benchmark out")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, n = args.child[0], int(args.child[1])
        print(json.dumps(run_documents(n) if mode == "documents" else run_synthetic(n)))
        return

    sample, n_docs, n_sigs = (500, 5_000, 50_000) if args.quick else (3_000, 100_000, 1_000_000)
    print(f"settings: {CONFIG.model_dump()}; one process, one core")
    rates = throughput(sample)
    docs = in_subprocess("documents", n_docs)
    report(docs)
    synth = in_subprocess("synthetic", n_sigs)
    report(synth)
    print(
        f"  (1 M: signatures synthetic; the process holds them, {synth['input_signatures_mb']:.0f} MB, "
        f"as input, and its RSS was {synth['rss_before_reduce_mb']:.0f} MB before the reduce began)"
    )
    rensa = max((rate for name, rate in rates.items() if name.startswith("rensa_")), default=None)
    print(
        f"speedup_vs_datasketch={rates['ours'] / rates['datasketch_default']:.1f} "
        f"speedup_same_settings={rates['ours'] / rates['datasketch_same_settings']:.1f} "
        f"precision={docs['precision']:.4f} recall={docs['recall']:.4f} rss_1m_mb={synth['peak_rss_mb']:.0f} "
        + (f"speedup_vs_rensa={rates['ours'] / rensa:.1f}" if rensa else "speedup_vs_rensa=n/a")
    )


if __name__ == "__main__":
    main()
