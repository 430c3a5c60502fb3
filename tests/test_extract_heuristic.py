"""The offline extractor: questions that state every step their label depends on.

Repositories are written here with notebooks executed for real (tests/notebook_factory.py): each
trap notebook prepares the data in some way (a filter, dropped or filled missing values, a derived
or renamed column, a merge, a query, a date filter, a group) before showing a value. The truth is
computed here with pandas from the raw file; every task the extractor emits must name its trap and
carry that true value, and `verify` must confirm it with the task's reference program.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from extraction_fixtures import equals_truth, extracted_and_verified, kept
from notebook_factory import NotebookFactory
from nbqa_builder.extract.slicer import cell_names, slice_cells
from nbqa_builder.notebooks.code import parse_cells
from nbqa_builder.records import Cell

READ = 'import pandas as pd\ndf = pd.read_csv("../data/shop.csv")'


def shop_data(rng: np.random.RandomState) -> pd.DataFrame:
    regions = rng.choice(["north", "south", "east", "west"], size=300, p=[0.2, 0.25, 0.4, 0.15])
    frame = pd.DataFrame({
        "date": pd.date_range("2025-01-01", periods=300, freq="D").strftime("%Y-%m-%d"),
        "region": regions,
        "units": rng.poisson(20, size=300),
        "price": np.round(rng.uniform(2, 9, size=300), 2),
        "discount": np.round(rng.uniform(0, 0.3, size=300), 2),
    })
    frame.loc[rng.rand(300) < 0.1, "discount"] = np.nan
    return frame


REGIONS = pd.DataFrame({"region": ["north", "south", "east"], "target": [400, 520, 610]})


@dataclass
class Trap:
    name: str
    cells: list[str]  # after the read, before the answer
    answer: str  # the answer cell
    truth: Callable[[pd.DataFrame], float | str]
    named: list[str]  # what the task text must say


TRAPS = [
    Trap("filter", ['df = df[df["units"] > 20]'], 'df["price"].mean()',
         lambda d: d[d.units > 20].price.mean(), ["`units` > 20"]),
    Trap("dropna", ['complete = df.dropna(subset=["discount"])'], "len(complete)",
         lambda d: len(d.dropna(subset=["discount"])), ["`discount` is missing"]),
    Trap("dropna_inplace", ["df.dropna(inplace=True)"], 'df["units"].sum()',
         lambda d: d.dropna().units.sum(), ["missing value in any column"]),
    Trap("fillna", ['df["discount"] = df["discount"].fillna(0)'], 'df["discount"].mean()',
         lambda d: d.discount.fillna(0).mean(), ["missing values of `discount`", "0"]),
    Trap("fillna_median", ['df["discount"] = df["discount"].fillna(df["discount"].median())'], 'df["discount"].std()',
         lambda d: d.discount.fillna(d.discount.median()).std(), ["median of `discount`"]),
    Trap("derived", ['df["revenue"] = df["units"] * df["price"]'], 'df["revenue"].sum()',
         lambda d: (d.units * d.price).sum(), ["`revenue`", "`units` * `price`"]),
    Trap("renamed", ['df = df.rename(columns={"price": "unit_price"})'], 'df["unit_price"].max()',
         lambda d: d.price.max(), ["`price` to `unit_price`"]),
    Trap("merge", ['regions = pd.read_csv("../data/regions.csv")', 'both = df.merge(regions, on="region")'],
         'both["units"].sum()', lambda d: d.merge(REGIONS, on="region").units.sum(), ["`regions.csv`", "on `region`", "inner"]),
    Trap("query", ['busy = df.query("units >= 22 and region == \'east\'")'], 'busy["price"].median()',
         lambda d: d[(d.units >= 22) & (d.region == "east")].price.median(), ["`units` >= 22", "`region` == 'east'"]),
    Trap("date", ['df["date"] = pd.to_datetime(df["date"])', 'recent = df[df["date"] >= "2025-06-01"]'],
         'recent["units"].mean()', lambda d: d[pd.to_datetime(d.date) >= "2025-06-01"].units.mean(),
         ["parsed as dates", "`date` >= '2025-06-01'"]),
    Trap("group", ['north = df.groupby("region").get_group("north")'], 'north["units"].max()',
         lambda d: d[d.region == "north"].units.max(), ["`region` == 'north'"]),
    Trap("loc", [], 'df.loc[df["region"] == "west", "price"].min()',
         lambda d: d[d.region == "west"].price.min(), ["`region` == 'west'"]),
    Trap("chain", ['df = df.dropna(subset=["discount"])', 'df["net"] = df["price"] * (1 - df["discount"])',
                   'cheap = df[df["net"] < 4]'], "len(cheap)",
         lambda d: int((d.dropna(subset=["discount"]).pipe(lambda x: x.price * (1 - x.discount)) < 4).sum()),
         ["`discount` is missing", "`net`", "`net` < 4"]),
]

# preparation the spec cannot state: the cell gives no task, with a reason
UNRENDERABLE = [
    ('df["double"] = df["price"].apply(lambda p: p * 2 if p > 3 else p)', 'df["double"].mean()'),
    ('for i in range(3):\n    df = df[df["units"] > i]', 'df["price"].mean()'),
    ('def clean(frame):\n    return frame[frame["units"] > 3]\ndf = clean(df)', 'df["price"].mean()'),
    ('df = df.sample(frac=0.5, random_state=0)', 'df["price"].mean()'),
]

CLEAN = [  # (cell, raw-file statistic)
    ('df["price"].mean()', lambda d: d.price.mean()),
    ('df["price"].median()', lambda d: d.price.median()),
    ('df["units"].max()', lambda d: d.units.max()),
    ('df["units"].min()', lambda d: d.units.min()),
    ('df["price"].std()', lambda d: d.price.std()),
    ('df["units"].sum()', lambda d: d.units.sum()),
    ('df["discount"].count()', lambda d: d.discount.count()),
    ('df["region"].nunique()', lambda d: d.region.nunique()),
    ('df["region"].value_counts().idxmax()', lambda d: d.region.value_counts().idxmax()),
    ('df["units"].corr(df["price"])', lambda d: d.units.corr(d.price)),
    ('df["units"].cov(df["discount"])', lambda d: d.units.cov(d.discount)),
    ('df["price"].quantile(0.9)', lambda d: d.price.quantile(0.9)),
    ("len(df)", lambda d: len(d)),
    ("df.shape[1]", lambda d: d.shape[1]),
    ('df["discount"].isnull().sum()', lambda d: d.discount.isna().sum()),
    ('print("mean units:", df["units"].mean())', lambda d: d.units.mean()),
    ('round(df["price"].var(), 3)', lambda d: round(d.price.var(), 3)),
    ('df.price.skew()', lambda d: d.price.skew()),
    ('np_mean = df["units"].mean()\nprint(f"Average units: {np_mean:.1f}")', lambda d: d.units.mean()),
]

KINDS = [  # (cell, question kind, truth)
    ('df.groupby("region")["price"].mean().idxmax()', "group_extreme", lambda d: d.groupby("region").price.mean().idxmax()),
    ('df.groupby("region")["units"].sum().sort_values(ascending=True).index[0]', "group_extreme",
     lambda d: d.groupby("region").units.sum().idxmin()),
    ('(df["units"] > 25).sum()', "count_where", lambda d: (d.units > 25).sum()),
    ('len(df[df["price"] < 3])', "count_where", lambda d: (d.price < 3).sum()),
    ('(df["units"] > 25).mean()', "share_where", lambda d: (d.units > 25).mean()),
    ('df["region"].value_counts(normalize=True)["east"]', "share_where", lambda d: d.region.value_counts(normalize=True)["east"]),
    ('df.groupby("region")["units"].mean()["south"]', "group_value", lambda d: d.groupby("region").units.mean()["south"]),
    ('100 * (df["discount"] > 0.2).mean()', "share_where", lambda d: 100 * (d.discount > 0.2).mean()),
    ('df["price"].sum() / df["units"].sum()', "arithmetic", lambda d: d.price.sum() / d.units.sum()),
]
MULTI = [  # (cell, kind, truth as {name: value})
    ('df["price"].describe()', "describe",
     lambda d: dict(zip(["count_price", "mean_price", "std_price", "min_price", "p25_price", "median_price", "p75_price",
                         "max_price"], d.price.describe().tolist()))),
    ('df.groupby("region")["units"].sum()', "group_values",
     lambda d: {f"sum_units_{k}": v for k, v in d.groupby("region").units.sum().items()}),
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A repository of trap, clean and task-kind notebooks, executed, read, extracted, verified."""
    repo = tmp_path_factory.mktemp("shop")
    (repo / "data").mkdir()
    raw = shop_data(np.random.RandomState(7))
    raw.to_csv(repo / "data" / "shop.csv", index=False)
    REGIONS.to_csv(repo / "data" / "regions.csv", index=False)
    factory = NotebookFactory()
    try:
        for trap in TRAPS:
            factory.write(repo, f"traps/{trap.name}.ipynb", [READ, *trap.cells, trap.answer])
        for number, (setup, answer) in enumerate(UNRENDERABLE):
            factory.write(repo, f"unrenderable/u{number}.ipynb", [READ, setup, answer])
        factory.write(repo, "clean/all.ipynb", [READ, *[cell for cell, _ in CLEAN]])
        factory.write(repo, "kinds/all.ipynb", [READ, *[cell for cell, _, _ in KINDS + MULTI]])
    finally:
        factory.close()
    return raw, extracted_and_verified(repo)


@pytest.mark.parametrize("trap", TRAPS, ids=[t.name for t in TRAPS])
def test_a_task_after_a_trap_states_it_and_carries_the_true_value(shop, trap):
    raw, notebooks = shop
    tasks = kept(notebooks[f"traps/{trap.name}.ipynb"])
    assert len(tasks) == 1, [t.drop_reason for t in notebooks[f"traps/{trap.name}.ipynb"].tasks]
    (task,) = tasks
    for words in trap.named:
        assert words in task.task, (words, task.task)
    assert "as the notebook does" not in task.task + task.constraints
    assert equals_truth(task, task.answers[0].name, trap.truth(raw)), (task.label, trap.truth(raw))
    assert task.verified and task.reference_agrees and task.deterministic


@pytest.mark.parametrize("number", range(len(UNRENDERABLE)))
def test_a_preparation_the_spec_cannot_state_gives_no_task(shop, number):
    _, notebooks = shop
    notebook = notebooks[f"unrenderable/u{number}.ipynb"]
    assert not kept(notebook)
    (reason,) = [t.drop_reason for t in notebook.tasks]
    # the reason, and the code that could not be stated (for rejects/tasks.jsonl)
    prefix = "unrenderable_preprocessing: "
    assert reason.startswith(prefix) and reason[len(prefix):] in ast.unparse(ast.parse(UNRENDERABLE[number][0]))


def test_clean_cells_give_plain_tasks_with_the_raw_file_statistic(shop):
    raw, notebooks = shop
    tasks = {t.cells[-1]: t for t in kept(notebooks["clean/all.ipynb"])}
    for position, (cell, truth) in enumerate(CLEAN, start=1):
        task = tasks.get(position)
        if task is None:
            continue
        assert task.task.startswith("Using `shop.csv`, what is"), task.task  # no step: plain
        assert equals_truth(task, task.answers[0].name, truth(raw)), (cell, task.label, truth(raw))
        assert task.verified and task.reference_agrees
    recall = len(tasks) / len(CLEAN)
    assert recall >= 0.8, sorted(set(range(1, len(CLEAN) + 1)) - set(tasks))


def test_new_task_kinds_are_held_to_the_same_rules(shop):
    raw, notebooks = shop
    tasks = {t.cells[-1]: t for t in kept(notebooks["kinds/all.ipynb"])}
    for position, (cell, kind, truth) in enumerate(KINDS, start=1):
        task = tasks[position]
        assert task.question_kind == kind, (cell, task.question_kind)
        assert equals_truth(task, task.answers[0].name, truth(raw)), (cell, task.label, truth(raw))
        assert task.verified and task.reference_agrees, cell
    for position, (cell, kind, truth) in enumerate(MULTI, start=len(KINDS) + 1):
        task = tasks[position]
        expected = truth(raw)
        assert task.question_kind == kind and [a.name for a in task.answers] == list(expected), cell
        assert all(equals_truth(task, name, value) for name, value in expected.items()), (cell, task.label)
        assert task.verified and task.reference_agrees, cell


def test_answer_is_the_labels_value_as_the_format_writes_it(shop):
    _, notebooks = shop
    for notebook in notebooks.values():
        for task in kept(notebook):
            assert task.answer == "; ".join(a.value for a in task.answers)
            assert not task.answer.startswith(("'", '"'))
            assert task.solution[-1].label == task.label


def test_the_reference_program_is_written_from_the_spec_not_copied(shop):
    _, notebooks = shop
    for notebook in notebooks.values():
        for task in kept(notebook):
            ast.parse(task.reference_code)
            assert "../data/" not in task.reference_code  # it reads the files by name, from its own folder
            for step in task.solution[:-1]:
                if "\n" in step.python_code:  # (a one-liner such as `len(df)` may coincide)
                    assert step.python_code not in task.reference_code


# ---------------------------------------------------------------------------------------------
# the slicer, which decides the solution's cells


def slices(sources: list[str], target: int) -> list[int]:
    names = [cell_names(t) for t in parse_cells([Cell("code", s) for s in sources])]
    return slice_cells(names, target)


def test_slice_follows_definitions_and_mutations():
    sources = [
        "import pandas as pd",  # 0
        "df = pd.read_csv('a.csv')",  # 1
        "other = pd.read_csv('b.csv')\nother.head()",  # 2: not needed
        "df['total'] = df['a'] + df['b']",  # 3: mutation of df
        "df.dropna(inplace=True)",  # 4: in-place mutation
        "def scale(x):\n    return x * factor",  # 5
        "factor = 2",  # 6
        "scale(df['total']).mean()",  # 7
    ]
    assert slices(sources, 7) == [0, 1, 3, 4, 5, 6, 7]
    assert slices(sources, 2) == [0, 2]


def test_slice_of_unparsable_target_is_empty():
    assert slices(["x = 1", "print x"], 1) == []
