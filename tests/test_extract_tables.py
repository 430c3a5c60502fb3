"""Tables and long Series as sources of answers, degenerate tasks, and a reason for every cell.

A repository of executed notebooks (tests/notebook_factory.py) shows what a task cannot take whole:
a `groupby` result over a dozen customers, value counts, a sorted table cut to its first rows,
`df.shape`, `df.info()`, `df.nunique()`. Each must give a task that picks a few values out of it,
states how they are computed, carries the values pandas computes from the raw file, and passes
`verify` (its reference program prints the label on the data files alone). Degenerate cells give
no task and say why; so does every other cell that shows something.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest

from extraction_fixtures import extracted_and_verified
from notebook_factory import NotebookFactory
from nbqa_builder.answers import roundings_in_format
from nbqa_builder.extract.grounding import same_value
from nbqa_builder.records import Task

READ = 'import pandas as pd\ndf = pd.read_csv("../data/orders.csv")'
CUSTOMERS = [f"cust_{c}" for c in "abcdefghijkl"]  # 12: more than a short Series holds
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Baku", "Riga", "Doha", "Oran", "Cali", "Graz"]


def orders_data() -> pd.DataFrame:
    rng = np.random.RandomState(3)
    n = 400
    weights = np.arange(len(CITIES), 0, -1) ** 2.0  # clearly unequal: no tie at the top
    frame = pd.DataFrame({
        "customer": rng.choice(CUSTOMERS, size=n),
        "city": rng.choice(CITIES, size=n, p=weights / weights.sum()),
        "year": rng.choice(range(2010, 2022), size=n),
        "units": rng.poisson(20, size=n),
        "amount": np.round(rng.uniform(5, 500, size=n), 2),
        "unit_price": np.round(rng.uniform(2, 9, size=n), 2),
        "channel": "web",  # a constant column
    })
    frame.loc[rng.rand(n) < 0.1, "amount"] = np.nan
    frame.loc[rng.rand(n) < 0.05, "units"] = np.nan
    return frame


# (cell, question kind, truth from the raw frame: {answer name: value}, words the task must say)
TABLES = {
    "long_groups": ('df.groupby("customer")["amount"].sum()', "series_extreme",
                    lambda d: {"top_label_sum_amount_by_customer": d.groupby("customer").amount.sum().idxmax(),
                               "top_value_sum_amount_by_customer": d.groupby("customer").amount.sum().max()},
                    ["the value of `customer` with the largest sum of `amount`"]),
    "year_groups": ('df.groupby("year")["units"].mean()', "series_extreme",
                    lambda d: {"top_label_mean_units_by_year": d.groupby("year").units.mean().idxmax(),
                               "top_value_mean_units_by_year": d.groupby("year").units.mean().max()},
                    ["the value of `year` with the largest mean of `units`"]),
    "sorted_head": ('df.groupby("customer")["units"].sum().sort_values(ascending=False).head(3)', "series_extreme",
                    lambda d: {"top_label_sum_units_by_customer": d.groupby("customer").units.sum().idxmax(),
                               "top_value_sum_units_by_customer": d.groupby("customer").units.sum().max()},
                    ["largest sum of `units`"]),
    "counts_long": ('df["city"].value_counts()', "series_extreme",
                    lambda d: {"top_label_count_city": d.city.value_counts().idxmax(),
                               "top_value_count_city": d.city.value_counts().max()},
                    ["the value of `city` with the largest number of rows"]),
    "counts_short": ('df[df["city"].isin(["Oslo", "Lima", "Pune"])]["city"].value_counts()', "value_counts",
                     lambda d: {f"count_city_{c.lower()}": n for c, n in
                                d[d.city.isin(["Oslo", "Lima", "Pune"])].city.value_counts().items()},
                     ["`city` is one of 'Oslo', 'Lima', 'Pune'", "the number of rows for each value of `city`"]),
    "group_table": ('df.groupby("customer")[["units", "amount"]].mean().sort_values("amount", ascending=False).head(3)',
                    "group_row",
                    lambda d: {"customer": d.groupby("customer").amount.mean().idxmax(),
                               "mean_units": d.groupby("customer").units.mean()[d.groupby("customer").amount.mean().idxmax()],
                               "mean_amount": d.groupby("customer").amount.mean().max()},
                    ["the value of `customer` with the largest mean of `amount`, and its mean of `units`"]),
    "year_table": ('df.groupby("year")[["units", "unit_price"]].mean()', "group_row",
                   lambda d: {"year": d.groupby("year").units.mean().idxmax(), "mean_units": d.groupby("year").units.mean().max(),
                              "mean_unit_price": d.groupby("year").unit_price.mean()[d.groupby("year").units.mean().idxmax()]},
                   ["the value of `year` with the largest mean of `units`, and its mean of `units` and its mean of `unit_price`"]),
    "shape": ('df[df["units"] > 20].shape', "shape",
              lambda d: {"row_count": (d.units > 20).sum(), "column_count": d.shape[1]},
              ["`units` > 20", "the number of rows and the number of columns"]),
    "cut_table": ('df[df["units"] > 10]', "shape",
                  lambda d: {"row_count": (d.units > 10).sum(), "column_count": d.shape[1]},
                  ["`units` > 10", "the number of rows and the number of columns"]),
    "info": ("df.info()", "non_null_counts",
             lambda d: {"row_count": len(d), "non_missing_units": d.units.count(), "non_missing_amount": d.amount.count()},
             ["the number of non-missing values of `units`, of `amount`"]),
    "nunique": ('df[["customer", "city", "year"]].nunique()', "nunique",
                lambda d: {"nunique_customer": 12, "nunique_city": d.city.nunique(), "nunique_year": d.year.nunique()},
                ["the number of distinct values of each column"]),
    "frame_mean": ('df[["units", "amount"]].mean()', "mean_per_column",
                   lambda d: {"mean_units": d.units.mean(), "mean_amount": d.amount.mean()},
                   ["Keep only the columns `units` and `amount`", "the mean of each numeric column"]),
    "frame_count": ("df.count()", "count_per_column",
                    lambda d: {f"non_missing_{c}": n for c, n in d.count().items()},
                    ["the number of non-missing values of each column"]),
    "count_long": ('df["p2"] = df["unit_price"] * 2\ndf["y2"] = df["year"] + 1\ndf.count()', "series_extreme",
                   lambda d: {"bottom_label_count_per_column": "amount", "bottom_value_count_per_column": d.amount.count()},
                   ["the column with the smallest number of non-missing values"]),
    "named_entry": ('df.groupby("customer")["amount"].sum()["cust_c"]', "group_value",
                    lambda d: {"sum_amount_cust_c": d.groupby("customer").amount.sum()["cust_c"]},
                    ["the sum of `amount` over the rows whose `customer` is 'cust_c'"]),
    "groups_over": ('sums = df.groupby("customer")["amount"].sum()\nlen(sums[sums > 7000])', "entries_where",
                    lambda d: {"entries_sum_amount_by_customer": (d.groupby("customer").amount.sum() > 7000).sum()},
                    ["the number of distinct values of `customer` whose sum of `amount` is greater than 7000"]),
    "counts_over": ('(df["city"].value_counts() >= 40).sum()', "entries_where",
                    lambda d: {"entries_count_city": (d.city.value_counts() >= 40).sum()},
                    ["the number of distinct values of `city` whose number of rows is at least 40"]),
    # a table shown whole: the rows a filter kept, counted; sorted, the first values of its first key
    "filtered_whole": ('df[df["units"] > 30]', "count_where",
                       lambda d: {"row_count": (d.units > 30).sum()}, ["`units` > 30", "the number of rows"]),
    "sorted_whole": ('df[df["units"] > 30].sort_values(["units", "amount"], ascending=False)', "top_values",
                     lambda d: {f"largest_units_{i}": v for i, v in enumerate(d[d.units > 30].units.nlargest(3), 1)},
                     ["`units` > 30", "the 3 largest values of `units`"]),
    # describe() of a text column: its count, distinct values, most frequent value and its count
    "text_describe": ('df["city"].describe()', "text_describe",
                      lambda d: {"count_city": d.city.count(), "unique_city": d.city.nunique(),
                                 "top_city": d.city.value_counts().index[0], "freq_city": d.city.value_counts().iloc[0]},
                      ["its most frequent value and how many rows have that value"]),
    # the rows of a grouped table: one per distinct key
    "group_count": ('sums = df.groupby("city")[["units"]].sum()\nlen(sums)', "nunique",
                    lambda d: {"nunique_city": d.city.nunique()}, ["the number of distinct values of `city`"]),
    # outliers: a count beyond the IQR fences, or of z-scores past a threshold, the rule in the text
    "iqr_outliers": ('q1 = df["units"].quantile(0.25)\nq3 = df["units"].quantile(0.75)\niqr = q3 - q1\n'
                     'far = df[(df["units"] < q1 - 1.5 * iqr) | (df["units"] > q3 + 1.5 * iqr)]\nlen(far)',
                     "count_where", lambda d: {"row_count": iqr_outliers(d.units, 1.5)},
                     ["the 0.25 quantile of `units`", "1.5 multiplied by"]),
    "zscore_outliers": ('import numpy as np\nfrom scipy import stats\n(np.abs(stats.zscore(df["unit_price"])) > 1.5).sum()',
                        "count_where",
                        lambda d: {"count_unit_price": int((abs((d.unit_price - d.unit_price.mean()) / d.unit_price.std(ddof=0)) > 1.5).sum())},
                        ["the standard deviation of `unit_price` (population, denominator n)", "> 1.5"]),
    # a correlation matrix shown whole: its strongest pair, read off the table
    "corr_matrix": ('df["spend"] = df["units"] * df["unit_price"] + df["year"] % 3\ndf.corr(numeric_only=True)',
                    "strongest_correlation", lambda d: strongest_pair(d),
                    ["Set the column `spend`", "what are the two numeric columns whose Pearson correlation coefficient is "
                     "the largest in absolute value"]),
    "sorted_rows": ('df.sort_values("amount", ascending=False).head(3)', "top_values",
                    lambda d: {f"largest_amount_{i}": v for i, v in enumerate(d.amount.nlargest(3), 1)},
                    ["the 3 largest values of `amount`"]),
    "nsmallest": ('df.dropna(subset=["units"]).nsmallest(4, "units")', "top_values",
                  lambda d: {f"smallest_units_{i}": v for i, v in enumerate(d.units.dropna().nsmallest(4), 1)},
                  ["the 4 smallest values of `units`"]),
}

def iqr_outliers(values: pd.Series, k: float) -> int:
    q1, q3 = values.quantile(0.25), values.quantile(0.75)
    return int(((values < q1 - k * (q3 - q1)) | (values > q3 + k * (q3 - q1))).sum())


def strongest_pair(d: pd.DataFrame) -> dict:
    d = d.assign(spend=d.units * d.unit_price + d.year % 3)
    corr = d.corr(numeric_only=True)
    pairs = {(a, b): corr.loc[a, b] for i, a in enumerate(corr.index) for b in corr.columns[i + 1:]}
    (a, b), r = max(pairs.items(), key=lambda item: abs(item[1]))
    return {"column_a": a, "column_b": b, "correlation": r}


# the same outputs behind a step the spec states (in the text) or cannot state (no task)
TRAPS = {
    "filtered_groups": (['df = df[df["units"] >= 15]'], 'df.groupby("customer")["amount"].sum()',
                        lambda d: d[d.units >= 15].groupby("customer").amount.sum().idxmax(), "`units` >= 15"),
    "derived_sorted": (['df["total"] = df["units"] * df["amount"]'], 'df.sort_values("total").head(2)',
                       lambda d: (d.units * d.amount).nsmallest(2).iloc[0], "`units` * `amount`"),
}
TRAPS["renamed_counts"] = (['df = df.rename(columns={"city": "town"})'], 'df["town"].value_counts()',
                           lambda d: d.city.value_counts().idxmax(), "`city` to `town`")
TRAPS["filtered_info"] = (['df = df[df["year"] >= 2015]'], "df.info()",
                          lambda d: (d.year >= 2015).sum(), "`year` >= 2015")
UNSTATED = ('df["amount"] = df["amount"].apply(lambda a: abs(a) * 2)', 'df.groupby("customer")["amount"].sum()')
# ... which stops only the questions that read the column it sets
ELSEWHERE = ('df["customer"] = df["customer"].apply(lambda c: c[::-1])', 'df["amount"].sum()')

# (cells after the read, the drop reason)
DEGENERATE = {
    "nan_text": (['len(df[df["city"] == "NaN"])'], "compares_with_missing_as_text"),
    "no_rows": (['len(df[df["units"] > 1000])'], "keeps_no_rows"),
    "no_rows_shape": (['df[df["units"] > 1000].shape'], "keeps_no_rows"),
    "fillna_count": (['df["amount"] = df["amount"].fillna(0)', 'df["amount"].count()'], "count_after_fillna"),
    "rate_sum": (['df["unit_price"].sum()'], "sum_of_a_rate"),
    "constant": (['df["channel"].nunique()'], "constant_column"),
    "complete_info": (['df[["customer", "city"]].info()'], "non_missing_equals_row_count"),
    # the raw file's size beside a richer task of the same notebook
    # the largest of 9 column means (years, counts, amounts...) compares unlike things
    "mean_of_many_columns": ([*[f'df["units{k}"] = df["units"] * {k}' for k in range(2, 7)],
                              "df.mean(numeric_only=True)"], "per_column_series_too_long"),
    "bare_read": (["df.shape", 'df["units"].mean()'], "bare_read_beside_richer_task"),
    # four rows, four customers: describe() names one of them as the top value, and any would do
    "tied_text_top": (['df.head(4)["customer"].describe()'], "tied_top_entry"),
}
# cells that show something but give no task: (code, reason prefix)
NO_TASK = [
    ("df.head()", "table_output"),
    # the first groups in label order: the group at the top may not be shown, so nothing is asked
    ('df.groupby("customer")[["units", "amount"]].mean().head(3)', "table_output"),
    ('df.plot.bar(x="units", y="amount");', "unrenderable_chart"),  # keywords that choose the bars: not stated
    ('print("hello")', "no_data_file"),
    ('df["customer"].value_counts().sort_index()', "long_series_output"),
]


def with_chart(path, source_start: str) -> None:
    """The test kernel draws no inline figures: the chart cell gets the image output a notebook
    kernel would have stored."""
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if c.source.startswith(source_start))
    cell.outputs.append(nbformat.v4.new_output("display_data", {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}))
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def orders(tmp_path_factory):
    repo = tmp_path_factory.mktemp("orders")
    (repo / "data").mkdir()
    raw = orders_data()
    raw.to_csv(repo / "data" / "orders.csv", index=False)
    factory = NotebookFactory()
    try:
        for name, (cell, *_rest) in TABLES.items():
            factory.write(repo, f"tables/{name}.ipynb", [READ, cell])
        for name, (setup, answer, _, _) in TRAPS.items():
            factory.write(repo, f"traps/{name}.ipynb", [READ, *setup, answer])
        factory.write(repo, "traps/unstated.ipynb", [READ, *UNSTATED])
        factory.write(repo, "traps/elsewhere.ipynb", [READ, *ELSEWHERE])
        for name, (cells, _) in DEGENERATE.items():
            factory.write(repo, f"degenerate/{name}.ipynb", [READ, *cells])
        written = factory.write(repo, "no_task/all.ipynb", [READ, "import matplotlib\nmatplotlib.use('Agg')",
                                                            *[cell for cell, _ in NO_TASK]])
    finally:
        factory.close()
    with_chart(written, "df.plot")
    return raw, extracted_and_verified(repo)


def kept(tasks: list[Task]) -> list[Task]:
    return [t for t in tasks if t.drop_reason is None]


def agrees(task: Task, name: str, truth) -> bool:
    value = next(a.value for a in task.answers if a.name == name)
    rounding = roundings_in_format(task.format, [name])[name]
    if isinstance(truth, str):
        return value == truth
    shown = repr(float(truth)) if isinstance(truth, (float, np.floating)) else str(int(truth))
    return same_value(value, shown, rounding)


@pytest.mark.parametrize("name", list(TABLES))
def test_a_table_or_long_series_gives_a_task_that_picks_named_values(orders, name):
    raw, notebooks = orders
    cell, kind, truth, words = TABLES[name]
    notebook = notebooks[f"tables/{name}.ipynb"]
    tasks = kept(notebook.tasks)
    assert len(tasks) == 1, [t.drop_reason for t in notebook.tasks]
    (task,) = tasks
    assert task.question_kind == kind, task.question_kind
    for phrase in words:
        assert phrase in task.task, (phrase, task.task)
    expected = truth(raw)
    assert [a.name for a in task.answers] == list(expected), (task.label, expected)
    for answer_name, value in expected.items():
        assert agrees(task, answer_name, value), (answer_name, task.label, value)
    assert all(a.place for a in task.answers)  # each answer is at a named place of the shown table
    assert task.solution[-1].thought.startswith(("The result is shown above;", f"The result is {task.solution[-2].code_output.strip()};"))
    assert task.verified and task.reference_agrees, task


@pytest.mark.parametrize("name", list(TRAPS))
def test_a_step_before_the_table_is_stated_in_the_text(orders, name):
    raw, notebooks = orders
    _, _, truth, words = TRAPS[name]
    (task,) = kept(notebooks[f"traps/{name}.ipynb"].tasks)
    assert words in task.task, task.task
    assert agrees(task, task.answers[0].name, truth(raw)), (task.label, truth(raw))
    assert task.verified and task.reference_agrees


def test_a_step_the_spec_cannot_state_gives_no_task_and_names_it(orders):
    _, notebooks = orders
    notebook = notebooks["traps/unstated.ipynb"]
    assert not kept(notebook.tasks)
    reasons = [t.drop_reason for t in notebook.tasks]
    assert reasons == ["unrenderable_preprocessing: df['amount'] = df['amount'].apply(lambda a: abs(a) * 2)"], reasons


@pytest.mark.parametrize("name", ["iqr_outliers", "zscore_outliers"])
def test_a_count_by_a_rule_of_outliers_is_an_outlier_task(orders, name):
    _, notebooks = orders
    (task,) = kept(notebooks[f"tables/{name}.ipynb"].tasks)
    assert task.category == "Outlier Detection" and task.concepts[0] == "Outlier Detection"
    (other,) = kept(notebooks["tables/shape.ipynb"].tasks)  # a filter on a constant is no rule of outliers
    assert other.category != "Outlier Detection"


def test_a_column_set_by_code_the_spec_cannot_state_stops_only_the_questions_that_read_it(orders):
    raw, notebooks = orders
    (task,) = kept(notebooks["traps/elsewhere.ipynb"].tasks)
    assert task.task == "Using `orders.csv`, what is the sum of `amount`?"  # `customer` plays no part
    assert agrees(task, "sum_amount", raw.amount.sum()) and task.verified and task.reference_agrees


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_a_degenerate_task_is_dropped_with_its_reason(orders, name):
    _, notebooks = orders
    notebook = notebooks[f"degenerate/{name}.ipynb"]
    assert all(t.question_kind == "mean" for t in kept(notebook.tasks))  # (the richer task beside a bare read)
    reasons = [t.drop_reason.split(":")[0] for t in notebook.tasks if t.drop_reason]
    assert DEGENERATE[name][1] in reasons, reasons


def test_every_cell_that_shows_something_gives_a_task_or_a_reason(orders):
    _, notebooks = orders
    notebook = notebooks["no_task/all.ipynb"]
    by_cell = {t.cells[-1]: t.drop_reason for t in notebook.tasks}
    for position, (cell, reason) in enumerate(NO_TASK, start=2):
        assert (by_cell.get(position) or "").startswith(reason), (cell, by_cell.get(position))


# -- the places a shown table names (extract/shown_tables.py, extract/grounding.py) ---------------


def test_a_shown_dataframe_names_each_cell_by_row_and_column_and_refuses_what_it_cannot_address():
    from nbqa_builder.extract.grounding import shown_values

    frame = pd.DataFrame({"units": [3, 1], "price": [0.5, 2.25]}, index=pd.Index(["east", "north"], name="region"))
    display = {"output_type": "execute_result", "data": {"text/plain": repr(frame), "text/html": frame._repr_html_()}}
    places = shown_values([display])
    assert places["result.loc[north, price]"] == "2.25" and places["result.index[0]"] == "east"
    two_levels = frame.set_index(pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    nested = {"output_type": "execute_result", "data": {"text/plain": repr(two_levels), "text/html": two_levels._repr_html_()}}
    assert not any(".loc[" in place for place in shown_values([nested]))  # cells spanning rows: no guess


def test_a_table_shown_as_wrapped_text_is_read_block_by_block_and_a_cut_one_is_not():
    from nbqa_builder.extract.shown_tables import text_table

    wide = pd.DataFrame({f"col{i}": [i * 1.5, i * 2.25, -i] for i in range(14)}, index=["p", "q", "r"])
    with pd.option_context("display.width", 60, "display.max_columns", None, "display.expand_frame_repr", True):
        text = repr(wide)
    assert text.count("\\") == 1  # pandas wrapped it into blocks of columns, as old notebooks store it
    table = text_table(text)
    assert table.columns == tuple(wide.columns) and table.index == ("p", "q", "r")
    assert table.cell("q", "col13") == "29.25" and table.cell("r", "col1") == "-1.00"
    with pd.option_context("display.width", 60, "display.max_columns", None, "display.max_rows", 4):
        cut = repr(pd.concat([wide] * 3, ignore_index=True))
    assert text_table(cut) is None  # rows left out: no guess


def test_info_prints_the_row_count_and_each_columns_non_null_count():
    import io

    from nbqa_builder.extract.grounding import shown_values

    buffer = io.StringIO()
    pd.DataFrame({"customer": ["a", None, "c"], "units": [1.0, 2.0, None]}).info(buf=buffer)
    places = shown_values([{"output_type": "stream", "name": "stdout", "text": buffer.getvalue()}])
    assert {k: v for k, v in places.items() if k.startswith("info")} == {
        "info.entries": "3", "info[customer]": "2", "info[units]": "2"}


def test_past_the_task_limit_the_mix_stays_varied(tmp_path):
    # six means, then a median and a count: with room for four tasks, the first of each kind comes
    # before the second mean
    from nbqa_builder.deps.step import DepsStep
    from nbqa_builder.extract.step import ExtractConfig, ExtractStep
    from nbqa_builder.notebooks.validate import ValidateStep
    from nbqa_builder.sources.local import describe_repository, read_notebook

    (tmp_path / "data").mkdir()
    orders_data().to_csv(tmp_path / "data" / "orders.csv", index=False)
    means = [f'df[df["year"] >= {year}]["units"].mean()' for year in range(2012, 2018)]
    factory = NotebookFactory()
    try:
        factory.write(tmp_path, "work/many.ipynb", [READ, *means, 'df["amount"].median()', 'df["city"].nunique()'])
    finally:
        factory.close()
    notebook = read_notebook(describe_repository(tmp_path), "work/many.ipynb", 10**8)
    for step in (ValidateStep(), DepsStep(), ExtractStep(ExtractConfig(max_tasks_per_notebook=4))):
        step([notebook])
    chosen = kept(notebook.tasks)
    assert [t.question_kind for t in chosen] == ["mean", "mean", "median", "nunique"]
    assert ">= 2012" in chosen[0].task and ">= 2013" in chosen[1].task  # the earliest of each kind
    assert [t.drop_reason for t in notebook.tasks].count("over_task_limit") == 4
