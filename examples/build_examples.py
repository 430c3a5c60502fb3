"""Rebuild the example repositories in examples/repos (the demo recipe's input).

    python examples/build_examples.py

Data files come from a seeded generator; notebooks are executed with nbclient in a real kernel so
that their stored outputs are real, then some copies are damaged on purpose: each filter rule has a
notebook that breaks it and one that passes. The output is committed; run this only to change it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent / "repos"
MIT = "MIT License\n\nCopyright (c) 2026 nbqa_builder examples\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this software.\n"
APACHE = "Apache License\nVersion 2.0, January 2004\n\nApache License, Version 2.0 applies to these examples.\n"
BSD3 = ("BSD 3-Clause License\n\nRedistributions in binary form must reproduce the above copyright notice.\n"
        "Neither the name of the copyright holder nor the names of its contributors may be used.\n")


def csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    for kind, source in cells:
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"  # stable ids: rebuilding gives the same bytes
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    cwd.mkdir(parents=True, exist_ok=True)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def run_and_save(cells: list[tuple[str, str]], cwd: Path, path: Path) -> None:
    """A notebook of `cells`, executed in `cwd`, written to `path`."""
    save(execute(notebook(cells), cwd), path)


def as_if_run(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Execution counts for a notebook that cannot run here (no TensorFlow, no GPU, no network)."""
    for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), 1):
        cell.execution_count = count
    return nb


def save(nb: nbformat.NotebookNode, path: Path, version: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # run timestamps: rebuilding should change nothing
        for output in cell.get("outputs", []):
            output.get("metadata", {}).pop("execution", None)
    if version == 3:
        nb = nbformat.convert(nb, 3)
    path.write_text(nbformat.writes(nb, version=version) + "\n")


def retail(rng: np.random.RandomState) -> None:
    repo = ROOT / "acme__retail-analysis"
    (repo / "LICENSE").parent.mkdir(parents=True, exist_ok=True)
    (repo / "LICENSE").write_text(MIT)
    regions, products = ["north", "south", "east", "west"], ["tea", "coffee", "cocoa", "juice"]
    rows = []
    for day in range(400):
        units = int(rng.poisson(20))
        price = round(float(rng.uniform(2, 9)), 2)
        discount = None if rng.rand() < 0.1 else round(float(rng.uniform(0, 0.3)), 2)
        rows.append([f"2025-{1 + day // 31 % 12:02d}-{1 + day % 28:02d}", regions[rng.randint(4)],
                     products[rng.randint(4)], units, price, discount])
    csv(repo / "data" / "sales.csv", ["date", "region", "product", "units", "price", "discount"], rows)
    csv(repo / "data" / "tiny.csv", ["shop", "staff"], [[f"shop{i}", int(rng.randint(2, 9))] for i in range(8)])
    csv(repo / "data" / "dabench_sample.csv", ["id", "value"], [[i, round(float(rng.rand()), 3)] for i in range(150)])

    summary = [
        ("md", "# Sales summary\nA look at the shop's 2025 sales."),
        ("code", 'import pandas as pd\nsales = pd.read_csv("../data/sales.csv")\nsales.head()'),
        ("md", "## Average unit price"),
        ("code", 'sales["price"].mean()'),
        ("md", "## Revenue"),
        ("code", 'sales["revenue"] = sales["units"] * sales["price"]\nround(sales["revenue"].sum(), 2)'),
        ("md", "## Do discounts go with lower prices?"),
        ("code", 'sales["discount"].corr(sales["price"])'),
        ("md", "## Busiest region"),
        ("code", 'sales["region"].value_counts().idxmax()'),
        ("md", "## Missing discounts"),
        ("code", 'sales["discount"].isnull().sum()'),
        ("code", 'complete = sales.dropna(subset=["discount"])\nlen(complete)'),
        ("code", 'complete["units"].median()'),
    ]
    nb = execute(notebook(summary), repo / "notebooks")
    save(nb, repo / "notebooks" / "sales_summary.ipynb")
    # a copy with different comments and spacing: an exact duplicate once normalised
    copy = nbformat.reads(nbformat.writes(nb), as_version=4)
    copy.cells[1].source = "# load the data\n" + copy.cells[1].source.replace(" = ", "  =  ")
    save(copy, repo / "notebooks" / "sales_summary_copy.ipynb")
    # the same notebook run out of order
    shuffled = nbformat.reads(nbformat.writes(nb), as_version=4)
    shuffled.cells[3].execution_count, shuffled.cells[5].execution_count = 9, 4
    save(shuffled, repo / "notebooks" / "out_of_order.ipynb")
    # a code cell never run
    unrun = nbformat.reads(nbformat.writes(nb), as_version=4)
    unrun.cells[7].execution_count, unrun.cells[7].outputs = None, []
    save(unrun, repo / "notebooks" / "unexecuted.ipynb")

    (repo / "notebooks").mkdir(parents=True, exist_ok=True)
    failing = notebook([
        ("code", 'import pandas as pd\nsales = pd.read_csv("../data/sales.csv")\nlen(sales)'),
        ("code", 'sales["margin"].mean()'),
    ])
    NotebookClient(failing, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(repo / "notebooks")}}).execute()
    save(failing, repo / "notebooks" / "errors.ipynb")

    run_and_save([
        ("code", 'import pandas as pd\nshops = pd.read_csv("../data/tiny.csv")\nshops["staff"].sum()'),
    ], repo / "notebooks", repo / "notebooks" / "tiny_data.ipynb")
    run_and_save([
        ("code", "import numpy as np\nvalues = np.arange(10)\nvalues.mean()"),
    ], repo / "notebooks", repo / "notebooks" / "no_data.ipynb")
    run_and_save([
        ("code", 'import pandas as pd\nsales = pd.read_csv("../data/sales.csv")\nsales.describe()'),
    ], repo / "notebooks", repo / "notebooks" / "only_tables.ipynb")
    run_and_save([
        ("code", 'import pandas as pd\nsample = pd.read_csv("../data/dabench_sample.csv")\nsample["value"].mean()'),
    ], repo / "notebooks", repo / "notebooks" / "benchmark_table.ipynb")
    save(notebook([("md", "# Notes\nNothing to run here."), ("code", "")]), repo / "notebooks" / "empty.ipynb")


def saved_as(nb: nbformat.NotebookNode, replacements: dict[str, str]) -> nbformat.NotebookNode:
    """The notebook as its author saved it: run here on a local stand-in (no network, Python 3),
    saved with the author's code and the outputs the run gave."""
    for cell in nb.cells:
        for old, new in replacements.items():
            cell.source = cell.source.replace(old, new)
    return nb


def rerun_hazards() -> None:
    """Notebooks that look fine but cannot re-run offline here: each rule that finds such a
    notebook has one (the kept notebooks of the demo all re-run)."""
    repo = ROOT / "acme__retail-analysis"
    folder = repo / "notebooks"
    load = 'import pandas as pd\nsales = pd.read_csv("../data/sales.csv")\nlen(sales)'
    # another file read over the network (the run here read a local stand-in)
    nb = execute(notebook([("code", load), ("code", 'rates = pd.read_csv("../data/tiny.csv")\nlen(rates)')]), folder)
    save(saved_as(nb, {'"../data/tiny.csv"': '"https://example.org/fx/eur-rates.csv"'}), folder / "network_rates.ipynb")
    # a second file the repository does not have
    csv(repo / "data" / "returns.csv", ["region", "returned"], [["north", 3], ["south", 1]])
    nb = execute(notebook([("code", load), ("code", 'returns = pd.read_csv("../data/returns.csv")\nreturns["returned"].sum()')]),
                 folder)
    (repo / "data" / "returns.csv").unlink()
    save(nb, folder / "missing_returns.ipynb")
    # outputs stripped before it was committed
    nb = execute(notebook([("code", load), ("code", 'sales["units"].sum()')]), folder)
    for cell in nb.cells:
        cell.outputs = []
    save(nb, folder / "outputs_stripped.ipynb")
    # Python 2: the run here used print(), the author wrote the statement
    nb = execute(notebook([("code", load), ("code", 'print(sales["units"].max())')]), folder)
    save(saved_as(nb, {'print(sales["units"].max())': 'print sales["units"].max()'}), folder / "python2.ipynb")


def weather(rng: np.random.RandomState) -> None:
    repo = ROOT / "lab__weather-stats"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "LICENSE").write_text(APACHE)
    rows = []
    for day in range(365):
        temp = round(10 + 12 * np.sin(day / 58.0) + float(rng.normal(0, 3)), 1)
        rows.append([day + 1, temp, round(float(rng.gamma(1.2, 2.5)), 1), int(rng.randint(35, 98))])
    csv(repo / "data" / "weather.csv", ["day", "temp_c", "rain_mm", "humidity"], rows)
    analysis = [
        ("md", "# Weather statistics for one station"),
        ("code", 'import os\nimport pandas as pd\nDATA = "data/"\nweather = pd.read_csv(os.path.join(DATA, "weather.csv"))\nweather.shape'),
        ("md", "Median temperature over the year"),
        ("code", 'weather["temp_c"].median()'),
        ("md", "Wettest day"),
        ("code", 'print(weather["rain_mm"].max())'),
        ("code", 'weather["humidity"].std()'),
        ("code", 'warm = weather[weather["temp_c"] > 20]\nwarm["rain_mm"].mean()'),
    ]
    nb = execute(notebook(analysis), repo)
    save(nb, repo / "analysis.ipynb")
    save(nb, repo / "legacy" / "analysis_v3.ipynb", version=3)  # an nbformat 3 file: converted, then a copy
    save(as_if_run(notebook([
        ("code", "import tensorflow as tf\nmodel = tf.keras.Sequential([tf.keras.layers.Dense(1)])"),
        ("code", 'import pandas as pd\nweather = pd.read_csv("data/weather.csv")\nlen(weather)'),
    ])), repo / "forecast_nn.ipynb")
    save(as_if_run(notebook([
        ("code", "import cupy as cp\nx = cp.arange(10)"),
    ])), repo / "gpu_stats.ipynb")
    save(as_if_run(notebook([
        ("code", 'import requests\nr = requests.get("https://api.weather.example/v1/today?key=XXXX")\nr.json()'),
    ])), repo / "api_pull.ipynb")


def course(rng: np.random.RandomState) -> None:
    repo = ROOT / "school__ml-course"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "LICENSE").write_text(BSD3)
    rows = []
    for i in range(200):
        rows.append([i + 1, int(rng.rand() < 0.4), int(rng.randint(1, 4)), f"Passenger {i}", ["male", "female"][rng.randint(2)],
                     int(rng.randint(1, 80)), int(rng.randint(0, 3)), int(rng.randint(0, 3)), f"T{i}", round(float(rng.uniform(5, 80)), 2), "", "S"])
    csv(repo / "passengers.csv",
        ["PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch", "Ticket", "Fare", "Cabin", "Embarked"], rows)
    run_and_save([
        ("code", 'import pandas as pd\npeople = pd.read_csv("passengers.csv")\npeople["Fare"].mean()'),
    ], repo, repo / "survival.ipynb")
    run_and_save([
        ("code", "from sklearn.datasets import load_iris\niris = load_iris(as_frame=True).frame\niris['sepal length (cm)'].mean()"),
    ], repo, repo / "iris_intro.ipynb")
    r_notebook = new_notebook(metadata={"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}})
    r_notebook.cells.append(new_code_cell("x <- c(1, 2, 3)\nmean(x)"))
    r_notebook.cells[0].id = "cell-0"
    save(r_notebook, repo / "r_intro.ipynb")


def broken() -> None:
    """Files that are not valid notebooks; each must end as a drop with its reason."""
    repo = ROOT / "misc__broken-notebooks"
    repo.mkdir(parents=True, exist_ok=True)
    good = nbformat.writes(notebook([("code", "x = 1\nx")]))
    (repo / "truncated.ipynb").write_text(good[: len(good) // 2])
    (repo / "latin1.ipynb").write_bytes(good.replace("x = 1", "caf\u00e9 = 1").encode("latin-1"))
    bad_cells = json.loads(good)
    bad_cells["cells"] = {"not": "a list"}
    (repo / "cells_not_a_list.ipynb").write_text(json.dumps(bad_cells))
    wrong_types = json.loads(good)
    wrong_types["cells"][0]["execution_count"] = "one"
    (repo / "wrong_types.ipynb").write_text(json.dumps(wrong_types))
    (repo / "not_a_notebook.ipynb").write_text("[1, 2, 3]")


def main() -> None:
    if ROOT.exists():
        shutil.rmtree(ROOT)
    rng = np.random.RandomState(20260101)
    retail(rng)
    weather(rng)
    course(rng)
    broken()
    rerun_hazards()
    print(f"wrote {sum(1 for _ in ROOT.rglob('*.ipynb'))} notebooks under {ROOT.name}/")


if __name__ == "__main__":
    main()
