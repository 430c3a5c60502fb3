"""More spec operations (issue 25): binning, index labels, shares of values, date parts and spans,
sorted and largest rows, string pieces, missing values per column, type conversions.

Each notebook here reads one file, applies one operation the way analysts write it, and shows a
value. The truth is computed with pandas from the raw file; the task the extractor makes must name
the operation in its text, carry the true value, and `verify` must agree by running the reference
program written from the spec. A trap variant (a hidden filter) must be stated in the text, and an
operation whose effect the text could not state (bins chosen by pandas) gives no task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from extraction_fixtures import equals_truth, extracted_and_verified, kept
from notebook_factory import NotebookFactory

READ = 'import pandas as pd\ndf = pd.read_csv("../data/orders.csv")'
FIRST = ["Ana", "Ben", "Carla", "Dan", "Eva", "Femi", "Gus"]
LAST = ["Lopez", "Smith", "Ng", "Okafor"]


def orders_data(rng: np.random.RandomState) -> pd.DataFrame:
    rows = 300
    frame = pd.DataFrame({
        "date": pd.date_range("2025-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
        "region": rng.choice(["north", "south", "east", "west"], size=rows, p=[0.2, 0.25, 0.4, 0.15]),
        "name": [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rows)],
        "channel": rng.choice(["web", "store"], size=rows),
        "units": rng.poisson(20, size=rows),
        "price": np.round(rng.uniform(2, 9, size=rows), 2),
        "discount": np.round(rng.uniform(0, 0.3, size=rows), 2),
    })
    frame.loc[rng.rand(rows) < 0.1, "discount"] = np.nan
    frame.loc[rng.rand(rows) < 0.05, "region"] = np.nan
    return frame


MORE = orders_data(np.random.RandomState(12)).head(40)  # a second file of orders, for concat


# files of one month each, for reads over a glob pattern (in name order)
MONTHLY = {f"2025-0{month}.csv": orders_data(np.random.RandomState(20 + month)).head(20 + 5 * month) for month in (1, 2, 3)}
GLOB_READ = "import glob\nfiles = sorted(glob.glob('../data/monthly/*.csv'))"


def monthly() -> pd.DataFrame:
    return pd.concat(MONTHLY.values(), ignore_index=True)


PIVOTED = orders_data(np.random.RandomState(11)).iloc[4]  # the row whose cell a pivot shows


def dated(d: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(d.date)


@dataclass
class Operation:
    name: str
    cells: list[str]  # after the read, before the answer
    answer: str
    truth: Callable[[pd.DataFrame], object]  # a value, or {answer name: value} for several answers
    named: list[str]  # what the task text must say
    unsaid: tuple[str, ...] = ()  # what it must not: a step that changes nothing the question reads


OPERATIONS = [
    Operation("astype", ['df["whole_price"] = df["price"].astype(int)'], 'df["whole_price"].sum()',
              lambda d: d.price.astype(int).sum(), ["`price` converted to 'int'"]),
    Operation("astype_frame", ['df = df.astype({"price": "int"})'], 'df["price"].sum()',
              lambda d: d.price.astype(int).sum(), ["`price` converted to 'int'"]),
    Operation("set_index_columns", ['indexed = df.set_index(["region", "units"])'], "indexed.index.is_unique",
              lambda d: d.set_index(["region", "units"]).index.is_unique, ["`region` and `units` as the index",
                                                                            "no row label"]),
    Operation("index_assigned", ['df.index = df["name"] + " " + df["date"]'], "df.index.is_unique",
              lambda d: (d.name + " " + d.date).is_unique, ["Replace the row labels", "`name`", "`date`"]),
    Operation("value_shares", [], 'df["region"].value_counts(normalize=True)',
              lambda d: {f"share_region_{k}": v for k, v in d.region.value_counts(normalize=True).items()},
              ["fraction", "non-missing values", "each value of `region`"]),
    Operation("value_shares_of_rows", [], 'df["region"].value_counts() / len(df)',
              lambda d: {f"share_region_{k}": v for k, v in (d.region.value_counts() / len(d)).items()},
              ["fraction", "all rows", "each value of `region`"]),
    Operation("value_shares_filtered", ['big = df[df["units"] > 20]'], 'big["region"].value_counts(normalize=True)',
              lambda d: {f"share_region_{k}": v for k, v in d[d.units > 20].region.value_counts(normalize=True).items()},
              ["`units` > 20", "each value of `region`"]),
    Operation("day_name", ['df["date"] = pd.to_datetime(df["date"])', 'df["weekday"] = df["date"].dt.day_name()'],
              'df[df["weekday"] == "Saturday"]["units"].sum()',
              lambda d: d[dated(d).dt.day_name() == "Saturday"].units.sum(), ["name of the weekday", "'Saturday'"]),
    Operation("month", ['df["date"] = pd.to_datetime(df["date"])'], 'df[df["date"].dt.month == 3]["units"].mean()',
              lambda d: d[dated(d).dt.month == 3].units.mean(), ["the month (1-12) of `date`", "== 3"]),
    Operation("quarter", ['df["date"] = pd.to_datetime(df["date"])', 'df["quarter"] = df["date"].dt.quarter'],
              'df.groupby("quarter")["units"].sum()',
              lambda d: {f"sum_units_{k}": v for k, v in d.groupby(dated(d).dt.quarter).units.sum().items()},
              ["the quarter (1-4) of `date`"]),
    Operation("date_span", ['df["date"] = pd.to_datetime(df["date"])'], '(df["date"].max() - df["date"].min()).days',
              lambda d: (dated(d).max() - dated(d).min()).days, ["whole days", "maximum of `date`", "minimum of `date`"]),
    Operation("index_span", ['df["date"] = pd.to_datetime(df["date"])', 'df = df.set_index("date")'],
              "(df.index.max() - df.index.min()).days", lambda d: (dated(d).max() - dated(d).min()).days,
              ["whole days", "the smallest row label (index value)", "the largest row label (index value)"]),
    Operation("sorted_head", ['top = df.sort_values("price", ascending=False).head(5)'], 'top["units"].sum()',
              lambda d: d.sort_values("price", ascending=False).head(5).units.sum(),
              ["`price` (descending)", "first 5 rows"]),
    Operation("nsmallest", ['cheap = df.nsmallest(7, "price")'], 'cheap["units"].mean()',
              lambda d: d.nsmallest(7, "price").units.mean(), ["`price` (ascending)", "first 7 rows"]),
    Operation("str_contains", [], 'df[df["name"].str.contains("Ng")]["units"].sum()',
              lambda d: d[d.name.str.contains("Ng")].units.sum(), ["`name`", "'Ng'"]),
    Operation("str_lower", ['df["lower"] = df["name"].str.lower()'], '(df["lower"] == "ana ng").sum()',
              lambda d: (d.name.str.lower() == "ana ng").sum(), ["lower case", "'ana ng'"]),
    Operation("str_split", ['df["first"] = df["name"].str.split(" ").str[0]'], '(df["first"] == "Eva").sum()',
              lambda d: (d.name.str.split(" ").str[0] == "Eva").sum(), ["split at every ' '", "position 0", "'Eva'"]),
    Operation("cut", ['df["size"] = pd.cut(df["units"], bins=[0, 15, 25, 100], labels=["small", "medium", "large"])'],
              'df["size"].value_counts()["large"]',
              lambda d: (pd.cut(d.units, [0, 15, 25, 100], labels=["small", "medium", "large"]) == "large").sum(),
              ["binned at the edges [0, 15, 25, 100]", "['small', 'medium', 'large']"]),
    Operation("qcut", ['df["tier"] = pd.qcut(df["price"], 4, labels=["q1", "q2", "q3", "q4"])'],
              'df[df["tier"] == "q4"]["units"].mean()',
              lambda d: d[pd.qcut(d.price, 4, labels=["q1", "q2", "q3", "q4"]) == "q4"].units.mean(),
              ["4 bins holding equal numbers", "'q4'"]),
    Operation("agg_list", [], 'df["price"].agg(["mean", "max", "std"])',
              lambda d: {"mean_price": d.price.mean(), "max_price": d.price.max(), "std_price": d.price.std()},
              ["the mean, the maximum and the standard deviation (sample, denominator n - 1) of `price`"]),
    Operation("group_agg", [], 'df.groupby("region")["units"].agg("sum")',
              lambda d: {f"sum_units_{k}": v for k, v in d.groupby("region").units.sum().items()},
              ["sum of `units` for each value of `region`"]),
    Operation("groupby_two_columns", [], 'df.groupby(["region", "channel"])["price"].mean()["east", "web"]',
              lambda d: d.groupby(["region", "channel"]).price.mean()["east", "web"],
              ["`region` is 'east' and `channel` is 'web'"]),
    Operation("resample_on", ['df["date"] = pd.to_datetime(df["date"])'], 'df.resample("QE", on="date")["units"].sum()',
              lambda d: {f"sum_units_{k:%Y_%m_%d}": v for k, v in d.set_index(dated(d)).units.resample("QE").sum().items()},
              ["each calendar quarter of `date` (a period is labelled by its last day)"]),
    Operation("resample_index", ['df["date"] = pd.to_datetime(df["date"])', 'df = df.set_index("date")'],
              'df.resample("QS")["price"].max()',
              lambda d: {f"max_price_{k:%Y_%m_%d}": v for k, v in d.set_index(dated(d)).price.resample("QS").max().items()},
              ["`date` as the index", "each calendar quarter of the dates in the index (a period is labelled by its first day)"]),
    Operation("grouper", ['df["date"] = pd.to_datetime(df["date"])'],
              'df.groupby(pd.Grouper(key="date", freq="QE"))["units"].mean()',
              lambda d: {f"mean_units_{k:%Y_%m_%d}": v for k, v in d.set_index(dated(d)).units.resample("QE").mean().items()},
              ["each calendar quarter of `date` (a period is labelled by its last day)"]),
    Operation("pivot_table_cell", ['table = df.pivot_table(values="units", index="region", columns="channel", aggfunc="sum")'],
              'table.loc["south", "store"]',
              lambda d: d.pivot_table(values="units", index="region", columns="channel", aggfunc="sum").loc["south", "store"],
              ["sum of `units` over the rows whose `region` is 'south' and `channel` is 'store'"]),
    Operation("pivot_table_column", ['table = pd.pivot_table(df, values="price", index="channel", columns="region")'],
              'table["west"]["web"]',
              lambda d: d.pivot_table(values="price", index="channel", columns="region")["west"]["web"],
              ["mean of `price` over the rows whose `channel` is 'web' and `region` is 'west'"]),
    Operation("pivot_cell", ['wide = df.pivot(index="date", columns="channel", values="units")'],
              f'wide.loc["{PIVOTED.date}", "{PIVOTED.channel}"]',
              lambda d: d.pivot(index="date", columns="channel", values="units").loc[PIVOTED.date, PIVOTED.channel],
              [f"the value of `units` in the one row whose `date` is '{PIVOTED.date}' and `channel` is '{PIVOTED.channel}'"]),
    Operation("crosstab", ['counts = pd.crosstab(df["region"], df["channel"])'], 'counts.loc["north", "web"]',
              lambda d: pd.crosstab(d.region, d.channel).loc["north", "web"],
              ["number of rows whose `region` is 'north' and `channel` is 'web'"]),
    Operation("concat", ['more = pd.read_csv("../data/more_orders.csv")', "both = pd.concat([df, more], ignore_index=True)"],
              'both["units"].sum()', lambda d: pd.concat([d, MORE]).units.sum(),
              ["Append the rows of the table in `more_orders.csv`", "numbering all rows again from 0"]),
    Operation("concat_then_filter", ['more = pd.read_csv("../data/more_orders.csv")', "both = pd.concat([df, more])",
                                     'both = both[both["region"] == "west"]'], 'both["price"].mean()',
              lambda d: pd.concat([d, MORE]).query("region == 'west'").price.mean(),
              ["`more_orders.csv`", "each row keeping its row label", "`region` == 'west'"]),
    Operation("glob_comprehension", [GLOB_READ, "frames = [pd.read_csv(f) for f in files]",
                                     "months = pd.concat(frames, ignore_index=True)"], 'months["units"].sum()',
              lambda d: monthly().units.sum(),
              ["Start from the table in `2025-01.csv`",
               "Append the rows of the table in `2025-02.csv`", "Append the rows of the table in `2025-03.csv`"]),
    Operation("glob_loop_list", [GLOB_READ, "frames = []\nfor f in files:\n    frames.append(pd.read_csv(f))",
                                 "months = pd.concat(frames)", 'months = months[months["channel"] == "web"]'],
              'months["price"].mean()', lambda d: monthly().query("channel == 'web'").price.mean(),
              ["`2025-03.csv`", "each row keeping its row label", "`channel` == 'web'"]),
    Operation("glob_loop_onto_table", [GLOB_READ, "months = pd.DataFrame()\nfor f in files:\n"
                                       "    months = pd.concat([months, pd.read_csv(f)], ignore_index=True)"],
              'months["region"].value_counts()["east"]', lambda d: (monthly().region == "east").sum(),
              ["`2025-02.csv`", "numbering all rows again from 0", "'east'"]),
    Operation("groupby_series", [], 'df.groupby(df.region)["units"].sum()',
              lambda d: {f"sum_units_{k}": v for k, v in d.groupby("region").units.sum().items()},
              ["sum of `units` for each value of `region`"]),
    Operation("set_index_drop", ['indexed = df.set_index("name", drop=True)'], "indexed.index.is_unique",
              lambda d: d.name.is_unique, ["the column `name` as the index"]),
    # the empty field stays an empty string: not missing, so it is counted
    Operation("keep_default_na", ['df = pd.read_csv("../data/orders.csv", keep_default_na=False)'],
              '(df["region"] == "").sum()', lambda d: d.region.isna().sum(),
              ["keep_default_na=False", "the empty field"]),
    # every numeric column's mean per group: the columns the shown table has are named in the text
    Operation("group_table_every_column", [], 'df.groupby("channel").mean(numeric_only=True)',
              lambda d: (lambda t: {"channel": t.units.idxmax(), "mean_units": t.units.max(),
                                    "mean_price": t.price[t.units.idxmax()], "mean_discount": t.discount[t.units.idxmax()]})(
                  d.groupby("channel")[["units", "price", "discount"]].mean()),
              ["the value of `channel` with the largest mean of `units`", "its mean of `price`",
               "its mean of `discount`"]),
    Operation("group_table_filtered", ['cheap = df[df["price"] < 5]'], 'cheap.groupby("region").median(numeric_only=True)',
              lambda d: (lambda t: {"region": t.units.idxmax(), "median_units": t.units.max(),
                                    "median_price": t.price[t.units.idxmax()], "median_discount": t.discount[t.units.idxmax()]})(
                  d[d.price < 5].groupby("region")[["units", "price", "discount"]].median()),
              ["`price` < 5", "the value of `region` with the largest median of `units`"]),
    Operation("column_range", ['part = df.loc[:, "channel":"discount"]'], "part.isna().sum()",
              lambda d: {f"missing_{k}": v for k, v in d.loc[:, "channel":"discount"].isna().sum().items()},
              ["the columns from `channel` to `discount`, both included"]),
    Operation("missing_per_column", [], "df.isna().sum()",
              lambda d: {f"missing_{k}": v for k, v in d.isna().sum().items()}, ["missing values in each column"]),
    # functions of one value, applied to a column: read per column where both agree
    Operation("apply_lambda_string_method", ['cap = lambda x: x.capitalize()', 'df["channel"] = df["channel"].apply(cap)'],
              'df["channel"].value_counts().idxmax()', lambda d: d.channel.str.capitalize().value_counts().idxmax(),
              ["`channel` with its first character in upper case and the rest in lower case"]),
    Operation("apply_def_true_false", ['def big(u):\n    if u > 20:\n        return True\n    else:\n        return False',
                                       'df["big"] = df["units"].apply(big)'],
              'df["big"].sum()', lambda d: (d.units > 20).sum(), ["whether `units` > 20 (True or False)"]),
    Operation("map_lambda_arithmetic", ['df["twice"] = df["units"].map(lambda u: u * 2 + 1)'], 'df["twice"].mean()',
              lambda d: (d.units * 2 + 1).mean(), ["((`units` * 2) + 1)"]),
    # a derived column shown in the first rows: its values there
    Operation("row_values_of_a_derived_column", ['df["total"] = df["units"] * df["price"]'], "df.head(4)",
              lambda d: {f"first_total_{i + 1}": v for i, v in enumerate((d.units * d.price).head(4))},
              ["the values of `total` in the first 4 rows"]),
    # the whole table summed and counted: the mean of every value
    Operation("grand_mean", ['nums = df[["units", "price", "discount"]]'], "nums.sum().sum() / nums.notna().sum().sum()",
              lambda d: d[["units", "price", "discount"]].stack().mean(),
              ["the sum of every value of the numeric columns", "the number of non-missing values in the whole table"]),
    # a group's several aggregates (`agg([...])`): the top group's row
    Operation("group_agg_methods", [], 'df.groupby("region")["price"].agg(["mean", "max", "count"])',
              lambda d: {"region": d.groupby("region").price.mean().idxmax(),
                         "mean_price": d.groupby("region").price.mean().max(),
                         "max_price": d.groupby("region").price.max()[d.groupby("region").price.mean().idxmax()],
                         "count_price": d.groupby("region").price.count()[d.groupby("region").price.mean().idxmax()]},
              ["the value of `region` with the largest mean of `price`, and its mean of `price`"]),
    Operation("group_agg_methods_sorted", ['stats = df.groupby("channel")["units"].agg(["sum", "mean"])'],
              'stats.sort_values("mean")',
              lambda d: {"channel": d.groupby("channel").units.mean().idxmin(),
                         "sum_units": d.groupby("channel").units.sum()[d.groupby("channel").units.mean().idxmin()],
                         "mean_units": d.groupby("channel").units.mean().min()},
              ["the value of `channel` with the smallest mean of `units`"]),
    # one constant given to two tables at once; a sheet named by position
    Operation("chained_names", ['a = df[["units", "price"]].copy()', 'b = df[["units", "price"]].head(30)',
                                'a.columns = b.columns = ["u", "p"]', 'a.index.name = b.index.name = "row"'],
              "pd.concat([a, b]).shape", lambda d: {"row_count": len(d) + 30, "column_count": 2},
              ["Name the columns, in order, `u` and `p`"], unsaid=("Name the index",)),
    Operation("excel_sheet_by_position", ['sheet = pd.read_excel("../data/orders.xlsx", "first")'], 'sheet["units"].sum()',
              lambda d: d.head(50).units.sum(), ["from the sheet 'first'"]),
    # a column set by unstatable code, then made the index: to a count per column, only a column gone
    Operation("unstated_column_made_the_index", ['def month(d):\n    return d[:7]', 'df["date"] = df["date"].apply(month)',
                                                  'df = df.set_index("date")'],
              "df.isna().sum()", lambda d: {f"missing_{k}": v for k, v in d.drop(columns="date").isna().sum().items()},
              ["Drop the column `date`"]),
]

# operations whose effect the text could not state: no task, with a reason
UNSTATED = [
    ("cut_without_edges", ['df["size"] = pd.cut(df["units"], 3)'], 'df["size"].nunique()'),
    ("split_expanded", ['df["first"] = df["name"].str.split(" ", expand=True)[0]'], 'df["first"].nunique()'),
    ("crosstab_normalized", ['shares = pd.crosstab(df["region"], df["channel"], normalize=True)'],
     'shares.loc["north", "web"]'),
    ("glob_loop_with_a_filter", [GLOB_READ, "frames = []\nfor f in files:\n    part = pd.read_csv(f)\n"
                                 "    frames.append(part[part['units'] > 20])", "months = pd.concat(frames)"],
     'months["units"].sum()'),
    ("resample_unnamed_period", ['df["date"] = pd.to_datetime(df["date"])'],
     'df.resample("2W", on="date")["units"].sum().max()'),
    # a function whose value per row a column operation may not give (a call, two unlike branches)
    ("apply_lambda_with_a_call", ['df["letters"] = df["name"].apply(lambda s: len(s))'], 'df["letters"].mean()'),
    ("apply_def_two_values", ['def level(u):\n    if u > 20:\n        return u\n    return 0',
                              'df["level"] = df["units"].apply(level)'], 'df["level"].mean()'),
    # an unstatable column made the index, and a statistic that reads the row labels
    ("unstated_index_read", ['df["date"] = df["date"].apply(lambda d: d[:7])', 'df = df.set_index("date")'],
     'df["units"].idxmax()'),
]


@pytest.fixture(scope="module")
def orders(tmp_path_factory):
    """A repository with one executed notebook per operation, extracted and verified."""
    repo = tmp_path_factory.mktemp("orders")
    (repo / "data").mkdir()
    raw = orders_data(np.random.RandomState(11))
    raw.to_csv(repo / "data" / "orders.csv", index=False)
    MORE.to_csv(repo / "data" / "more_orders.csv", index=False)
    raw.head(50).to_excel(repo / "data" / "orders.xlsx", sheet_name="first", index=False)
    (repo / "data" / "monthly").mkdir()
    for name, month in MONTHLY.items():
        month.to_csv(repo / "data" / "monthly" / name, index=False)
    raw = pd.read_csv(repo / "data" / "orders.csv")  # the truth is computed from the file as written
    factory = NotebookFactory()
    try:
        for operation in OPERATIONS:
            factory.write(repo, f"ops/{operation.name}.ipynb", [READ, *operation.cells, operation.answer])
        for name, cells, answer in UNSTATED:
            factory.write(repo, f"unstated/{name}.ipynb", [READ, *cells, answer])
    finally:
        factory.close()
    return raw, extracted_and_verified(repo)


@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.name for o in OPERATIONS])
def test_an_operation_gives_a_task_that_states_it_and_carries_the_true_value(orders, operation):
    raw, notebooks = orders
    notebook = notebooks[f"ops/{operation.name}.ipynb"]
    tasks = kept(notebook)
    assert len(tasks) == 1, [t.drop_reason for t in notebook.tasks]
    (task,) = tasks
    for words in operation.named:
        assert words in task.task, (words, task.task)
    for words in operation.unsaid:
        assert words not in task.task, (words, task.task)
    assert "as the notebook does" not in task.task + task.constraints
    truth = operation.truth(raw)
    expected = truth if isinstance(truth, dict) else {task.answers[0].name: truth}
    assert [a.name for a in task.answers] == list(expected), (task.answers, expected)
    for name, value in expected.items():
        assert equals_truth(task, name, value), (name, task.label, value)
    assert task.verified and task.reference_agrees and task.deterministic, task.drop_reason


@pytest.mark.parametrize("name", [u[0] for u in UNSTATED])
def test_an_operation_the_text_cannot_state_gives_no_task_and_says_why(orders, name):
    _, notebooks = orders
    notebook = notebooks[f"unstated/{name}.ipynb"]
    assert not kept(notebook)
    reasons = [t.drop_reason for t in notebook.tasks]
    assert reasons and all(r.startswith(("unrenderable_preprocessing", "unrenderable_statistic")) for r in reasons), reasons


# `parse_dates=[[0, 1, 2]]` (columns read as one date, which pandas 3 removed): the notebooks here
# were run with the step it stands for and saved with the read their authors wrote
COMBINED_READ = 'import pandas as pd\ndf = pd.read_csv("../data/days.csv", sep=" ", parse_dates=[[0, 1, 2]])'
COMBINED_RUN = ('import pandas as pd\ndf = pd.read_csv("../data/days.csv", sep=" ")\n'
                'df.insert(0, "y_m_d", pd.to_datetime(df[["y", "m", "d"]].astype(str).agg(" ".join, axis=1)))\n'
                'df = df.drop(columns=["y", "m", "d"])')
COMBINED = {  # notebook -> (cells after the read, truth, what the text must say)
    "span": ([], '(df["y_m_d"].max() - df["y_m_d"].min()).days', lambda d: 61,
             "Replace the columns `y`, `m` and `d` by one column `y_m_d`, placed first"),
    "dropped": (['df = df.drop(columns="y_m_d")'], 'df["wind"].mean()', lambda d: d.wind.mean(),
                "Drop the columns `y`, `m` and `d`"),
}
# date options whose effect a step could not state (two new date columns, one column renamed):
# the read is run plainly and saved with them
PLAIN_RUN = 'import pandas as pd\ndf = pd.read_csv("../data/days.csv", sep=" ")'
UNSTATED_DATES = {
    "two_combined_columns": PLAIN_RUN.replace('sep=" ")', 'sep=" ", parse_dates={"a": ["y", "m"], "b": ["m", "d"]})'),
    "one_column_renamed": PLAIN_RUN.replace('sep=" ")', 'sep=" ", parse_dates={"when": ["y"]})'),
}


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    repo = tmp_path_factory.mktemp("days")
    (repo / "data").mkdir()
    days = pd.DataFrame({"y": [61] * 62, "m": [1] * 31 + [2] * 28 + [3] * 3, "d": list(range(1, 32)) + list(range(1, 29)) + [1, 2, 3],
                         "wind": np.round(np.random.RandomState(3).uniform(0, 20, 62), 2)})
    days.loc[[4, 9], "wind"] = np.nan
    days.to_csv(repo / "data" / "days.csv", sep=" ", index=False)
    factory = NotebookFactory()
    try:
        for name, (cells, answer, _, _) in COMBINED.items():
            factory.write(repo, f"nb/{name}.ipynb", [COMBINED_RUN, *cells, answer], saved_as={COMBINED_RUN: COMBINED_READ})
        for name, saved in UNSTATED_DATES.items():
            factory.write(repo, f"nb/{name}.ipynb", [PLAIN_RUN, 'df["wind"].mean()'], saved_as={PLAIN_RUN: saved})
    finally:
        factory.close()
    return days, extracted_and_verified(repo)


@pytest.mark.parametrize("name", list(COMBINED))
def test_date_columns_combined_by_the_read_are_a_stated_step(combined, name):
    days, notebooks = combined
    notebook = notebooks[f"nb/{name}.ipynb"]
    assert "parse_dates" in notebook.cells[0].source  # as its author wrote it
    (task,) = kept(notebook)
    _, _, truth, words = COMBINED[name]
    assert words in task.task, task.task
    assert "parse_dates" not in task.task + task.reference_code
    assert equals_truth(task, task.answers[0].name, truth(days)), (task.label, truth(days))
    # the notebook's own read fails under pandas 3 (an sft task); the program written from the spec agrees
    assert task.reference_agrees and task.executable is False and not task.verified, task


@pytest.mark.parametrize("name", list(UNSTATED_DATES))
def test_date_options_no_step_states_give_no_task(combined, name):
    _, notebooks = combined
    notebook = notebooks[f"nb/{name}.ipynb"]
    assert not kept(notebook)
    assert [t.drop_reason.split(":")[0] for t in notebook.tasks] == ["unrenderable_preprocessing"], notebook.tasks
