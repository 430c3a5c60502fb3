"""Visualization tasks from chart cells (extract/charts.py): the task states the chart, its label
holds checkable values of the plotted data, the row keeps the stored image, and `verify` checks
the plotted data against the text."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbqa_builder.deps.step import DepsStep
from nbqa_builder.extract.step import ExtractStep
from nbqa_builder.notebooks.validate import ValidateStep
from nbqa_builder.records import Notebook
from nbqa_builder.sources.local import describe_repository, read_notebook

SALES = "region,amount\n" + "".join(f"{region},{(i * 7) % 23 + 0.5}\n"
                                    for i, region in zip(range(150), ["north", "south", "east", "west", "north"] * 30))
LOAD = "import pandas as pd\nimport matplotlib.pyplot as plt\nsales = pd.read_csv('data/sales.csv')"


def extracted(factory, tmp_path: Path, cells: list[str]) -> Notebook:
    repo = tmp_path / "acme__charts"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "sales.csv").write_text(SALES)
    (repo / "LICENSE").write_text("MIT License\n")
    factory.write(repo, "charts.ipynb", cells)
    notebook = read_notebook(describe_repository(repo), "charts.ipynb", 1 << 30)
    for step in (ValidateStep(), DepsStep(), ExtractStep()):
        step([notebook])
    return notebook


def charts(notebook: Notebook) -> list:
    return [task for task in notebook.tasks if task.is_visualization]


@pytest.mark.parametrize("plot, kind, names", [
    ("means.plot(kind='bar', color='gray')\nplt.title('mean amount')\nplt.show()", "bar",
     ("bar_count", "tallest_bar", "tallest_value")),
    ("means.plot.barh(figsize=(4, 3))", "barh", ("bar_count", "longest_bar", "longest_value")),
    ("means.plot()", "line", ("point_count", "highest_point", "highest_value")),
])
def test_a_chart_of_a_group_statistic_gives_a_task_whose_label_is_the_plotted_data(factory, verify, tmp_path, plot,
                                                                                   kind, names):
    notebook = extracted(factory, tmp_path, [LOAD, "means = sales.groupby('region')['amount'].mean()\n" + plot])
    [task] = charts(notebook)
    assert task.drop_reason is None, task.drop_reason
    assert task.task.startswith("Using `sales.csv`, draw a ")
    assert "mean of `amount` for each value of `region`" in task.task and task.question_kind == f"{kind}_chart"
    assert base64.b64decode(task.chart_image).startswith(b"\x89PNG")  # the notebook's stored chart
    assert task.label == ""  # an image shows no numbers: verify sets it
    verify([notebook])
    assert task.drop_reason is None, task.drop_reason
    means = pd.read_csv(pd.io.common.StringIO(SALES)).groupby("region")["amount"].mean()
    assert task.label == (f"@{names[0]}[{len(means)}] @{names[1]}[{means.idxmax()}] "
                          f"@{names[2]}[{round(float(means.max()), 2)}]")
    assert task.verified and task.deterministic and task.reference_agrees
    assert task.solution[-1].label == task.label


def test_verify_drops_a_chart_whose_plotted_data_differ_from_the_text(factory, verify, tmp_path):
    notebook = extracted(factory, tmp_path, [LOAD, "sales.groupby('region')['amount'].sum().plot(kind='bar')"])
    [task] = charts(notebook)
    # a text that asked for the mean, while the notebook's chart draws the sum
    task.reference_code = task.reference_code.replace("['amount'].sum()", "['amount'].mean()")
    verify([notebook])
    assert task.drop_reason == "chart_data_mismatch"


def test_a_chart_of_a_notebook_that_cannot_rerun_is_kept_only_where_its_cells_rerun(factory, verify, tmp_path):
    # a chart's label comes from a re-run; the notebook stops further down (a removed API), but the
    # chart's own cells and file are all there: verify re-runs them and the task is kept
    notebook = extracted(factory, tmp_path, [LOAD, "sales.groupby('region')['amount'].sum().plot(kind='bar')"])
    [task] = charts(notebook)
    notebook.route_to_sft("removed_api: DataFrame.append (cell 5, line 1)")
    task.not_interactive = notebook.not_interactive
    verify([notebook])
    assert task.drop_reason is None and task.verified and task.not_interactive is None
    assert task.label.startswith("@bar_count[4] @tallest_bar[")
    # the same chart whose file is gone: no re-run, so no label, and the reason says so
    notebook = extracted(factory, tmp_path / "gone", [LOAD, "sales.groupby('region')['amount'].sum().plot(kind='bar')"])
    [task] = charts(notebook)
    notebook.route_to_sft("missing_module: old_helpers (cell 3, line 1)")
    task.not_interactive = notebook.not_interactive
    (tmp_path / "gone" / "acme__charts" / "data" / "sales.csv").unlink()
    verify([notebook])
    assert task.drop_reason == "chart_needs_rerun: missing_module: old_helpers (cell 3, line 1)"
    assert task.label == ""


def test_a_chart_whose_top_bar_is_tied_is_dropped_as_such(factory, verify, tmp_path):
    # the maximum amount is 22.5 in every region: no single tallest bar, so no label to ask
    notebook = extracted(factory, tmp_path, [LOAD, "sales.groupby('region')['amount'].max().plot(kind='bar')"])
    [task] = charts(notebook)
    verify([notebook])
    assert task.drop_reason == "chart_top_tied"


@pytest.mark.parametrize("plot", ["sales['amount'].hist(bins=7)\nplt.show()", "sales.amount.plot.hist(bins=7)",
                                  "sales['amount'].plot(kind='hist', bins=7, color='gray')"])
def test_a_histogram_gives_a_task_whose_label_is_what_its_bins_count(factory, verify, tmp_path, plot):
    notebook = extracted(factory, tmp_path, [LOAD, plot])
    [task] = charts(notebook)
    assert task.drop_reason is None, task.drop_reason
    assert "draw a histogram of `amount` with 7 equal-width bins" in task.task and task.question_kind == "hist_chart"
    verify([notebook])
    assert task.drop_reason is None, task.drop_reason
    amounts = pd.read_csv(pd.io.common.StringIO(SALES))["amount"]
    counts, edges = np.histogram(amounts, bins=7)  # computed here by hand, from the file
    top = counts.argmax()
    assert task.label == f"@value_count[150] @tallest_bin_count[{counts[top]}] @tallest_bin_start[{round(edges[top], 2)}]"
    assert task.verified and task.deterministic and task.reference_agrees


def test_verify_drops_a_histogram_drawn_with_other_bins_than_the_text_states(factory, verify, tmp_path):
    notebook = extracted(factory, tmp_path, [LOAD, "sales['amount'].hist(bins=7)"])
    [task] = charts(notebook)
    task.reference_code = task.reference_code.replace("bins=7", "bins=5")  # a text that said 5 bins
    verify([notebook])
    assert task.drop_reason == "chart_data_mismatch"


def test_a_line_chart_of_a_column_gives_its_points_and_the_highest(factory, verify, tmp_path):
    # the column drawn row by row (a price over time): its points, and the row label of the highest
    notebook = extracted(factory, tmp_path, [LOAD + "\nfirst = sales.head(20)",
                                             "ax = first['amount'].plot(title='first')\nfig = ax.get_figure()\n"
                                             "fig.set_size_inches(6, 3)"])
    [task] = charts(notebook)
    assert task.drop_reason is None, task.drop_reason
    assert "Keep only the first 20 rows" in task.task, task.task
    assert "a line chart of `amount`, one point per row, labelled by the row labels" in task.task
    verify([notebook])
    assert task.drop_reason is None, task.drop_reason
    first = pd.read_csv(pd.io.common.StringIO(SALES))["amount"].head(20)
    assert task.label == f"@point_count[20] @highest_point[{first.idxmax()}] @highest_value[{first.max()}]"
    assert task.verified and task.reference_agrees


@pytest.mark.parametrize("plot", ["sales.plot(kind='scatter', x='units', y='amount', s=20)",
                                  "sales.plot.scatter(x='units', y='amount', c='gray')",
                                  "plt.scatter(sales['units'], sales.amount, s=sales['units'])\nplt.xlabel('units')"])
def test_a_scatter_plot_gives_its_points_and_the_highest(factory, verify, tmp_path, plot):
    notebook = extracted(factory, tmp_path, [LOAD + "\nsales['units'] = sales['amount'] * 3 % 17", plot])
    [task] = charts(notebook)
    assert task.drop_reason is None, task.drop_reason
    assert "draw a scatter plot of `amount` (vertical) against `units` (horizontal)" in task.task
    assert "`units`" in task.task.split("draw")[0], task.task  # the derived column is stated
    verify([notebook])
    frame = pd.read_csv(pd.io.common.StringIO(SALES))
    frame["units"] = frame.amount * 3 % 17
    # the highest amount (22.5) is reached by several rows: no single highest point
    assert (frame.amount == frame.amount.max()).sum() > 1 and task.drop_reason == "chart_top_tied"


def test_verify_keeps_a_scatter_plot_whose_highest_point_is_single_and_drops_one_drawn_otherwise(factory, verify,
                                                                                                 tmp_path):
    cells = [LOAD + "\nfirst = sales.head(20)\nfirst['units'] = first['amount'] % 7", "first.plot.scatter(x='units', y='amount')"]
    notebook = extracted(factory, tmp_path, cells)
    [task] = charts(notebook)
    verify([notebook])
    first = pd.read_csv(pd.io.common.StringIO(SALES)).head(20)
    top = first.amount.idxmax()
    assert task.drop_reason is None, task.drop_reason
    assert task.label == f"@point_count[20] @highest_point_x[{round(float(first.amount[top] % 7), 2)}] " \
                         f"@highest_point_y[{first.amount.max()}]"
    assert task.verified and task.reference_agrees
    # a text that asked for other columns than the chart draws
    notebook = extracted(factory, tmp_path / "other", cells)
    [task] = charts(notebook)
    assert "'x': df['units']" in task.reference_code
    task.reference_code = task.reference_code.replace("'x': df['units']", "'x': df['amount'] * 2")
    verify([notebook])
    assert task.drop_reason == "chart_data_mismatch"


@pytest.mark.parametrize("plot, reason", [
    ("sales.plot(x='region', y='amount', kind='bar')", "unrenderable_chart"),  # the keywords choose the data
    ("sales['amount'].hist(bins=[0, 5, 30])", "unrenderable_chart"),  # bin edges given: not stated here
    ("sales['amount'].plot(kind='hist', density=True)", "unrenderable_chart"),  # heights as densities
])
def test_a_chart_the_spec_cannot_state_gives_no_task_and_says_why(factory, tmp_path, plot, reason):
    notebook = extracted(factory, tmp_path, [LOAD, plot])
    [task] = [t for t in notebook.tasks if t.cells[-1] == 1]
    assert task.drop_reason.split(":")[0] == reason


def test_a_run_fills_the_visualization_config(factory, tmp_path):
    import json
    import subprocess
    import sys

    import yaml
    from datasets import load_dataset

    root = Path(__file__).resolve().parents[1]
    extracted(factory, tmp_path / "repos", [LOAD, "sales.groupby('region')['amount'].median().plot.bar()",
                                            "sales['amount'].max()"])
    recipe = yaml.safe_load((root / "recipes" / "demo.yaml").read_text())
    recipe["source"] = {"kind": "local", "path": str(tmp_path / "repos")}
    recipe["output"] = str(tmp_path / "out")
    for step in recipe["steps"]:
        for name, settings in step.items():
            if name == "filter":
                settings.pop("decontaminate", None)
                settings["min_data_rows"] = 100
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "run", str(tmp_path / "recipe.yaml"), "--no-progress"],
                            capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["tasks"]["by_config"]["visualization"] == 1
    [row] = load_dataset(str(tmp_path / "out" / "dataset"), "visualization", split="train")
    medians = pd.read_csv(pd.io.common.StringIO(SALES)).groupby("region")["amount"].median()
    assert row["label"].startswith(f"@bar_count[{len(medians)}] @tallest_bar[{medians.idxmax()}]")
    assert row["is_visualization"] and row["verified"] and row["chart_image"]
