"""Dedup's reduce in shards (what a cluster runs) takes the same decisions as the one-process reduce."""

from __future__ import annotations

import random

import pytest

from nbqa_builder.dedup.minhash import MinHashConfig
from nbqa_builder.dedup.sharded import LocalShuffle, groups_of_parts
from nbqa_builder.dedup.step import DedupConfig, DedupStep
from tests.test_minhash import code_doc, edited, notebook


def corpus(seed: int = 0) -> list:
    """Unrelated notebooks, edited copies, exact copies, and one template filling LSH buckets far
    larger than the confirmation window (30 notebooks with one line of their own)."""
    rng = random.Random(seed)
    notebooks = []
    template = code_doc(rng, 60)
    for i in range(30):
        notebooks.append(notebook(f"t{i:02d}", template[:-1] + [f"print({i})"], refs=i % 3, executed=i % 4))
    for i in range(60):
        base = code_doc(rng)
        notebooks.append(notebook(f"b{i:02d}", base, refs=rng.randrange(2), executed=rng.randrange(3)))
        if i % 3 == 0:
            notebooks.append(notebook(f"c{i:02d}", edited(rng, base, 2), refs=rng.randrange(2)))
            notebooks.append(notebook(f"d{i:02d}", edited(rng, base, 4), executed=rng.randrange(3)))
        if i % 5 == 0:
            notebooks.append(notebook(f"e{i:02d}", base))  # an exact copy
    rng.shuffle(notebooks)
    return notebooks


@pytest.mark.parametrize("confirm", [True, False])
@pytest.mark.parametrize("exact", [True, False])
def test_sharded_reduce_drops_what_the_one_process_reduce_drops(exact, confirm):
    step = DedupStep(DedupConfig(exact=exact, minhash=MinHashConfig(confirm=confirm)))
    notebooks = corpus()
    parts = [notebooks[i:i + 17] for i in range(0, len(notebooks), 17)]
    keys = [step.map(part) for part in parts]
    expected = step.reduce(key for part in keys for key in part)
    assert sum(r.startswith("near_duplicate:") for r in expected.values()) >= 40  # the test means something
    assert any(r.startswith("exact_duplicate:") for r in expected.values()) == exact
    for n_shards, n_groups in ((1, 1), (3, 2), (7, 5)):
        groups = [[k for p in group for k in keys[p]] for group in groups_of_parts(len(keys), n_groups)]
        shuffle = LocalShuffle(len(groups), groups.__getitem__)
        assert step.reduce_sharded(shuffle, n_shards) == expected, (n_shards, n_groups)


def test_sharded_reduce_of_no_keys_drops_nothing():
    step = DedupStep(DedupConfig(exact=True, minhash=MinHashConfig()))
    assert step.reduce_sharded(LocalShuffle(2, lambda g: []), 4) == {}


def test_keys_made_with_other_settings_are_refused():
    made = DedupStep(DedupConfig(minhash=MinHashConfig(num_perm=64)))
    other = DedupStep(DedupConfig(minhash=MinHashConfig(num_perm=128)))
    keys = made.map(corpus()[:20])
    with pytest.raises(ValueError, match="other settings"):
        other.reduce_sharded(LocalShuffle(1, lambda g: keys), 2)


def test_groups_cover_every_part_once():
    for n_parts, n_groups in ((1, 4), (10, 3), (7, 7), (100, 8)):
        groups = groups_of_parts(n_parts, n_groups)
        assert [p for g in groups for p in g] == list(range(n_parts))
        assert len(groups) == min(n_parts, n_groups)
