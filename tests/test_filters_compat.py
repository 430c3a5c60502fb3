"""incompatible_code: what this machine's Python and libraries cannot run, found without running it."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from nbqa_builder.filters.compat import _lookup, incompatibility
from nbqa_builder.records import Cell, Notebook


def verdict(*sources: str) -> str | None:
    cells = [Cell("code", source, i + 1) for i, source in enumerate(sources)]
    return incompatibility(Notebook(notebook_id="n", repo="o/r", path="a.ipynb", cells=cells))


@pytest.mark.parametrize("sources, reason", [
    (["print 'total', 3"], "syntax_error"),
    (["try:\n    x = 1\nexcept ValueError, e:\n    pass"], "syntax_error"),
    (["import urllib2"], "missing_module"),
    (["from helpers_of_this_repository import load"], "missing_module"),  # the sandbox holds data, not code
    (["from sklearn.cross_validation import train_test_split"], "removed_api"),
    (["import numpy as np\nx = np.NaN"], "removed_api"),
    (["import pandas as pd\nm = pd.rolling_mean(s, 3)"], "removed_api"),
    (["import pandas as pd\ndf = pd.read_csv('x.csv', error_bad_lines=False)"], "removed_api"),
])
def test_what_cannot_run_here(sources, reason):
    assert verdict(*sources).partition(":")[0] == reason


@pytest.mark.parametrize("sources, detail", [
    (["import pandas as pd", "x = 1\nprint 'total', 3"], "syntax_error: cell 1"),
    (["x = 1\nimport urllib2"], "missing_module: urllib2 (cell 0, line 2)"),
    (["import numpy as np\nx = np.NaN"], "removed_api: numpy.NaN (cell 0, line 2)"),
])
def test_the_verdict_names_what_cannot_run_and_where(sources, detail):
    assert verdict(*sources) == detail


@pytest.mark.parametrize("sources", [
    ["import pandas as pd\ndf = pd.read_csv('x.csv')", "df.applymap(str)"],
    ["df.fillna(method='ffill')"],
    ["df.groupby('a', axis=0).sum()"],
    ["df.resample('M').mean()"],
    ["import pandas as pd\nidx = pd.date_range('2020-01-01', periods=3, freq='H')"],
    ["import pandas as pd\na = pd.read_csv('a.csv')\nb = a.dropna()", "c = b.append(a)"],
])
@pytest.mark.skipif(int(pd.__version__.split(".")[0]) < 3, reason="pandas 3 removed these; older ones have them")
def test_what_the_installed_pandas_removed(sources):
    # each of these ran on an older pandas; the verdict follows the installed one
    assert verdict(*sources).startswith("removed_api: ")


@pytest.mark.parametrize("sources", [
    ["%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])"],
    ["%%bash\nls -l"],
    ["x = []\nx.append(1)\nd = {}\nd.get('a', 0)\n'a,b'.replace(',', ';')"],
    ["import pandas as pd\ndf = pd.read_csv('x.csv')\ncols = df.columns.tolist()\ncols.append('z')"],
    ["from itertools import groupby\nfor key, group in groupby([1, 1, 2], key=lambda v: v):\n    pass"],
    ["import numpy as np\nrng = np.random.default_rng(0)\nrng.normal(size=3).astype(float, copy=False)"],
    ["import pandas as pd\ndf = pd.read_csv('x.csv', sep=';')\ndf.fillna(0).groupby('a', as_index=False).sum()"],
    ["df.resample('ME').mean()"],
])
def test_what_runs_here_is_not_flagged(sources):
    assert verdict(*sources) is None


def test_asking_whether_a_name_exists_prints_no_warning():
    # NumPy 2 warns on `hasattr(np, "object")` (FutureWarning), which leaked into `inspect`'s output
    _lookup.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert verdict("import numpy as np\nx = np.array([1], dtype=np.object)") == "removed_api: numpy.object (cell 0, line 2)"
    assert [str(w.message) for w in caught] == []
