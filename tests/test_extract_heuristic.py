"""The offline extractor: slices, templated questions, labels from stored outputs."""

from __future__ import annotations

import pytest

from nbqa_builder.extract.heuristic import extract_tasks, parse_value
from nbqa_builder.extract.slicer import cell_names, slice_cells
from nbqa_builder.notebooks.code import parse_cells
from nbqa_builder.records import FOUND, URL, Cell, DataRef, Notebook


def result(text: str) -> list[dict]:
    return [{"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": text}, "metadata": {}}]


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


@pytest.mark.parametrize(
    "text, kind, label",
    [("34.654208333333335", "float", "34.65"), ("3", "int", "3"), ("np.float64(2.5)", "float", "2.5"),
     ("np.int64(7)", "int", "7"), ("'north'", "str", "north"), ("True", "bool", "True"), ("0.000123", "float", "0.000123"),
     ("-1.5", "float", "-1.5")],
)
def test_parse_value(text, kind, label):
    value = parse_value(text, 60)
    assert (value.kind, value.label) == (kind, label)


@pytest.mark.parametrize("text", ["   a  b\n0  1  2", "nan", "'" + "x" * 100 + "'", "[1, 2]", "Timestamp('2020-01-01')", ""])
def test_non_scalars_are_not_values(text):
    assert parse_value(text, 60) is None


def notebook_with(cells: list[Cell], refs: list[DataRef]) -> Notebook:
    return Notebook(notebook_id="abc", repo="o/r", path="nb/a.ipynb", cells=cells, data_refs=refs)


def test_tasks_from_scalar_outputs():
    cells = [
        Cell("markdown", "# Sales"),
        Cell("code", "import pandas as pd\nsales = pd.read_csv('../data/sales.csv')", 1),
        Cell("markdown", "## Mean price"),
        Cell("code", "sales['price'].mean()", 2, result("4.81234")),
        Cell("code", "sales['region'].value_counts().idxmax()", 3, result("'north'")),
        Cell("code", "sales.describe()", 4, result("     price\ncount  10")),
        Cell("code", "x = 3\nx", 5, result("3")),  # no data file in its slice
    ]
    refs = [DataRef("../data/sales.csv", 1, "pd.read_csv", FOUND, "data/sales.csv", "f" * 64, 2000, 400)]
    tasks = extract_tasks(notebook_with(cells, refs), max_tasks=10, max_value_chars=60)
    assert [t.label for t in tasks] == ["@mean_price[4.81]", "@most_common_region[north]"]
    mean = tasks[0]
    assert mean.task == "Using `sales.csv`, what is the mean of `price`?"
    assert mean.answer == "4.81234"
    assert "rounded to 2 decimal places" in mean.format
    assert mean.file_names == ["sales.csv"]
    assert [(f.path, f.sha256) for f in mean.data_files] == [("../data/sales.csv", "f" * 64)]
    assert mean.deps_complete
    assert mean.cells == [1, 3]
    # solution: the sliced cells with their own code and outputs, then the label
    assert [s.python_code for s in mean.solution[:-1]] == [cells[1].source, cells[3].source]
    assert mean.solution[1].thought == "Mean price"
    assert mean.solution[1].code_output == "4.81234"
    assert mean.solution[-1].label == "@mean_price[4.81]"
    assert mean.concepts[0] == "Summary Statistics"
    assert len({t.id for t in tasks}) == 2


def test_url_data_makes_deps_incomplete():
    cells = [Cell("code", "import pandas as pd\nd = pd.read_csv('https://x.org/d.csv')", 1),
             Cell("code", "d['a'].max()", 2, result("9"))]
    refs = [DataRef("https://x.org/d.csv", 0, "pd.read_csv", URL)]
    (task,) = extract_tasks(notebook_with(cells, refs), max_tasks=10, max_value_chars=60)
    assert not task.deps_complete and task.data_files == []


def test_task_ids_are_stable():
    cells = [Cell("code", "import pandas as pd\nd = pd.read_csv('d.csv')", 1), Cell("code", "len(d)", 2, result("120"))]
    refs = [DataRef("d.csv", 0, "pd.read_csv", FOUND, "d.csv", "a" * 64, 10, 121)]
    first = extract_tasks(notebook_with(cells, refs), 10, 60)
    second = extract_tasks(notebook_with(cells, refs), 10, 60)
    assert first[0].id == second[0].id and first[0].label == "@row_count[120]"
