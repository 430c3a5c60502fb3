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


def verdict(notebook: Notebook, **context) -> str | None:
    FilterStep(FilterConfig(), **context)([notebook])
    return notebook.drop_reason


def outcome(notebook: Notebook) -> str | None:
    """What the rules decided: the drop reason, `sft` for a notebook kept for the sft tier alone,
    None for one that may be interactive."""
    return notebook.drop_reason or ("sft" if notebook.not_interactive else None)


def test_good_notebook_passes_every_rule():
    notebook = make(GOOD)
    assert verdict(notebook) is None
    assert set(notebook.checks["filter"]) == set(RULES)
    assert not any(notebook.checks["filter"].values())


@pytest.mark.parametrize("extra", ["", "# Write your answer here", "   \n# TODO\n"])
def test_a_cell_with_nothing_to_run_may_repeat_the_count_before_it(extra):
    # the kernel does not count a blank or comment-only cell: a top-to-bottom run shows it with
    # the previous count (real tutorials: "# Write your answer here" cells)
    notebook = make(GOOD + [extra, "df['price'].max()"], counts=[1, 2, 2, 3])
    assert verdict(notebook) is None
    assert notebook.checks["filter"]["out_of_order"] is None


@pytest.mark.parametrize(
    "notebook, reason",
    [
        (make(["", "   "]), "no_code"),
        (make(["# Solution 1\n\n", "  # Solution 2", ""]), "no_code"),  # a sheet whose code was cleared
        (make(GOOD, counts=[2, 1]), "out_of_order"),
        (make(GOOD, counts=[1, 1]), "out_of_order"),
        (make(GOOD + ["# Write your answer here", "df['price'].max()"], counts=[1, 2, 2, 1]), "out_of_order"),
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
        (make(GOOD, refs=[]), "no_data_file"),
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


# setting -> its rule (which drops for the reason of its name, or, for a tier rule, keeps the
# notebook for `sft`); a max_ decides above, a min_ below
THRESHOLDS = {
    "max_unexecuted_code_cells": "unexecuted_code_cells",
    "max_error_outputs": "error_outputs",
    "min_data_rows": "too_little_data",
    "min_data_bytes": "too_little_data",
    "max_network_reads": "network_read",
    "max_missing_data_files": "missing_data_file",
}


TIER_SETTINGS = {"max_network_reads", "max_missing_data_files"}


def expected_outcome(setting: str, decided: bool) -> str | None:
    if not decided:
        return None
    return "sft" if setting in TIER_SETTINGS else THRESHOLDS[setting]


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
            decided = value > n if setting.startswith("max_") else value < n
            assert outcome(notebook) == expected_outcome(setting, decided), f"{where}: {setting}={n}, measure {value}"


@pytest.mark.parametrize("setting", list(THRESHOLDS))
@pytest.mark.parametrize("n", [1, 7])
def test_thresholds_set_in_a_recipe_keep_and_drop_at_their_edge(setting, n):
    config = FilterConfig(**{setting: n})
    verdicts = {}
    for value in (n - 1, n, n + 1):
        notebook = measured(setting, value)
        FilterStep(config)([notebook])
        verdicts[value] = outcome(notebook)
    decided = expected_outcome(setting, True)
    if setting.startswith("max_"):
        assert verdicts == {n - 1: None, n: None, n + 1: decided}
    else:
        assert verdicts == {n - 1: decided, n: None, n + 1: None}


# -- the two tiers: what stops a re-run offline keeps the notebook for `sft`, with its cause ------

URL_READ = DataRef("https://example.org/sales.csv", 1, "pd.read_csv", URL)


@pytest.mark.parametrize(
    "notebook, reason",
    [
        (make(GOOD, refs=[URL_READ]), "network_read: pd.read_csv(https://example.org/sales.csv) in cell 1"),
        (make(GOOD, refs=[BIG, DataRef("data/x.csv", 0, "pd.read_csv", MISSING)]), "missing_file: data/x.csv in cell 0"),
        (make(GOOD + ["df = df.append(df)"]), "removed_api: DataFrame.append (cell 2, line 1)"),
        (make(GOOD + ["import pandas_profiling_gone_module"]), "missing_module: pandas_profiling_gone_module (cell 2, line 1)"),
    ],
)
def test_what_stops_a_rerun_keeps_the_notebook_for_sft_and_names_the_cause(notebook, reason):
    assert verdict(notebook) is None
    assert notebook.not_interactive == reason


@pytest.mark.parametrize("refs", [[URL_READ], [BIG, DataRef("data/x.csv", 0, "pd.read_csv", MISSING)]])
def test_a_recipe_for_the_interactive_tier_alone_drops_what_cannot_rerun(refs):
    notebook = make(GOOD, refs=refs)
    assert verdict(notebook, tiers=("interactive",)) in ("network_read", "missing_file")
    assert notebook.drop_detail and not notebook.not_interactive


def test_a_paper_rule_still_drops_a_notebook_that_cannot_rerun():
    notebook = make(GOOD + ["import tensorflow as tf"], refs=[URL_READ])
    assert verdict(notebook) == "neural_network"
    assert notebook.drop_detail == "import tensorflow"


def test_too_little_data_without_files_is_judged_on_the_shapes_the_outputs_show():
    def shown(text, source="df.shape"):
        return make(["import pandas as pd\ndf = pd.read_csv('https://example.org/a.csv')", source],
                    outputs={1: [{"output_type": "execute_result", "execution_count": 2,
                                  "data": {"text/plain": text}, "metadata": {}}]}, refs=[URL_READ])
    assert verdict(shown("(12, 4)")) == "too_little_data"
    assert verdict(shown("(4000, 4)")) is None
    assert verdict(shown("<class 'pandas.core.frame.DataFrame'>\nRangeIndex: 5 entries, 0 to 4", "df.info()")) == "too_little_data"
    assert verdict(shown("891", "len(df)")) is None
    assert verdict(shown("42", "df['price'].mean()")) is None  # nothing shows a length: kept


def test_every_drop_names_what_matched():
    cases = {
        "out_of_order": make(GOOD, counts=[2, 1]),
        "error_outputs": make(GOOD, outputs={1: [ERROR]}),
        "teaching_dataset": make(GOOD + ["import seaborn as sns\nt = sns.load_dataset('titanic')"]),
        "too_little_data": make(GOOD, refs=[DataRef("data.csv", 0, "pd.read_csv", FOUND, "data.csv", "ab", 300, 12)]),
        "external_api": make(GOOD + ["import openai"]),
    }
    details = {}
    for reason, notebook in cases.items():
        assert verdict(notebook) == reason
        details[reason] = notebook.drop_detail
    assert details == {
        "out_of_order": "cell 1 ran as [1] after [2]",
        "error_outputs": "cell 1 KeyError x",
        "teaching_dataset": "titanic (loader seaborn.load_dataset)",
        "too_little_data": "data.csv has 12 rows, 300 bytes (the largest of 1)",
        "external_api": "import openai",
    }


def test_a_notebook_without_outputs_waits_for_its_rerun_even_where_it_cannot_rerun_to_its_end():
    stripped = make(GOOD, outputs={})
    assert verdict(stripped) is None
    assert stripped.checks["needs_rerun_outputs"].startswith("no_outputs: none of 2 code cells")
    # the cells before what stops the re-run can still give it outputs (the execute step decides)
    cannot = make(GOOD, outputs={}, refs=[URL_READ])
    assert verdict(cannot) is None
    assert cannot.not_interactive == "network_read: pd.read_csv(https://example.org/sales.csv) in cell 1"
    assert cannot.checks["needs_rerun_outputs"].startswith("no_outputs")
