"""Near-duplicate removal: datasketch-equal signatures, planted copies found, survivors stable."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import xxhash
from datasketch import LeanMinHash, MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nbqa_builder.dedup.hashing import shingle_hash32, token_hashes, tokens
from nbqa_builder.dedup.minhash import (
    MinHashConfig,
    lsh_bands,
    minhash_map,
    minhash_reduce,
    shingles,
    signatures,
)
from nbqa_builder.dedup.normalize import normalized_code
from nbqa_builder.records import FOUND, MISSING, Cell, DataRef, Notebook

# ---------------------------------------------------------------------------------------------
# Code-like notebooks with a controllable overlap


def code_line(rng: random.Random) -> str:
    """One line of pandas-style analysis code with random names, so two lines rarely match."""
    var, col, other = (f"{rng.choice('abcdefghxyz')}{rng.randrange(10**6)}" for _ in range(3))
    templates = [
        f"{var} = df['{col}'].{rng.choice(['mean', 'sum', 'max', 'median'])}()",
        f"{var} = df.groupby('{col}')['{other}'].agg(['count', 'mean'])",
        f"print({var}.head({rng.randrange(20)}))",
        f"{var} = df[df['{col}'] > {rng.randrange(1000)}]",
        f"plt.plot({var}['{col}'], {var}['{other}'])",
        f"for {var} in range({rng.randrange(100)}):\n    total += {var} * {other}",
    ]
    return rng.choice(templates)


def code_doc(rng: random.Random, lines: int = 40) -> list[str]:
    return ["import pandas as pd", "df = pd.read_csv('data.csv')"] + [code_line(rng) for _ in range(lines)]


def code_doc_of(nb: Notebook) -> list[str]:
    return [line for cell in nb.code_cells for line in cell.source.split("\n")]


def notebook(name: str, lines: list[str], refs: int = 0, executed: int = 0, per_cell: int = 5) -> Notebook:
    cells = [
        Cell("code", "\n".join(lines[i : i + per_cell]), None, [])
        for i in range(0, len(lines), per_cell)
    ]
    for cell in cells[:executed]:
        cell.execution_count = 1
    data_refs = [DataRef(f"f{i}.csv", 0, "pd.read_csv", status=FOUND) for i in range(refs)]
    return Notebook(notebook_id=name, repo="owner/repo", path=f"{name}.ipynb", cells=cells, data_refs=data_refs)


def uid(name: str) -> str:
    return f"owner/repo:{name}.ipynb"


def jaccard(a: Notebook, b: Notebook, config: MinHashConfig) -> float:
    sa = set(shingles(normalized_code(a), config))
    sb = set(shingles(normalized_code(b), config))
    return len(sa & sb) / len(sa | sb)


def edited(rng: random.Random, lines: list[str], changes: int) -> list[str]:
    """A copy with `changes` lines replaced by new ones (a re-upload with small edits)."""
    out = list(lines)
    for i in rng.sample(range(2, len(out)), changes):
        out[i] = code_line(rng)
    return out


def drops_of(batch: list[Notebook], config: MinHashConfig, parts: int = 1) -> dict[str, str]:
    """Run map over `parts` slices (as the executor does) and reduce once."""
    keys = []
    for p in range(parts):
        keys += minhash_map(batch[p::parts], config)
    return minhash_reduce(keys, config)


# ---------------------------------------------------------------------------------------------
# Signatures equal datasketch's


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")), max_size=6))
def test_vectorised_token_hashes_equal_xxh32_of_each_token(texts):
    docs = [t.encode("utf-8") for t in texts]
    hashes, doc_of_token = token_hashes(docs)
    expected = [(xxhash.xxh32_intdigest(tok), d) for d, doc in enumerate(docs) for tok in tokens(doc)]
    assert [(int(h), int(d)) for h, d in zip(hashes, doc_of_token)] == expected


SETTINGS = [
    MinHashConfig(),
    MinHashConfig(num_perm=64, ngram=3, seed=7),
    MinHashConfig(num_perm=256, ngram=1),
    MinHashConfig(num_perm=32, ngram=2, unit="lines"),
]
EDGE_TEXTS = [
    "",  # no code
    "x = 1",  # fewer tokens than a 5-gram
    "données = très_long_identifiant_de_plus_de_seize_octets('é') + 名前",  # non-ASCII, long tokens
    "print('a')\n" * 30,  # repeated shingles
]


@pytest.mark.parametrize("config", SETTINGS, ids=lambda c: f"{c.num_perm}-{c.ngram}-{c.unit}-{c.seed}")
def test_signatures_equal_datasketch_minhash(config):
    rng = random.Random(1)
    texts = [normalized_code(notebook(f"n{i}", code_doc(rng, rng.randrange(1, 60)))) for i in range(20)]
    texts += EDGE_TEXTS
    sigs = signatures(texts, config)
    assert sigs.shape == (len(texts), config.num_perm) and sigs.dtype == np.uint32
    for text, sig in zip(texts, sigs):
        minhash = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=shingle_hash32, scheme="affine32")
        minhash.update_batch(shingles(text, config))
        np.testing.assert_array_equal(sig, minhash.hashvalues)


def test_signatures_equal_datasketch_across_blocks_and_passes():
    """Documents cut by a block of shingles, and permutations not a multiple of those applied together."""
    from nbqa_builder.dedup.minhash import _PERMS_PER_PASS, _SHINGLES_PER_BLOCK

    config = MinHashConfig(num_perm=_PERMS_PER_PASS + 18, ngram=4)
    rng = random.Random(2)
    texts = [normalized_code(notebook(f"n{i}", code_doc(rng, 60))) for i in range(60)]
    assert sum(len(shingles(t, config)) for t in texts) > 2 * _SHINGLES_PER_BLOCK
    for text, sig in zip(texts, signatures(texts, config)):
        minhash = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=shingle_hash32, scheme="affine32")
        minhash.update_batch(shingles(text, config))
        np.testing.assert_array_equal(sig, minhash.hashvalues)


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.85, 0.9])
@pytest.mark.parametrize("num_perm", [64, 128])
def test_bands_and_rows_are_datasketchs_choice(threshold, num_perm):
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert lsh_bands(threshold, num_perm) == (lsh.b, lsh.r)


def clusters_from_drops(drops: dict[str, str], uids: list[str]) -> set[frozenset[str]]:
    survivor = {uid: drops.get(uid, "near_duplicate:" + uid).split(":", 1)[1] for uid in uids}
    groups: dict[str, set[str]] = {}
    for uid, s in survivor.items():
        groups.setdefault(s, set()).add(uid)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def test_unconfirmed_clusters_are_minhashlsh_components():
    """Without confirmation, clusters are exactly the connected components of MinHashLSH's
    candidates on our signatures, loaded into datasketch as LeanMinHash."""
    config = MinHashConfig(threshold=0.5, confirm=False)
    rng = random.Random(5)
    bases = [code_doc(rng, 30) for _ in range(30)]
    batch = [notebook(f"b{i}", lines) for i, lines in enumerate(bases)]
    batch += [notebook(f"c{i}", edited(rng, bases[i], rng.randrange(4, 16))) for i in range(30)]
    sigs = signatures([normalized_code(nb) for nb in batch], config)
    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    sketches = {}
    for nb, sig in zip(batch, sigs):
        sketches[nb.uid] = LeanMinHash(seed=config.seed, hashvalues=sig, scheme="affine32")
        lsh.insert(nb.uid, sketches[nb.uid])
    parent = {nb.uid: nb.uid for nb in batch}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for uid, sketch in sketches.items():
        for other in lsh.query(sketch):
            parent[find(other)] = find(uid)
    components: dict[str, set[str]] = {}
    for uid in parent:
        components.setdefault(find(uid), set()).add(uid)
    expected = {frozenset(c) for c in components.values() if len(c) > 1}
    assert expected, "the setup must plant candidates"
    assert clusters_from_drops(drops_of(batch, config), list(parent)) == expected


# ---------------------------------------------------------------------------------------------
# Planted near-duplicates, unrelated notebooks, input order


@pytest.mark.parametrize("confirm", [True, False])
@pytest.mark.parametrize("changed_lines", [1, 2])
def test_planted_near_duplicates_are_found_and_unrelated_kept(changed_lines, confirm):
    """Groups of a notebook and three edited copies at Jaccard 0.85-1 (threshold 0.7), among
    unrelated notebooks: each group keeps exactly one, and no unrelated notebook is dropped."""
    config = MinHashConfig(confirm=confirm)
    rng = random.Random(11)
    batch, groups = [], []
    for g in range(25):
        base = notebook(f"g{g}-0", code_doc(rng, 40))
        copies = [notebook(f"g{g}-{k}", edited(rng, code_doc_of(base), changed_lines)) for k in range(1, 4)]
        assert all(0.85 <= jaccard(base, c, config) < 1 for c in copies)  # known: near, not equal
        batch += [base, *copies]
        groups.append({nb.uid for nb in [base, *copies]})
    unrelated = [notebook(f"u{i}", code_doc(rng, 40)) for i in range(100)]
    batch += unrelated
    random.Random(0).shuffle(batch)

    drops = drops_of(batch, config)

    for group in groups:
        kept = group - drops.keys()
        assert len(kept) == 1, f"{sorted(group)} keeps {sorted(kept)}"
        (survivor,) = kept
        assert all(drops[uid] == f"near_duplicate:{survivor}" for uid in group - kept)
    assert not {nb.uid for nb in unrelated} & drops.keys()


def test_half_similar_notebooks_are_not_merged():
    """Notebooks sharing about half their shingles (same course template, different work) stay."""
    config = MinHashConfig()
    rng = random.Random(3)
    batch = []
    for i in range(30):
        base = code_doc(rng, 40)
        other = notebook(f"h{i}-b", edited(rng, base, 14))
        batch += [notebook(f"h{i}-a", base), other]
        assert 0.3 < jaccard(batch[-2], other, config) < 0.6
    assert drops_of(batch, config) == {}


def test_confirmation_refuses_lsh_candidates_below_the_threshold():
    """Pairs just under the threshold sometimes share a band; with `confirm` they are merged only
    when their estimated Jaccard reaches the threshold, without it any shared band merges them."""
    rng = random.Random(9)
    batch = []
    for i in range(80):
        base = code_doc(rng, 40)
        batch += [notebook(f"p{i}-a", base), notebook(f"p{i}-b", edited(rng, base, 8))]
    sigs = dict(zip((nb.uid for nb in batch), signatures([normalized_code(nb) for nb in batch], MinHashConfig())))

    def estimated_jaccard(drops):
        return [float(np.mean(sigs[d] == sigs[s.split(":", 1)[1]])) for d, s in drops.items()]

    unconfirmed = estimated_jaccard(drops_of(batch, MinHashConfig(confirm=False)))
    confirmed = estimated_jaccard(drops_of(batch, MinHashConfig(confirm=True)))
    assert min(unconfirmed) < 0.7  # the setup yields chance candidates
    assert confirmed and min(confirmed) >= 0.7


def test_survivors_do_not_depend_on_input_order_or_parts():
    config = MinHashConfig()
    rng = random.Random(8)
    batch = []
    for g in range(15):
        base = code_doc(rng, 30)
        batch += [notebook(f"s{g}-{k}", edited(rng, base, 1), refs=rng.randrange(3)) for k in range(4)]
    batch += [notebook(f"u{i}", code_doc(rng, 30)) for i in range(30)]
    reference = drops_of(batch, config)
    assert len(reference) >= 40  # most copies are found; the rest of the test needs drops
    for seed in range(3):
        shuffled = batch[:]
        random.Random(seed).shuffle(shuffled)
        assert drops_of(shuffled, config, parts=seed + 1) == reference


def test_survivor_has_most_found_refs_then_most_executed_cells_then_smallest_uid():
    config = MinHashConfig()
    lines = code_doc(random.Random(2), 30)
    # Identical code, so all four are one cluster; only the survivor-rule fields differ.
    batch = [
        notebook("a", lines, refs=1, executed=6),
        notebook("b", lines, refs=2, executed=0),
        notebook("c", lines, refs=2, executed=3),
        notebook("d", lines, refs=2, executed=3),
    ]
    batch[1].data_refs.append(DataRef("x.csv", 0, "pd.read_csv", status=MISSING))  # not found: no credit
    drops = drops_of(batch, config)
    assert drops == {uid(name): "near_duplicate:" + uid("c") for name in "abd"}


# ---------------------------------------------------------------------------------------------
# Edge cases


def test_notebooks_too_short_for_a_shingle_are_never_merged():
    """Empty notebooks, markdown-only ones and one-liners under one shingle get no signature:
    too little code to call them near copies; identical ones are exact dedup's."""
    config = MinHashConfig()
    batch = [
        notebook("empty1", []),
        notebook("empty2", []),
        Notebook("md", "owner/repo", "md.ipynb", cells=[Cell("markdown", "# Title")]),
        notebook("comment-only", ["# just a comment"]),
        notebook("short1", ["x = 1"]),
        notebook("short2", ["x = 1"]),
    ]
    keys = minhash_map(batch, config)
    assert len(keys) == len(batch) and all(k.band_keys == b"" for k in keys)
    assert minhash_reduce(keys, config) == {}


def test_identical_one_line_notebooks_with_a_shingle_are_merged():
    config = MinHashConfig()
    line = ["df = pd.read_csv('data.csv')"]  # 12 tokens: 8 shingles
    batch = [notebook("z", line), notebook("y", line), notebook("other", ["model.fit(X_train, y_train)"])]
    assert drops_of(batch, config) == {uid("z"): "near_duplicate:" + uid("y")}


def test_already_dropped_notebooks_get_no_key():
    config = MinHashConfig()
    lines = code_doc(random.Random(4), 20)
    first, second = notebook("a", lines), notebook("b", lines)
    first.drop("too_short", "filter")
    keys = minhash_map([first, second], config)
    assert [k.uid for k in keys] == [uid("b")]
    assert minhash_reduce(keys, config) == {}


def test_keys_survive_pickling_and_foreign_keys_are_refused():
    rng = random.Random(6)
    lines = code_doc(rng, 20)
    keys = minhash_map([notebook("a", lines), notebook("b", lines)], MinHashConfig())
    assert pickle.loads(pickle.dumps(keys)) == keys
    with pytest.raises(ValueError, match="owner/repo:a.ipynb.*other settings"):
        minhash_reduce(keys, MinHashConfig(num_perm=64))
    with pytest.raises(ValueError, match="share the uid"):
        minhash_reduce(keys + keys[:1], MinHashConfig())


def test_unknown_setting_is_an_error():
    with pytest.raises(ValidationError, match="shingle_size"):
        MinHashConfig(shingle_size=5)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u3000#'\"\\ab=é")), max_size=40))
def test_normalised_lines_are_the_regex_definition(code):
    """Comments cut, whitespace runs (any Unicode whitespace) made one space, blank lines gone."""
    import re

    from nbqa_builder.dedup.normalize import normalized_lines, strip_comment

    expected = [line for line in (re.sub(r"\s+", " ", strip_comment(raw)).strip() for raw in code.splitlines()) if line]
    assert normalized_lines(code) == expected
