"""The catalogue of functions that read or write files, by canonical (import-resolved) name.

`pd.read_csv`, `from pandas import read_csv` and `import pandas as p; p.read_csv` all resolve to
`pandas.read_csv` before they are looked up here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

READ, WRITE, MODE = "read", "write", "mode"


@dataclass(frozen=True)
class FileCall:
    """Where a function takes its path, and whether it reads, writes, or decides by a mode argument."""

    kind: str  # READ, WRITE, or MODE (reads unless the mode contains w, a or x)
    position: int = 0  # positional index of the path argument
    keywords: tuple[str, ...] = ()  # keyword names of the path argument
    mode_position: int | None = None
    default_mode: str = "r"
    add_suffix: str = ""  # np.save("a") writes "a.npy"


_PANDAS_KEYWORDS = ("filepath_or_buffer", "path_or_buf", "path_or_buffer", "path", "io")
_PANDAS_READERS = (
    "csv table excel json parquet feather pickle hdf html xml fwf sas stata spss orc".split()
)

FILE_CALLS: dict[str, FileCall] = {
    **{f"pandas.read_{kind}": FileCall(READ, 0, _PANDAS_KEYWORDS) for kind in _PANDAS_READERS},
    "pandas.ExcelFile": FileCall(READ, 0, _PANDAS_KEYWORDS),
    "pandas.HDFStore": FileCall(MODE, 0, ("path",), 1, "a"),  # default mode "a" creates the file
    "pandas.ExcelWriter": FileCall(WRITE, 0, ("path",)),
    "numpy.loadtxt": FileCall(READ, 0, ("fname",)),
    "numpy.genfromtxt": FileCall(READ, 0, ("fname",)),
    "numpy.load": FileCall(READ, 0, ("file",)),
    "numpy.fromfile": FileCall(READ, 0, ("file",)),
    "numpy.save": FileCall(WRITE, 0, ("file",), add_suffix=".npy"),
    "numpy.savez": FileCall(WRITE, 0, ("file",), add_suffix=".npz"),
    "numpy.savez_compressed": FileCall(WRITE, 0, ("file",), add_suffix=".npz"),
    "numpy.savetxt": FileCall(WRITE, 0, ("fname",)),
    "open": FileCall(MODE, 0, ("file",), 1),
    "io.open": FileCall(MODE, 0, ("file",), 1),
    "codecs.open": FileCall(MODE, 0, ("filename",), 1),
    "gzip.open": FileCall(MODE, 0, ("filename",), 1, "rb"),
    "bz2.open": FileCall(MODE, 0, ("filename",), 1, "rb"),
    "lzma.open": FileCall(MODE, 0, ("filename",), 1, "rb"),
    "tarfile.open": FileCall(MODE, 0, ("name",), 1),
    "zipfile.ZipFile": FileCall(MODE, 0, ("file",), 1),
    "h5py.File": FileCall(MODE, 0, ("name",), 1),
    "netCDF4.Dataset": FileCall(MODE, 0, ("filename",), 1),
    "sqlite3.connect": FileCall(READ, 0, ("database",)),
    "joblib.load": FileCall(READ, 0, ("filename",)),
    "joblib.dump": FileCall(WRITE, 1, ("filename",)),
    "scipy.io.loadmat": FileCall(READ, 0, ("file_name",)),
    "scipy.io.savemat": FileCall(WRITE, 0, ("file_name",)),
    "scipy.io.arff.loadarff": FileCall(READ, 0, ("f",)),
    "scipy.io.wavfile.read": FileCall(READ, 0, ("filename",)),
    "PIL.Image.open": FileCall(READ, 0, ("fp",)),
    "xarray.open_dataset": FileCall(READ, 0, ("filename_or_obj",)),
    "xarray.open_dataarray": FileCall(READ, 0, ("filename_or_obj",)),
    "xarray.load_dataset": FileCall(READ, 0, ("filename_or_obj",)),
    "geopandas.read_file": FileCall(READ, 0, ("filename",)),
    "polars.read_csv": FileCall(READ, 0, ("source",)),
    "polars.read_parquet": FileCall(READ, 0, ("source",)),
    "polars.read_json": FileCall(READ, 0, ("source",)),
    "polars.read_excel": FileCall(READ, 0, ("source",)),
    "polars.scan_csv": FileCall(READ, 0, ("source",)),
    "polars.scan_parquet": FileCall(READ, 0, ("source",)),
    "dask.dataframe.read_csv": FileCall(READ, 0, ("urlpath",)),
    "dask.dataframe.read_parquet": FileCall(READ, 0, ("path",)),
    "pyarrow.parquet.read_table": FileCall(READ, 0, ("source",)),
    "pyarrow.csv.read_csv": FileCall(READ, 0, ("input_file",)),
    "pyarrow.feather.read_feather": FileCall(READ, 0, ("source",)),
    "pyarrow.feather.read_table": FileCall(READ, 0, ("source",)),
    "openpyxl.load_workbook": FileCall(READ, 0, ("filename",)),
    "xlrd.open_workbook": FileCall(READ, 0, ("filename",)),
    "cv2.imread": FileCall(READ, 0, ("filename",)),
    "imageio.imread": FileCall(READ, 0, ("uri",)),
    "imageio.v2.imread": FileCall(READ, 0, ("uri",)),
    "imageio.v3.imread": FileCall(READ, 0, ("uri",)),
    "matplotlib.pyplot.imread": FileCall(READ, 0, ("fname",)),
    "matplotlib.image.imread": FileCall(READ, 0, ("fname",)),
    "skimage.io.imread": FileCall(READ, 0, ("fname",)),
    "torch.load": FileCall(READ, 0, ("f",)),
    "urllib.request.urlretrieve": FileCall(WRITE, 1, ("filename",)),
    "urllib.urlretrieve": FileCall(WRITE, 1, ("filename",)),  # Python 2
    "shutil.copy": FileCall(WRITE, 1, ("dst",)),
    "shutil.copyfile": FileCall(WRITE, 1, ("dst",)),
    "shutil.copy2": FileCall(WRITE, 1, ("dst",)),
    "shutil.move": FileCall(WRITE, 1, ("dst",)),
}

# Calls that fetch over the network, by canonical name: the position of their URL argument
# (None: the call names a dataset, not a URL). A sandbox has no network, so each is a read that
# cannot be served; `urlretrieve` also writes its second argument (see FILE_CALLS).
NETWORK_CALLS: dict[str, int | None] = {
    **{f"requests.{verb}": 0 for verb in "get post put patch delete head options".split()},
    "requests.request": 1,
    "requests.Session": None,  # its methods fetch: the session itself is the network read
    "requests.session": None,
    **{f"httpx.{verb}": 0 for verb in "get post put patch delete head options stream".split()},
    "httpx.request": 1,
    "httpx.Client": None,
    "httpx.AsyncClient": None,
    "urllib.request.urlopen": 0,
    "urllib.request.urlretrieve": 0,
    "urllib.urlopen": 0,  # Python 2
    "urllib.urlretrieve": 0,
    "urllib2.urlopen": 0,
    "seaborn.load_dataset": None,  # fetched from GitHub on first use
    "datasets.load_dataset": None,  # the Hugging Face Hub
    "tensorflow.keras.utils.get_file": 1,
    "keras.utils.get_file": 1,
    "wget.download": 0,
    "gdown.download": 0,
}
# Modules (and name prefixes) whose every call may fetch over the network.
NETWORK_PREFIXES = ("sklearn.datasets.fetch_", "pandas_datareader.", "yfinance.", "quandl.", "fredapi.",
                    "wbdata.", "kaggle.", "openml.")


# `datasets.load_dataset("csv", data_files=...)` and a local folder read local files: only a
# dataset's name on the Hub (`load_dataset("imdb")`) is fetched.
LOCAL_DATASET_BUILDERS = frozenset("csv json parquet text arrow pandas xml sql imagefolder audiofolder".split())


def is_network_call(canonical: str) -> bool:
    return canonical in NETWORK_CALLS or canonical.startswith(NETWORK_PREFIXES)


# Plain substrings one of which a cell that fetches over the network holds (checked before
# parsing: cells after the last read or fetch cannot add a data reference).
NETWORK_WORDS = ("requests", "httpx", "urlopen", "urlretrieve", "urllib", "load_dataset", "fetch_", "DataReader",
                 "datareader", "yfinance", "quandl", "download", "get_file", "Session", "session(", "wget", "curl",
                 "git clone", "kaggle", "gdown")


def mentions_network(source: str) -> bool:
    return any(map(source.__contains__, NETWORK_WORDS))


# `glob.glob("data/*.csv")`: the files a constant pattern matches (pathlib's `.glob` too).
GLOB_CALLS = frozenset(("glob.glob", "glob.iglob"))
PATH_GLOB_METHODS = frozenset(("glob", "rglob"))

# sqlite: `con = sqlite3.connect(path)` opens the file, or creates it. It is an input only when
# the notebook reads from it before it writes into it (`to_sql`, CREATE TABLE ...).
SQL_READERS = frozenset(("pandas.read_sql", "pandas.read_sql_query", "pandas.read_sql_table"))
SQL_CONNECTION_METHODS = frozenset(("execute", "executemany", "executescript"))
SQL_WRITE = re.compile(r"^\s*(?:create|insert|replace|update|delete|drop|alter)\b", re.IGNORECASE)

# Loaders that take an open file: `json.load(open(p))` is recorded as a json.load of p.
HANDLE_LOADERS = frozenset(
    "json.load pickle.load cPickle.load dill.load yaml.load yaml.safe_load yaml.full_load "
    "csv.reader csv.DictReader".split()
)

# Calls whose result is an in-memory buffer, not a file on disk.
BUFFERS = frozenset("io.StringIO io.BytesIO StringIO.StringIO cStringIO.StringIO".split())

# Methods that write their first argument, whatever the receiver (DataFrame, array, image, model).
WRITE_METHODS = frozenset(
    "to_csv to_excel to_json to_parquet to_feather to_pickle to_hdf to_html to_stata to_xml "
    "to_orc to_latex to_markdown to_netcdf to_zarr tofile save savetxt write_csv write_parquet "
    "savefig".split()
)
# pathlib.Path methods that write the file the path names.
PATH_WRITE_METHODS = frozenset(("write_text", "write_bytes"))
WRITE_METHOD_KEYWORDS = ("path_or_buf", "path", "excel_writer", "fname", "file", "fp", "filepath")

# pathlib.Path methods that read the file the path names.
PATH_READ_METHODS = frozenset(("read_text", "read_bytes", "open"))

PATH_CONSTRUCTORS = frozenset(
    "pathlib.Path pathlib.PurePath pathlib.PosixPath pathlib.WindowsPath pathlib.PurePosixPath "
    "pathlib.PureWindowsPath".split()
)

# Conventional names used without an import in view (the import sat in a cell that did not parse,
# or came from a startup file): resolved as if imported the usual way.
DEFAULT_ALIASES: dict[str, str] = {
    "pd": "pandas",
    "np": "numpy",
    "xr": "xarray",
    "gpd": "geopandas",
    "pl": "polars",
    "dd": "dask.dataframe",
    "plt": "matplotlib.pyplot",
    "sio": "scipy.io",
    "Image": "PIL.Image",
    "Path": "pathlib.Path",
    **{name: name for name in "open str os json pickle joblib sqlite3 h5py scipy io gzip bz2".split()},
    **{name: name for name in "tarfile zipfile shutil urllib codecs csv yaml cv2".split()},
    **{name: name for name in "glob requests httpx".split()},
    "sns": "seaborn",
}

# Matches the called name of every entry above (`read_csv`, `ZipFile`, `to_parquet`, `savez`,
# `write_text` ...). A cell whose source does not match (and names no local alias of such a call)
# holds no file access, so its expressions are not walked; bindings are still followed in every
# cell. Narrower than plain "save"/"to_" so that helpers like `save_fig` and `to_datetime` do not
# trigger a walk. tests/test_deps_analyze.py checks that every name above matches.
TRIGGER = re.compile(
    r"read|load|open|File|connect|Dataset|dump|copy|move|write_|tofile|fromfile|genfromtxt|scan_"
    r"|urlretrieve|HDFStore|ExcelWriter|save(?:\(|z|txt|fig|mat)|to_sql|execute"
    r"|requests|httpx|urlopen|Session|session\(|fetch_|DataReader|get_data|download|get_file"
    r"|to_(?:csv|excel|json|parquet|feather|pickle|hdf|html|stata|xml|orc|latex|markdown|netcdf|zarr)"
)

# A call of a reading function by its last name (`read_csv(`, `open(`, `load(`), or an import of
# one (`from pandas import read_csv as rc`): cells after the last one that matches cannot add a
# read (calls through such an alias are followed separately), so they need not be parsed at all.
_READ_NAMES = "|".join(sorted(
    {name.rsplit(".", 1)[-1] for name, call in FILE_CALLS.items() if call.kind != WRITE}
    | {name.rsplit(".", 1)[-1] for name in HANDLE_LOADERS}
    | PATH_READ_METHODS
))
READ_TRIGGER = re.compile(rf"\b({_READ_NAMES})\s*\(|\bimport\b[^\n]*\b({_READ_NAMES})\b")
# Plain substrings, one of which every reading name holds: most cells hold none, and ruling that
# out with `in` is about ten times cheaper than READ_TRIGGER's search (`\b` at its start defeats
# the regex engine's prefix scan).
_READ_WORDS = ("read", "Read", "load", "open", "File", "Dataset", "connect", "fromfile", "genfromtxt",
               "HDFStore", "scan_")
assert all(any(word in name for word in _READ_WORDS) for name in _READ_NAMES.split("|")), "a reading name lacks a word"


def mentions_read(source: str) -> bool:
    """Whether `source` calls or imports a reading function (READ_TRIGGER matches)."""
    # map over a bound method: no Python frame per word, as a generator expression would make
    return any(map(source.__contains__, _READ_WORDS)) and READ_TRIGGER.search(source) is not None
