"""Each paper rule keeps a good notebook and drops a bad one with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbqa_builder.filters.rules import RULES
from nbqa_builder.filters.step import FilterConfig, FilterStep
from nbqa_builder.filters.teaching import header_signature, teaching_name
from nbqa_builder.records import FOUND, MISSING, URL, Cell, DataRef, Notebook
from tests.shipped_recipes import shipped_step_configs


SHOWN = [{"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": "42"}, "metadata": {}}]


def make(sources, counts=None, outputs=None, refs=None, repo_dir="") -> Notebook:
    """A notebook of these code cells; the last one shows a value unless `outputs` says otherwise."""
    cells = []
    outputs = outputs if outputs is not None else {len(sources) - 1: SHOWN}
    for i, source in enumerate(sources):
        count = (counts[i] if counts else i + 1)
        cells.append(Cell("code", source, count, outputs.get(i, [])))
    notebook = Notebook(notebook_id="n", repo="o/r", path="a.ipynb", repo_dir=repo_dir, cells=cells)
    notebook.data_refs = refs if refs is not None else [DataRef("data.csv", 0, "pd.read_csv", FOUND, "data.csv", "ab", 50_000, 1000)]
    return notebook


GOOD = ["import pandas as pd\ndf = pd.read_csv('data.csv')", "df['price'].mean()"]


def verdict(notebook: Notebook) -> str | None:
    FilterStep(FilterConfig())([notebook])
    return notebook.drop_reason


def test_good_notebook_passes_every_rule():
    notebook = make(GOOD)
    assert verdict(notebook) is None
    assert set(notebook.checks["filter"]) == set(RULES)
    assert not any(notebook.checks["filter"].values())


@pytest.mark.parametrize(
    "notebook, reason",
    [
        (make(["", "   "]), "no_code"),
        (make(GOOD, counts=[2, 1]), "out_of_order"),
        (make(GOOD, counts=[1, 1]), "out_of_order"),
        (make(GOOD, counts=[1, None]), "unexecuted_code_cells"),
        (make(GOOD, outputs={1: [{"output_type": "error", "ename": "KeyError", "evalue": "x", "traceback": []}]}), "error_outputs"),
        (make(GOOD + ["import tensorflow as tf"]), "neural_network"),
        (make(GOOD + ["from torch import nn"]), "neural_network"),
        (make(GOOD + ["from sklearn.neural_network import MLPClassifier"]), "neural_network"),
        (make(GOOD + ["from transformers import AutoModel\nm = AutoModel.from_pretrained('bert')"]), "pretrained_model"),
        (make(GOOD + ["import cupy as cp"]), "gpu"),
        (make(GOOD + ["import openai"]), "external_api"),
        (make(GOOD + ["import requests\nr = requests.get('https://api.github.com/repos/x/y/issues')"]), "external_api"),
        (make(GOOD + ["from sklearn.datasets import load_iris\nX = load_iris()"]), "teaching_dataset"),
        (make(GOOD + ["import seaborn as sns\nt = sns.load_dataset('titanic')"]), "teaching_dataset"),
        (make(GOOD + ["from tensorflow.keras.datasets import mnist"]), "neural_network"),
        (make(GOOD, refs=[DataRef("titanic/train.csv", 0, "pd.read_csv", FOUND, "titanic/train.csv", "ab", 60_000, 900)]), "teaching_dataset"),
        (make(GOOD, refs=[DataRef("data.csv", 0, "pd.read_csv", MISSING)]), "missing_data_file"),
        (make(GOOD, refs=[]), "no_local_data"),
        (make(GOOD, refs=[DataRef("data.csv", 0, "pd.read_csv", FOUND, "data.csv", "ab", 300, 12)]), "too_little_data"),
    ],
)
def test_rule_drops_with_reason(notebook, reason):
    assert verdict(notebook) == reason
    assert notebook.dropped_by == "filter"


def test_downloading_a_data_file_is_not_an_api_call():
    notebook = make(GOOD + ["import urllib.request\nurllib.request.urlretrieve('https://example.org/data/x.csv', 'x.csv')"])
    assert verdict(notebook) is None


def test_renamed_titanic_caught_by_header(tmp_path: Path):
    (tmp_path / "people.csv").write_text("PassengerId,Survived,Pclass,Name,Sex,Age\n" + "1,0,3,A,male,22\n" * 200)
    notebook = make(GOOD, refs=[DataRef("people.csv", 0, "pd.read_csv", FOUND, "people.csv", "ab", 60_000, 201)],
                    repo_dir=str(tmp_path))
    assert verdict(notebook) == "teaching_dataset"


def test_decontamination_by_name_and_hash():
    config = FilterConfig(decontaminate={"names": ["Abalone.csv"], "sha256": ["feed"]})
    by_name = make(GOOD, refs=[DataRef("d/abalone.csv", 0, "pd.read_csv", FOUND, "d/abalone.csv", "ab", 90_000, 4000)])
    by_hash = make(GOOD, refs=[DataRef("renamed.csv", 0, "pd.read_csv", FOUND, "renamed.csv", "feed", 90_000, 4000)])
    for notebook in (by_name, by_hash):
        FilterStep(config)([notebook])
        assert notebook.drop_reason == "benchmark_contamination"


def test_thresholds_come_from_the_recipe():
    small = make(GOOD, refs=[DataRef("data.csv", 0, "pd.read_csv", FOUND, "data.csv", "ab", 300, 12)])
    FilterStep(FilterConfig(min_data_rows=10))([small])
    assert small.kept
    unexecuted = make(GOOD, counts=[1, None])
    FilterStep(FilterConfig(max_unexecuted_code_cells=1))([unexecuted])
    assert unexecuted.kept


def test_disabled_rule_does_not_run():
    notebook = make(GOOD, counts=[2, 1])
    FilterStep(FilterConfig(disable=["out_of_order"]))([notebook])
    assert notebook.kept
    assert "out_of_order" not in notebook.checks["filter"]


@pytest.mark.parametrize("name, expected", [("titanic.csv", "titanic"), ("data/winequality-red.csv", "winequality-red"),
                                            ("iris_data.csv", "iris"), ("sales.csv", None), ("irish_pubs.csv", None)])
def test_teaching_names(name, expected):
    assert teaching_name(name) == expected


def test_header_signatures():
    assert header_signature("sepal_length,sepal_width,petal_length,petal_width,species") == "iris"
    assert header_signature('"CRIM","ZN","INDUS","CHAS","NOX","RM","AGE","DIS","RAD","TAX","PTRATIO","B","LSTAT","MEDV"') == "boston housing"
    assert header_signature("date,region,units,price") is None


# -- every threshold at N-1, N and N+1, with the values the project ships --------------------------

BIG = DataRef("big.csv", 0, "pd.read_csv", FOUND, "big.csv", "cd", 90_000, 5000)
ERROR = {"output_type": "error", "ename": "KeyError", "evalue": "x", "traceback": []}


def measured(setting: str, n: int) -> Notebook:
    """A notebook whose measure for `setting` is n, and that passes every other rule."""
    if setting == "max_unexecuted_code_cells":
        return make(GOOD + ["x = 1"] * n, counts=[1, 2] + [None] * n)
    if setting == "max_error_outputs":
        return make(GOOD, outputs={1: SHOWN + [ERROR] * n})
    if setting == "min_data_rows":  # a small file: its rows decide
        return make(GOOD, refs=[DataRef("data.csv", 0, "pd.read_csv", FOUND, "data.csv", "ab", 100, n)])
    if setting == "min_data_bytes":  # a file without rows (binary): its size decides
        return make(GOOD, refs=[DataRef("data.xlsx", 0, "pd.read_excel", FOUND, "data.xlsx", "ab", n, None)])
    if setting == "max_network_reads":
        return make(GOOD, refs=[BIG] + [DataRef(f"https://example.org/{i}.csv", 0, "pd.read_csv", URL) for i in range(n)])
    if setting == "max_missing_data_files":
        return make(GOOD, refs=[BIG] + [DataRef(f"gone{i}.csv", 0, "pd.read_csv", MISSING) for i in range(n)])
    raise AssertionError(setting)


# setting -> its rule (which drops for the reason of its name); a max_ drops above, a min_ below
THRESHOLDS = {
    "max_unexecuted_code_cells": "unexecuted_code_cells",
    "max_error_outputs": "error_outputs",
    "min_data_rows": "too_little_data",
    "min_data_bytes": "too_little_data",
    "max_network_reads": "network_read",
    "max_missing_data_files": "missing_data_file",
}


def test_every_threshold_of_the_filter_is_tested():
    numeric = {name for name, field in FilterConfig.model_fields.items() if field.annotation is int}
    assert numeric - {"header_bytes"} == set(THRESHOLDS)  # header_bytes is how much is read, not a verdict


def shipped_configs(rule: str) -> list[tuple[str, FilterConfig]]:
    """The filter settings as shipped: the model's defaults, and each recipe's filter step that
    runs the rule (with what the recipe sets, or leaves to the default)."""
    configs = [("FilterConfig()", FilterConfig())]
    for path, step_configs in shipped_step_configs():
        for name, config in step_configs:
            if name == "filter" and (config.rules is None or rule in config.rules) and rule not in config.disable:
                configs.append((path.name, config))
    return configs


# The values shipped, which the comments beside them give reasons for ("under 100 rows a table is a
# toy, unless the file is 10 kB or more"; the sandbox has no network; a missing file fails the re-run).
SHIPPED = {"max_unexecuted_code_cells": 0, "max_error_outputs": 0, "min_data_rows": 100, "min_data_bytes": 10_000,
           "max_network_reads": 0, "max_missing_data_files": 0}


@pytest.mark.parametrize("setting", list(THRESHOLDS))
def test_thresholds_as_shipped_keep_and_drop_at_their_edge(setting):
    rule = reason = THRESHOLDS[setting]
    configs = shipped_configs(rule)
    assert len(configs) >= 4  # the defaults, and each of the three recipes
    n = SHIPPED[setting]
    for where, config in configs:
        assert getattr(config, setting) == n, where
        for value in (n - 1, n, n + 1):
            if value < 0:
                continue
            notebook = measured(setting, value)
            FilterStep(config)([notebook])
            dropped = value > n if setting.startswith("max_") else value < n
            expected = reason if dropped else None
            assert notebook.drop_reason == expected, f"{where}: {setting}={n}, measure {value}"


@pytest.mark.parametrize("setting", list(THRESHOLDS))
@pytest.mark.parametrize("n", [1, 7])
def test_thresholds_set_in_a_recipe_keep_and_drop_at_their_edge(setting, n):
    reason = THRESHOLDS[setting]
    config = FilterConfig(**{setting: n})
    verdicts = {}
    for value in (n - 1, n, n + 1):
        notebook = measured(setting, value)
        FilterStep(config)([notebook])
        verdicts[value] = notebook.drop_reason
    if setting.startswith("max_"):
        assert verdicts == {n - 1: None, n: None, n + 1: reason}
    else:
        assert verdicts == {n - 1: reason, n: None, n + 1: None}
