"""find_data_refs: which files a notebook reads, as a user would read its cells."""

from __future__ import annotations

import ast

import pytest

from nbqa_builder.deps.analyze import find_data_refs
from nbqa_builder.deps.calls import (
    FILE_CALLS,
    PATH_READ_METHODS,
    PATH_WRITE_METHODS,
    TRIGGER,
    WRITE_METHODS,
)
from nbqa_builder.notebooks.code import parse_cells
from nbqa_builder.records import DYNAMIC, MISSING, URL, Cell


def code(*sources: str) -> list[Cell]:
    return [Cell("code", source) for source in sources]


def reads(*sources: str) -> list[tuple[str, str, str]]:
    """(as_written, call, status) of each ref of a notebook made of these code cells."""
    return [(ref.as_written, ref.call, ref.status) for ref in find_data_refs(code(*sources))]


def paths(*sources: str) -> list[str]:
    return [ref.as_written for ref in find_data_refs(code(*sources))]


PANDAS_READERS = "csv table excel json parquet feather pickle hdf html xml fwf sas stata spss orc".split()


@pytest.mark.parametrize("kind", PANDAS_READERS)
def test_every_pandas_reader_is_a_read(kind: str) -> None:
    assert reads("import pandas as pd", f'df = pd.read_{kind}("data/file.{kind}")') == [
        (f"data/file.{kind}", f"pd.read_{kind}", MISSING)
    ]


@pytest.mark.parametrize(
    "source, expected",
    [
        ('import pandas as pd\nx = pd.ExcelFile("book.xls")', ("book.xls", "pd.ExcelFile")),
        ('import pandas as pd\npd.read_csv(filepath_or_buffer="k.csv")', ("k.csv", "pd.read_csv")),
        ('import numpy as np\nnp.loadtxt("a.txt", delimiter=",")', ("a.txt", "np.loadtxt")),
        ('import numpy as np\nnp.genfromtxt("a.csv")', ("a.csv", "np.genfromtxt")),
        ('import numpy as np\nnp.load("a.npz")', ("a.npz", "np.load")),
        ('import numpy as np\nnp.fromfile("a.bin", dtype=np.uint8)', ("a.bin", "np.fromfile")),
        ('f = open("notes.txt")', ("notes.txt", "open")),
        ('f = open("notes.txt", "rb")', ("notes.txt", "open")),
        ('f = open("notes.txt", mode="r+")', ("notes.txt", "open")),
        ('import json\nd = json.load(open("cfg.json"))', ("cfg.json", "json.load")),
        ('import pickle\nm = pickle.load(open("m.pkl", "rb"))', ("m.pkl", "pickle.load")),
        ('from pathlib import Path\nt = Path("d/x.txt").read_text()', ("d/x.txt", "Path.read_text")),
        ('from pathlib import Path\nb = Path("d/x.bin").read_bytes()', ("d/x.bin", "Path.read_bytes")),
        ('from pathlib import Path\nwith Path("d/x.txt").open() as f:\n    pass', ("d/x.txt", "Path.open")),
        ('import joblib\nm = joblib.load("model.joblib")', ("model.joblib", "joblib.load")),
        ('import scipy.io\nm = scipy.io.loadmat("m.mat")', ("m.mat", "scipy.io.loadmat")),
        ('from scipy import io as sio2\nm = sio2.loadmat("m.mat")', ("m.mat", "sio2.loadmat")),
        ('from PIL import Image\nim = Image.open("p.png")', ("p.png", "Image.open")),
        ('import xarray as xr\nds = xr.open_dataset("c.nc")', ("c.nc", "xr.open_dataset")),
        ('import sqlite3\ncon = sqlite3.connect("db.sqlite")', ("db.sqlite", "sqlite3.connect")),
        ('import h5py\nf = h5py.File("a.h5", "r")', ("a.h5", "h5py.File")),
        ('import gzip\nf = gzip.open("a.csv.gz")', ("a.csv.gz", "gzip.open")),
        ('import zipfile\nz = zipfile.ZipFile("a.zip")', ("a.zip", "zipfile.ZipFile")),
        ('import matplotlib.image as mpimg\nimg = mpimg.imread("p.png")', ("p.png", "mpimg.imread")),
    ],
)
def test_reader_families(source: str, expected: tuple[str, str]) -> None:
    assert reads(source) == [(*expected, MISSING)]


@pytest.mark.parametrize(
    "source",
    [
        'f = open("out.txt", "w")',
        'f = open("out.txt", mode="a")',
        'f = open("out.txt", "x")',
        'import h5py\nf = h5py.File("a.h5", "w")',
        'import pandas as pd\nstore = pd.HDFStore("a.h5")',  # default mode "a" creates the file
        "import sqlite3\ncon = sqlite3.connect(':memory:')",
        "import pandas as pd\nimport io\npd.read_csv(io.StringIO('a,b\\n1,2'))",
        "pd.read_clipboard()",
        "f = open(3)",  # a file descriptor
        "fd = 3\nf = open(fd)",
        "pd.read_csv(None)",
    ],
)
def test_not_a_file_read(source: str) -> None:
    assert reads(source) == []


@pytest.mark.parametrize(
    "cells, expected",
    [
        (["import pandas as p", 'p.read_csv("a.csv")'], [("a.csv", "p.read_csv")]),
        (["from pandas import read_csv", 'read_csv("a.csv")'], [("a.csv", "read_csv")]),
        (["from pandas import read_csv as rc", 'df = rc("a.csv")'], [("a.csv", "rc")]),
        (["import numpy as numeric", 'numeric.loadtxt("a.txt")'], [("a.txt", "numeric.loadtxt")]),
        (["import pandas as pd\nload = pd.read_csv", 'df = load("a.csv")'], [("a.csv", "load")]),
        (["from pandas import *", 'read_excel("a.xlsx")'], [("a.xlsx", "read_excel")]),
        (["from numpy import load", 'load("a.npy")'], [("a.npy", "load")]),
        # the import sat in a cell that did not parse: conventional names still resolve
        (["print 'python 2'", 'pd.read_csv("a.csv")'], [("a.csv", "pd.read_csv")]),
    ],
)
def test_aliases_resolve_through_imports(cells: list[str], expected: list[tuple[str, str]]) -> None:
    assert reads(*cells) == [(*ref, MISSING) for ref in expected]


@pytest.mark.parametrize(
    "cells",
    [
        ["def read_csv(path):\n    return path", 'read_csv("a.csv")'],  # not pandas: no import
        ["open = lambda path: path", 'open("a.csv")'],  # builtin shadowed
        ["pd = make_client()", 'pd.read_csv("a.csv")'],  # pd is not pandas here
        ["import mylib as pd", 'pd.read_csv("a.csv")'],
    ],
)
def test_local_names_shadow_readers(cells: list[str]) -> None:
    assert reads(*cells) == []


@pytest.mark.parametrize(
    "cells, expected",
    [
        (['DATA = "data/"', 'pd.read_csv(DATA + "x.csv")'], "data/x.csv"),
        (['import os\npd.read_csv(os.path.join("data", "sub", "x.csv"))'], "data/sub/x.csv"),
        (['from os.path import join\nD = join("data", "")', 'pd.read_csv(D + "x.csv")'], "data/x.csv"),
        (['import os.path as osp\npd.read_csv(osp.join("data", "x.csv"))'], "data/x.csv"),
        (['from pathlib import Path\np = Path("data") / "sub" / "x.csv"', "pd.read_csv(p)"], "data/sub/x.csv"),
        (['from pathlib import Path\nROOT = Path("./data/")', 'pd.read_csv(ROOT / "x.csv")'], "data/x.csv"),
        (['from pathlib import Path\npd.read_csv(Path("data").joinpath("x.csv"))'], "data/x.csv"),
        (['DATA = "data"\nyear = 2019', 'pd.read_csv(f"{DATA}/sales_{year}.csv")'], "data/sales_2019.csv"),
        (['n = 7\npd.read_csv(f"part-{n:03d}.csv")'], "part-007.csv"),
        (['name = "sales"\npd.read_csv("%s.csv" % name)'], "sales.csv"),
        (['d, n = "data", "sales"\npd.read_csv("%s/%s.csv" % (d, n))'], "data/sales.csv"),
        (['name = "sales"\npd.read_csv("{}.csv".format(name))'], "sales.csv"),
        (['pd.read_csv("{d}/{n}.csv".format(d="data", n="x"))'], "data/x.csv"),
        (['pd.read_csv("/".join(["data", "x.csv"]))'], "data/x.csv"),
        (['DATA = "data/"\nDATA += "raw/"', 'pd.read_csv(DATA + "x.csv")'], "data/raw/x.csv"),
        (['P = "data/x.csv"\nQ = P', "pd.read_csv(Q)"], "data/x.csv"),
        (['P: str = "data/x.csv"', "pd.read_csv(P)"], "data/x.csv"),
        (['pd.read_csv(str("data/x.csv"))'], "data/x.csv"),
        (['pd.read_csv("data\\\\x.csv".replace("\\\\", "/"))'], "data/x.csv"),
        # the common `def load(path=DATA_PATH)` helper reads its default
        (
            ['import os\nHOUSING = os.path.join("datasets", "housing")',
             "def load(housing_path=HOUSING):\n    p = os.path.join(housing_path, 'h.csv')\n"
             "    return pd.read_csv(p)"],
            "datasets/housing/h.csv",
        ),
    ],
)
def test_constant_folding(cells: list[str], expected: str) -> None:
    assert paths(*cells) == [expected]


@pytest.mark.parametrize(
    "cells, expected",
    [
        (["import sys\npd.read_csv(sys.argv[1])"], "sys.argv[1]"),
        (["for f in files:\n    pd.read_csv(f)"], "f"),
        (["for year in years:\n    pd.read_csv(f'data/{year}.csv')"], "f'data/{year}.csv'"),
        (['path = "a.csv"\npath = input()', "pd.read_csv(path)"], "path"),
        (["def load(path):\n    return pd.read_csv(path)"], "path"),
        # a comprehension variable hides the constant of the same name
        (['f = "a.csv"\nframes = [pd.read_csv(f) for f in names]'], "f"),
        (["from pathlib import Path\nPath(base).read_text()"], "Path(base)"),
        # a width of a billion characters is not folded
        (['pd.read_csv("{:>1000000000}".format("x"))'], "'{:>1000000000}'.format('x')"),
        (['pd.read_csv("{0.__class__}.csv".format("s"))'], "'{0.__class__}.csv'.format('s')"),
    ],
)
def test_unfoldable_paths_are_dynamic(cells: list[str], expected: str) -> None:
    assert [(r.as_written, r.status) for r in find_data_refs(code(*cells))] == [(expected, DYNAMIC)]


@pytest.mark.parametrize(
    "path",
    [
        "https://example.org/data.csv",
        "HTTP://EXAMPLE.ORG/DATA.CSV",
        "ftp://ftp.example.org/pub/data.csv",
        "s3://bucket/key/data.parquet",
    ],
)
def test_remote_paths_are_urls(path: str) -> None:
    assert reads(f'URL = "{path}"', "df = pd.read_csv(URL)") == [(path, "pd.read_csv", URL)]


@pytest.mark.parametrize(
    "cells",
    [
        ['df.to_csv("out.csv")', 'pd.read_csv("out.csv")'],
        ['df.to_csv("./results/out.csv")', 'pd.read_csv("results/out.csv")'],
        ['import numpy as np\nnp.save("arr", a)', 'b = np.load("arr.npy")'],
        ['np.savez("arrs", a=a)', 'b = np.load("arrs.npz")'],
        ['with open("o.txt", "w") as f:\n    f.write("x")', 'print(open("o.txt").read())'],
        ['store = pd.HDFStore("my.h5")\nstore["a"] = df', 'pd.read_hdf("my.h5", "a")'],
        ['from pathlib import Path\nP = Path("o.txt")\nP.write_text("x")', "P.read_text()"],
        ['plt.savefig("fig.png")', 'img = plt.imread("fig.png")'],
    ],
)
def test_files_written_earlier_are_not_inputs(cells: list[str]) -> None:
    assert reads(*cells) == []


def test_a_download_is_a_network_read_and_the_file_it_writes_is_not_an_input() -> None:
    assert reads('import urllib.request\nurllib.request.urlretrieve(URL, "d/h.tgz")',
                 'import tarfile\ntarfile.open("d/h.tgz")') == [
        ('urllib.request.urlretrieve(URL, "d/h.tgz")'.replace('"', "'"), "urllib.request.urlretrieve", URL)]


def test_a_read_before_the_write_is_an_input() -> None:
    assert paths('df = pd.read_csv("in.csv")', 'df.to_csv("in.csv")') == ["in.csv"]
    assert paths('pd.read_csv("in.csv").to_csv("in.csv")') == ["in.csv"]


def test_reading_from_an_open_handle_records_the_file_once() -> None:
    assert reads('with open("a.csv") as f:\n    df = pd.read_csv(f)') == [("a.csv", "open", MISSING)]
    assert reads('xls = pd.ExcelFile("b.xls")', 'df = pd.read_excel(xls, "Sheet1")') == [
        ("b.xls", "pd.ExcelFile", MISSING)
    ]


def test_refs_are_deduplicated_keeping_the_first_cell_and_index_counts_markdown() -> None:
    cells = [
        Cell("markdown", "# Sales"),
        Cell("code", 'df = pd.read_csv("s.csv")'),
        Cell("code", 'df2 = pd.read_csv("s.csv")\ntxt = open("s.csv").read()'),
    ]
    refs = find_data_refs(cells)
    assert [(r.as_written, r.call, r.cell) for r in refs] == [
        ("s.csv", "pd.read_csv", 1),
        ("s.csv", "open", 2),
    ]


def test_cells_that_do_not_parse_are_skipped_without_crashing() -> None:
    cells = code(
        "print 'python 2'",
        "%matplotlib inline\n!ls data",
        "%%bash\ncat data/x.csv",
        'exec "x = 1"',
        'df = pd.read_csv("data/x.csv")',
    )
    assert [(r.as_written, r.cell) for r in find_data_refs(cells)] == [("data/x.csv", 4)]


def test_given_trees_are_used_instead_of_reparsing() -> None:
    cells = code('df = pd.read_csv("a.csv")')
    other_trees = parse_cells(code('df = pd.read_csv("b.csv")'))
    assert [r.as_written for r in find_data_refs(cells, other_trees)] == ["b.csv"]


def test_pathologically_deep_expression_does_not_crash() -> None:
    deep: ast.expr = ast.Constant("x")
    for _ in range(50_000):
        deep = ast.BinOp(left=deep, op=ast.Add(), right=ast.Constant("y"))
    deep_cell = ast.Module(body=[ast.Expr(ast.Call(ast.Name("open"), [deep], []))], type_ignores=[])
    cells = code("open(...)", 'pd.read_csv("ok.csv")')
    refs = find_data_refs(cells, [deep_cell, ast.parse('pd.read_csv("ok.csv")')])
    assert [r.as_written for r in refs] == ["ok.csv"]


def test_runaway_string_growth_is_capped() -> None:
    cells = ['s = "ab"'] + ["s += s"] * 40 + ["pd.read_csv(s)"]
    refs = find_data_refs(code(*cells))
    assert [(r.as_written, r.status) for r in refs] == [("s", DYNAMIC)]


@pytest.mark.parametrize(
    "called_name",
    sorted(
        {name.rsplit(".", 1)[-1] for name in FILE_CALLS}
        | WRITE_METHODS
        | PATH_READ_METHODS
        | PATH_WRITE_METHODS
    ),
)
def test_every_file_call_makes_its_cell_walked(called_name: str) -> None:
    """A cell is walked for calls only when TRIGGER matches: a reader it misses goes unseen."""
    assert TRIGGER.search(f"x = mod.{called_name}(path)")


@pytest.mark.parametrize("helper", ["save_fig('x')", "pd.to_datetime(s)", "df.to_numpy()"])
def test_lookalike_helpers_do_not_trigger_a_walk(helper: str) -> None:
    assert not TRIGGER.search(helper)


@pytest.mark.parametrize("cells, expected", [
    (['import seaborn as sns\nd = sns.load_dataset("healthexp")'], ("sns.load_dataset('healthexp')", "sns.load_dataset")),
    (['from sklearn.datasets import fetch_openml\nx = fetch_openml("credit-g")'],
     ("fetch_openml('credit-g')", "fetch_openml")),
    (['import pandas_datareader.data as web\np = web.DataReader("F", "stooq")'],
     ("web.DataReader('F', 'stooq')", "web.DataReader")),
    (['import requests\ns = requests.Session()', 'r = s.get("https://x.org/a.csv")'], ("requests.Session()", "requests.Session")),
    (['import requests\ndef ask(api_url):\n    return requests.post(api_url, json={})'],
     ("requests.post(api_url, json={})", "requests.post")),
    (['import requests\nr = requests.get("https://x.org/a.json")'], ("https://x.org/a.json", "requests.get")),
    (['T = "https://x.org/{}.csv"', 'frames = [pd.read_csv(T.format(y)) for y in years]'], ("T.format(y)", "pd.read_csv")),
    (['frames = [pd.read_csv(f"https://x.org/{y}.csv") for y in years]'], ("f'https://x.org/{y}.csv'", "pd.read_csv")),
    (['from datasets import load_dataset\nd = load_dataset("imdb")'], ("load_dataset('imdb')", "load_dataset")),
    (['!wget -O data.csv https://x.org/a.csv', 'pd.read_csv("data.csv")'], ("wget -O data.csv https://x.org/a.csv", "!wget")),
])
def test_network_fetches_are_url_refs_of_kind_network(cells, expected):
    [ref] = find_data_refs(code(*cells))
    assert (ref.as_written, ref.call, ref.status, ref.kind) == (*expected, URL, "network")


def test_a_dataset_read_from_local_files_is_not_a_network_read():
    assert reads('from datasets import load_dataset\nd = load_dataset("csv", data_files="x.csv")') == []


@pytest.mark.parametrize("cells", [
    ['import glob', 'for f in glob.glob("data/sales-*.csv"):\n    pd.read_csv(f)'],
    ['from glob import glob', 'frames = [pd.read_csv(f) for f in sorted(glob("data/sales-*.csv"))]'],
    ['import glob', 'files = glob.glob("data/sales-*.csv")', 'for f in files:\n    df = pd.read_csv(str(f))'],
    ['from pathlib import Path', 'for p in Path("data").glob("sales-*.csv"):\n    pd.read_csv(p)'],
])
def test_a_loop_over_a_constant_glob_pattern_reads_what_it_matches(cells):
    [ref] = find_data_refs(code(*cells))
    assert (ref.as_written, ref.status, ref.kind) == ("data/sales-*.csv", MISSING, "glob")


@pytest.mark.parametrize("cells, inputs", [
    (['import sqlite3\ncon = sqlite3.connect("db.sqlite")', 'df.to_sql("t", con)', 'pd.read_sql("select * from t", con)'], []),
    (['import sqlite3\ncon = sqlite3.connect("db.sqlite")\ncur = con.cursor()', 'cur.execute("CREATE TABLE t (a)")',
      'pd.read_sql("select * from t", con)'], []),
    (['import sqlite3\nwith sqlite3.connect("db.sqlite") as con:\n    df.to_sql(name="t", con=con)'], []),
    (['import sqlite3\ncon = sqlite3.connect("db.sqlite")', 'pd.read_sql("select * from t", con)', 'df.to_sql("u", con)'],
     ["db.sqlite"]),
    (['import sqlite3\ncon = sqlite3.connect("db.sqlite")', 'con.execute(query)'], ["db.sqlite"]),  # unknown: an input
    (['%%writefile lookup.csv\na,b\n1,2', 'pd.read_csv("lookup.csv")'], []),
])
def test_a_database_or_file_written_before_it_is_read_is_no_input(cells, inputs):
    assert paths(*cells) == inputs
