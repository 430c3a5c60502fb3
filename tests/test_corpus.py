"""The pipeline over the real notebooks of ../shared/corpus (skipped when it is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbqa_builder.pipeline import Pipeline
from nbqa_builder.recipe import parse_recipe

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")

RECIPE = """
name: corpus
source: {{kind: local, path: "{source}"}}
steps:
  - validate: {{}}
  - deps: {{}}
  - filter: {{}}
  - dedup: {{exact: true}}
  - extract: {{backend: heuristic}}
output: "{output}"
executor: {{kind: local, workers: 2, part_size: 16}}
"""


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("corpus") / "out"
    recipe = parse_recipe(RECIPE.format(source=CORPUS, output=output), "corpus.yaml")
    stats = Pipeline(recipe, progress=False).run()
    rejects = [json.loads(line) for line in (output / "rejects" / "notebooks.jsonl").read_text().splitlines()]
    return stats, {(r["repo"], r["path"]): r for r in rejects}


def test_every_corpus_notebook_is_accounted_for(corpus_run):
    stats, rejects = corpus_run
    notebooks = list(CORPUS.rglob("*.ipynb"))
    assert stats["notebooks"]["input"] == len(notebooks)
    assert stats["notebooks"]["kept"] + len(rejects) == len(notebooks)


def test_tensorflow_chapters_are_dropped_as_neural_networks(corpus_run):
    _, rejects = corpus_run
    chapters = [p.name for p in (CORPUS / "ageron__handson-ml2").glob("1[0-9]_*.ipynb")]
    assert len(chapters) >= 8
    for name in chapters:
        assert rejects[("ageron/handson-ml2", name)]["reason"] in {"neural_network", "gpu", "pretrained_model"}, name


@pytest.mark.parametrize(
    "repo, path",
    [
        ("ageron/handson-ml2", "03_classification.ipynb"),  # MNIST through fetch_openml
        ("ageron/handson-ml2", "04_training_linear_models.ipynb"),  # iris through load_iris
        ("ageron/handson-ml2", "06_decision_trees.ipynb"),
        ("wesm/pydata-book", "ch12.ipynb"),  # datasets/titanic/*.csv
        ("fonnesbeck/statistical-analysis-python-tutorial", "4. Statistical Data Modeling.ipynb"),  # titanic.xls
    ],
)
def test_titanic_iris_and_mnist_users_are_dropped(corpus_run, repo, path):
    _, rejects = corpus_run
    assert rejects[(repo, path)]["reason"] == "teaching_dataset"


def test_the_out_of_order_notebook_is_dropped(corpus_run):
    _, rejects = corpus_run
    assert rejects[("ageron/handson-ml2", "tools_numpy.ipynb")]["reason"] == "out_of_order"


def test_licenses_come_from_the_license_files(corpus_run):
    stats, _ = corpus_run
    assert set(stats["licenses"]) <= {"Apache-2.0", "BSD-3-Clause", "MIT", "CC-BY-4.0", "unknown"}
