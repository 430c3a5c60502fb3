"""The verdicts that real repositories got wrong (issue 13), on small repositories written here.

Each notebook is executed for real (tests/notebook_factory.py), then judged the way `run` and
`inspect` judge it (validate, deps, every filter rule), and a notebook that is kept is re-run
offline in bubblewrap: a keep must re-run to its end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nbqa_builder.deps.step import DepsStep
from nbqa_builder.extract.step import ExtractStep
from nbqa_builder.filters.step import FilterConfig, FilterStep
from nbqa_builder.notebooks.validate import ValidateStep
from nbqa_builder.records import FOUND, MISSING, URL, Notebook
from nbqa_builder.sandbox.step import ExecuteStep, SandboxStepConfig, VerifyStep
from nbqa_builder.sources.local import describe_repository, find_repositories, read_notebook

ROOT = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed (apt-get install bubblewrap); .ci/run installs it")
SALES = "region,amount\n" + "".join(f"{region},{(i * 7) % 23 + 0.5}\n"
                                    for i, region in zip(range(150), ["north", "south", "east"] * 50))
RAW = "https://raw.githubusercontent.com/acme/sales/main/"


@pytest.fixture(scope="module")
def sandbox():
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap); .ci/run installs it")
    step = ExecuteStep(SandboxStepConfig(sandbox="bwrap", runs=1, timeout_s=60))
    yield step
    step.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository named acme/sales (the local source's `owner__name` folder), with its data."""
    repo = tmp_path / "acme__sales"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "sales.csv").write_text(SALES)
    return repo


def judge(repo: Path, path: str, **settings) -> Notebook:
    """The notebook after validate, deps and every filter rule (each rule's verdict kept)."""
    notebook = read_notebook(describe_repository(repo), path, 1 << 30)
    for step in (ValidateStep(), DepsStep(), FilterStep(FilterConfig(all_verdicts=True, **settings))):
        step([notebook])
    return notebook


def reruns(sandbox: ExecuteStep, notebook: Notebook) -> bool:
    sandbox([notebook])
    failed = [cell for cell in notebook.checks["execution"]["cells"] if cell["status"] != "ok"]
    assert notebook.checks["executable"] or failed
    return bool(notebook.checks["executable"])


# -- a URL into the notebook's own repository ------------------------------------------------------


@needs_bwrap
@pytest.mark.parametrize("url", [RAW + "data/sales.csv", "https://github.com/acme/sales/blob/main/data/sales.csv"])
def test_a_url_of_the_own_repository_is_rewritten_to_the_file_and_runs_offline(factory, sandbox, repo, url):
    factory.write(repo, "nb/analysis.ipynb", [
        "import pandas as pd",
        "sales = pd.read_csv('../data/sales.csv')",
        "sales['amount'].mean()",
        "sales[sales['region'] == 'north']['amount'].max()",
    ], saved_as={"'../data/sales.csv'": repr(url)})
    notebook = judge(repo, "nb/analysis.ipynb")
    assert notebook.kept, notebook.drop_reason
    assert notebook.checks["rewritten_reads"] == {url: "../data/sales.csv"}
    [ref] = notebook.data_refs
    assert (ref.as_written, ref.status, ref.resolved) == ("../data/sales.csv", FOUND, "data/sales.csv")
    assert reruns(sandbox, notebook)

    # the tasks carry the file where the rewritten code reads it, and their solutions run offline
    ExtractStep()([notebook])
    tasks = [task for task in notebook.tasks if task.drop_reason is None]
    assert tasks and not [task.drop_reason for task in notebook.tasks if task.drop_reason == "data_file_not_local"]
    for task in tasks:
        assert [f.path for f in task.data_files] == ["../data/sales.csv"]
        code = "".join(step.python_code or "" for step in task.solution)
        assert "../data/sales.csv" in code and "https://" not in code
    verify = VerifyStep(SandboxStepConfig(sandbox="bwrap", runs=1, timeout_s=60))
    try:
        verify([notebook])
    finally:
        verify.close()
    assert all(task.verified for task in notebook.tasks if task.drop_reason is None)


def test_a_url_of_the_own_repository_built_from_parts_is_a_network_read(factory, repo):
    factory.write(repo, "nb/analysis.ipynb", [
        "import pandas as pd\nBASE = '../'",
        "sales = pd.read_csv(BASE + 'data/sales.csv')",
        "sales['amount'].mean()",
    ], saved_as={"BASE = '../'": f"BASE = {RAW!r}"})
    notebook = judge(repo, "nb/analysis.ipynb")
    assert "rewritten_reads" not in notebook.checks  # no one constant holds the URL
    assert [ref.status for ref in notebook.data_refs] == [URL]
    assert notebook.kept and notebook.not_interactive.startswith("network_read: pd.read_csv(")


# -- reads through glob ----------------------------------------------------------------------------


@needs_bwrap
def test_a_constant_glob_pattern_reads_the_files_it_matches(factory, sandbox, repo):
    for month in ("jan", "feb", "mar"):
        frame = pd.concat([pd.read_csv(repo / "data" / "sales.csv")] * 8).assign(month=month)  # over 10 kB
        frame.to_excel(repo / "data" / f"sales-{month}-2014.xlsx", index=False)
    factory.write(repo, "nb/yearly.ipynb", [
        "import glob\nimport pandas as pd",
        "frames = []\nfor f in sorted(glob.glob('../data/sales-*-2014.xlsx')):\n    frames.append(pd.read_excel(f))\n"
        "year = pd.concat(frames)",
        "year.groupby('month')['amount'].sum()",
    ])
    notebook = judge(repo, "nb/yearly.ipynb")
    assert notebook.kept, notebook.drop_reason
    assert sorted((ref.as_written, ref.status) for ref in notebook.data_refs) == [
        (f"../data/sales-{month}-2014.xlsx", FOUND) for month in ("feb", "jan", "mar")]
    assert notebook.checks["deps"]["complete"]
    assert reruns(sandbox, notebook)


def test_a_glob_pattern_that_matches_nothing_is_a_missing_file(factory, repo):
    (repo / "data" / "sales-jan-2014.csv").write_text(SALES)
    factory.write(repo, "nb/yearly.ipynb", [
        "import glob\nimport pandas as pd",
        "frames = [pd.read_csv(f) for f in glob.glob('../data/sales-*-2014.csv')]\nlen(frames)",
    ])
    (repo / "data" / "sales-jan-2014.csv").unlink()  # not in the repository as published
    notebook = judge(repo, "nb/yearly.ipynb")
    assert [(ref.as_written, ref.status) for ref in notebook.data_refs] == [("../data/sales-*-2014.csv", MISSING)]
    assert notebook.kept and notebook.not_interactive == "missing_file: ../data/sales-*-2014.csv in cell 1"


# -- files the notebook writes before it reads them ----------------------------------------------


@needs_bwrap
@pytest.mark.parametrize("cells", [
    [  # a database the notebook fills, then queries
        "import sqlite3\nimport pandas as pd\nsales = pd.read_csv('data/sales.csv')",
        "con = sqlite3.connect('./data/test.sqlite')\nsales.to_sql('sales', con, index=False)",
        "pd.read_sql('SELECT region, SUM(amount) AS total FROM sales GROUP BY region', con)",
    ],
    [  # CREATE TABLE before any read
        "import sqlite3\nimport pandas as pd\nsales = pd.read_csv('data/sales.csv')",
        "query = 'CREATE TABLE totals (region TEXT, total REAL)'\ncon = sqlite3.connect('totals.sqlite')\n"
        "con.execute(query)\ncon.executemany('INSERT INTO totals VALUES (?, ?)', "
        "list(sales.groupby('region')['amount'].sum().items()))",
        "pd.read_sql('SELECT * FROM totals', con)",
    ],
    [  # a file written by a cell magic, then read
        "import pandas as pd\nsales = pd.read_csv('data/sales.csv')",
        "%%writefile regions.csv\nregion,manager\nnorth,Ann\nsouth,Bo\neast,Cy",
        "managers = pd.read_csv('regions.csv')\nsales.merge(managers, on='region').groupby('manager')['amount'].sum()",
    ],
    [  # to_csv, then read_csv of the same file spelled another way
        "import os\nimport pandas as pd\nsales = pd.read_csv('data/sales.csv')\nos.makedirs('out', exist_ok=True)",
        "sales.groupby('region')['amount'].sum().to_csv('./out/totals.csv')",
        "pd.read_csv('out/totals.csv')",
    ],
], ids=["sqlite-to_sql", "sqlite-create-table", "writefile", "to_csv"])
def test_files_the_notebook_writes_before_it_reads_them_are_not_inputs(factory, sandbox, repo, cells):
    factory.write(repo, "report.ipynb", cells)
    for written in ("data/test.sqlite", "totals.sqlite", "regions.csv", "out/totals.csv"):
        (repo / written).unlink(missing_ok=True)  # outputs of the run, not part of the repository
    notebook = judge(repo, "report.ipynb")
    assert [(ref.as_written, ref.status) for ref in notebook.data_refs] == [("data/sales.csv", FOUND)]
    assert notebook.kept, notebook.drop_reason
    assert reruns(sandbox, notebook)


# -- a missing file next to a present one --------------------------------------------------------


def test_a_notebook_that_reads_a_missing_file_goes_to_sft_though_another_is_present(factory, repo):
    (repo / "data" / "returns.csv").write_text("region,returned\nnorth,3\nsouth,1\n")
    factory.write(repo, "report.ipynb", [
        "import pandas as pd\nsales = pd.read_csv('data/sales.csv')\nreturns = pd.read_csv('data/returns.csv')",
        "sales.merge(returns, on='region')['returned'].sum()",
    ])
    (repo / "data" / "returns.csv").unlink()  # left out of the repository, as large files are
    notebook = judge(repo, "report.ipynb")
    assert notebook.kept and notebook.not_interactive == "missing_file: data/returns.csv in cell 0"
    # ...unless the recipe says otherwise
    assert not judge(repo, "report.ipynb", max_missing_data_files=1).not_interactive


# -- network reads -------------------------------------------------------------------------------

# (code run here on a local stand-in, code the author wrote: the cells are saved with the latter)
NETWORK_READS = {
    "seaborn.load_dataset": ("import pandas as pd\nhealth = pd.read_csv('data/sales.csv')",
                             "import seaborn as sns\nhealth = sns.load_dataset('healthexp')"),
    "sklearn.fetch_openml": ("import pandas as pd\ncredit = pd.read_csv('data/sales.csv')",
                             "from sklearn.datasets import fetch_openml\ncredit = fetch_openml('credit-g', as_frame=True).frame"),
    "pandas_datareader": ("import pandas as pd\nprices = pd.read_csv('data/sales.csv')",
                          "import pandas_datareader.data as web\nprices = web.DataReader('F', 'stooq')"),
    "requests.Session().get": ("text = open('data/sales.csv').read()",
                               "import requests\ntext = requests.Session().get('https://example.org/sales.csv').text"),
    "read_csv(url_template.format())": (
        "import pandas as pd\nframes = [pd.read_csv('data/sales.csv') for year in (2013, 2014)]",
        "import pandas as pd\nurl_template = 'https://example.org/sales-{}.csv'\n"
        "frames = [pd.read_csv(url_template.format(year)) for year in (2013, 2014)]"),
    "requests.post(variable URL)": (
        "import json\nanswer = json.loads('{\"rows\": 150}')",
        "import requests\nimport os\napi_url = os.environ.get('SALES_API', 'https://sales.example.org/query')\n"
        "answer = requests.post(api_url, json={'year': 2014}).json()"),
}


@pytest.mark.parametrize("name", list(NETWORK_READS))
def test_network_reads_send_a_notebook_that_also_reads_a_large_local_file_to_sft(factory, repo, name):
    local, written = NETWORK_READS[name]
    big = repo / "data" / "big.csv"
    big.write_text("day,visits\n" + "".join(f"{day},{day * 3 % 101}\n" for day in range(5000)))
    factory.write(repo, "mixed.ipynb", [
        "import pandas as pd\nvisits = pd.read_csv('data/big.csv')",
        local,
        "visits['visits'].mean()",
    ], saved_as={local: written})
    notebook = judge(repo, "mixed.ipynb")
    assert notebook.checks["filter"]["network_read"].startswith("network_read: ")
    if notebook.kept:
        assert notebook.not_interactive == notebook.checks["filter"]["network_read"]
    else:
        assert name == "pandas_datareader" and notebook.drop_reason == "external_api"  # also an API client


# -- where the execute step places a file found elsewhere by its name -----------------------------


@needs_bwrap
def test_execute_places_a_file_found_by_name_where_the_notebook_reads_it(factory, sandbox, repo):
    (repo / "nb").mkdir()
    shutil.copy(repo / "data" / "sales.csv", repo / "nb" / "local.csv")
    factory.write(repo, "nb/analysis.ipynb", [
        "import pandas as pd\nsales = pd.read_csv('local.csv')",
        "sales['amount'].sum()",
    ])
    (repo / "nb" / "local.csv").rename(repo / "data" / "local.csv")  # the author kept it elsewhere
    notebook = judge(repo, "nb/analysis.ipynb")
    [ref] = notebook.data_refs
    assert (ref.status, ref.resolved) == (FOUND, "data/local.csv")
    assert notebook.kept
    assert reruns(sandbox, notebook)


# -- inspect: the repository, its license, the format -------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_inspect_decides_the_repository_and_license_as_run_does(tmp_path):
    # the examples inside a clone of a project (a .git folder above them, as in this checkout)
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    source = project / "examples" / "repos"
    shutil.copytree(ROOT / "examples" / "repos" / "acme__retail-analysis", source / "acme__retail-analysis")
    notebook = source / "acme__retail-analysis" / "notebooks" / "sales_summary.ipynb"
    [repository] = [r for r in find_repositories(source) if notebook.resolve().is_relative_to(r.directory)]
    result = run_cli("inspect", str(notebook), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["repo"], report["license"]) == (repository.name, repository.license) == ("acme/retail-analysis", "MIT")
    # with a recipe, by the recipe's source folder and layout, as `run` reads it
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"name: x\nsource: {{kind: local, path: '{source}'}}\nsteps: [validate: {{}}]\noutput: out\n")
    report = json.loads(run_cli("inspect", str(notebook), "--recipe", str(recipe), "--json").stdout)
    assert (report["repo"], report["license"]) == ("acme/retail-analysis", "MIT")


MIT_WRAPPED = "MIT License\n\nPermission is hereby granted, free of\ncharge, to any person obtaining a copy\n"


@pytest.mark.parametrize("files, expected", [
    ({"LICENSE-CODE": MIT_WRAPPED, "LICENSE-DATA": "Attribution 4.0 International\nCC BY 4.0\n"}, "MIT"),
    ({"LICENSE.txt": MIT_WRAPPED}, "MIT"),
    ({"COPYING.md": "Copyright (c) 2020 Acme\n\nPermission is hereby granted,\nfree of charge, to any person\n"}, "MIT"),
    ({"README.md": "# Sales\n\nThe notebooks and data are licensed under CC BY-SA 4.0.\n"}, "CC-BY-SA-4.0"),
])
def test_licenses_in_other_files_and_in_the_readme_are_detected(factory, tmp_path, files, expected):
    repo = tmp_path / "acme__sales"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "sales.csv").write_text(SALES)
    factory.write(repo, "analysis.ipynb", ["import pandas as pd\npd.read_csv('data/sales.csv')['amount'].mean()"])
    (repo / "LICENSE").unlink()  # the factory's own license file
    for name, text in files.items():
        (repo / name).write_text(text)
    report = json.loads(run_cli("inspect", str(repo / "analysis.ipynb"), "--json").stdout)
    assert (report["repo"], report["license"]) == ("acme/sales", expected)


def test_inspect_shows_the_format_an_invalid_notebook_declares(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    result = run_cli("inspect", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["valid"], report["nbformat"], report["verdict"]) == (False, 4, "drop")


def test_inspect_with_a_recipe_judges_by_every_filter_step_as_run_does(factory, repo, tmp_path):
    # the paper's recipe has two filter steps (the cheap rules before deps, the data rules after):
    # `inspect` once kept only the last one's rules, and said `keep` for a notebook `run` drops
    # as out of order
    notebook = factory.write(repo, "analysis.ipynb", [
        "import pandas as pd\ndf = pd.read_csv('data/sales.csv')", "df['amount'].mean()", "df['amount'].max()"])
    document = json.loads(notebook.read_text())
    document["cells"][2]["execution_count"] = 1  # the last cell re-run first
    notebook.write_text(json.dumps(document))
    report = json.loads(run_cli("inspect", str(notebook), "--recipe", str(ROOT / "recipes" / "nbqa-github.yaml"),
                                "--json").stdout)
    assert (report["verdict"], report["drop_reason"]) == ("drop", "out_of_order")
    assert report["rules"]["out_of_order"].startswith("out_of_order: cell 2 ran as [1]")
    assert report["rules"]["too_little_data"] is None  # the data rules are judged too
