"""Tables a notebook types in (extract/inline_tables.py): written out as a data file the task
ships, read by the question like any file, checked by `verify` on that file alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nbqa_builder.deps.step import DepsStep
from nbqa_builder.extract.inline_tables import csv_of
from nbqa_builder.extract.step import ExtractStep
from nbqa_builder.notebooks.validate import ValidateStep
from nbqa_builder.records import INLINE, Notebook
from nbqa_builder.sources.local import describe_repository, read_notebook

RAW = ("import pandas as pd\n"
       "raw_data = {'regiment': ['Nighthawks', 'Nighthawks', 'Dragoons', 'Dragoons', 'Scouts', 'Scouts'],\n"
       "            'company': ['1st', '2nd', '1st', '2nd', '1st', '2nd'],\n"
       "            'preTestScore': [4, 24, 31, 2, 3, 70]}")


def extracted(factory, tmp_path: Path, cells: list[str], saved_as: dict[str, str] | None = None) -> Notebook:
    repo = tmp_path / "acme__typed"
    repo.mkdir(parents=True)
    (repo / "LICENSE").write_text("MIT License\n")
    factory.write(repo, "typed.ipynb", cells, saved_as=saved_as or {})
    notebook = read_notebook(describe_repository(repo), "typed.ipynb", 1 << 30)
    for step in (ValidateStep(), DepsStep(), ExtractStep(output=str(tmp_path / "out"))):
        step([notebook])
    return notebook


def kept(notebook: Notebook) -> list:
    return [task for task in notebook.tasks if task.drop_reason is None]


def test_a_table_typed_in_becomes_a_file_the_task_reads(factory, verify, tmp_path):
    notebook = extracted(factory, tmp_path, [RAW, "regiment = pd.DataFrame(raw_data)",
                                             "regiment.groupby('regiment')['preTestScore'].mean()"])
    [task] = kept(notebook)
    # the question stands alone: it names the file, and the file holds the table
    assert task.task.startswith("Using `regiment.csv`, what is the mean of `preTestScore` for each value of `regiment`")
    [file] = task.data_files
    assert file.path == "regiment.csv"
    [ref] = [r for r in notebook.data_refs if r.kind == INLINE]
    table = pd.read_csv(ref.generated)
    assert list(table.columns) == ["regiment", "company", "preTestScore"] and len(table) == 6
    verify([notebook])
    assert task.drop_reason is None and task.verified and task.reference_agrees
    assert "@mean_pretestscore_scouts[36.5]" in task.label
    # the file's origin is the notebook's cell, under the repository's license
    [published] = {f["sha256"]: f for f in notebook.published_files()}.values()
    assert published["origin"]["source"].endswith("typed.ipynb (the table cell 1 types in)")
    assert published["source"] == ref.generated


def test_digit_strings_stay_text_and_the_question_says_so(factory, verify, tmp_path):
    # '1', '2' read back from a CSV file as numbers: the read is told they are text
    cells = ["import pandas as pd\nleft = pd.DataFrame({'id': ['1', '2', '3'], 'name': ['a', 'b', 'c']})\n"
             "right = pd.DataFrame({'id': ['2', '3', '4'], 'score': [5, 6, 7]})",
             "merged = pd.merge(left, right, on='id', how='outer')\nmerged"]
    notebook = extracted(factory, tmp_path, cells)
    [task] = kept(notebook)
    assert "reading `id` as text (str)" in task.task and "outer join" in task.task
    assert {f.path for f in task.data_files} == {"left.csv", "right.csv"}
    verify([notebook])
    assert task.drop_reason is None and task.label == "@row_count[4]"


def test_a_task_ships_only_the_typed_in_tables_its_question_reads(factory, tmp_path):
    cells = ["import pandas as pd\nleft = pd.DataFrame({'k': ['a', 'b', 'c'], 'v': [1, 2, 3]})\n"
             "unused = pd.DataFrame({'k': ['x', 'y'], 'w': [5, 6]})", "left['v'].sum()"]
    notebook = extracted(factory, tmp_path, cells)
    tasks = kept(notebook)
    assert len(tasks) == 1, [t.drop_reason for t in notebook.tasks]
    [task] = tasks
    assert [f.path for f in task.data_files] == ["left.csv"] and task.file_names == ["left.csv"]


def test_a_series_typed_in_is_a_table_of_one_column(factory, verify, tmp_path):
    cells = ["import pandas as pd\nobj = pd.Series([4, 7, -5, 3], index=['d', 'b', 'a', 'c'])", "obj[obj > 0].sum()"]
    notebook = extracted(factory, tmp_path, cells)
    [task] = kept(notebook)
    assert "`obj.csv`" in task.task and "using its first column as the index" in task.task and "`value`" in task.task
    verify([notebook])
    assert task.drop_reason is None and task.label == "@sum_value[14]"


@pytest.mark.parametrize("cells, saved_as", [
    # values the cell computes: nothing is run to find them, so there is no file
    (["import numpy as np\nimport pandas as pd\nnp.random.seed(0)\nframe = pd.DataFrame({'x': np.random.rand(5)})",
      "frame['x'].count()"], None),
    # the literal changed between its cell and the table's: the table is not what the literal says
    ([RAW + "\nraw_data['preTestScore'] = [1, 2, 3, 4, 5, 6]", "regiment = pd.DataFrame(raw_data)\n"
      "regiment['preTestScore'].sum()"], None),
])
def test_a_table_not_made_of_literals_gives_no_file(factory, tmp_path, cells, saved_as):
    notebook = extracted(factory, tmp_path, cells, saved_as)
    assert not [r for r in notebook.data_refs if r.kind == INLINE]
    assert not kept(notebook)
    assert {task.drop_reason.split(":")[0] for task in notebook.tasks} == {"no_data_file"}


def test_a_table_that_a_csv_file_cannot_give_back_gives_no_file():
    assert csv_of(pd.DataFrame({0: [1, 2], 1: [3, 4]})) is None  # column labels that are numbers
    assert csv_of(pd.DataFrame({"a": [[1], [2]]})) is None  # lists in cells
    assert csv_of(pd.DataFrame({"a": [1]})) is None  # one row: nothing to analyse
    data, options = csv_of(pd.DataFrame({"a": [1.5, None], "b": ["x", "y"]}, index=["p", "q"]))
    assert options == (("index_col", 0),) and data.decode().splitlines()[0] == ",a,b"


def test_without_a_folder_to_write_into_no_table_is_typed_out(factory, tmp_path):
    repo = tmp_path / "acme__typed"
    repo.mkdir()
    factory.write(repo, "typed.ipynb", [RAW, "regiment = pd.DataFrame(raw_data)\nregiment['preTestScore'].sum()"])
    notebook = read_notebook(describe_repository(repo), "typed.ipynb", 1 << 30)
    for step in (ValidateStep(), DepsStep(), ExtractStep()):
        step([notebook])
    assert not notebook.data_refs and notebook.drop_reason.startswith("no_tasks")


def typed_tables(tmp_path: Path, cells: list[str]) -> list:
    """The tables `inline_tables` writes for these code cells (no kernel needed: nothing runs)."""
    from types import SimpleNamespace

    from nbqa_builder.extract.inline_tables import inline_tables
    from nbqa_builder.notebooks.code import parse_cell
    from nbqa_builder.records import Cell

    notebook = SimpleNamespace(cells=[Cell("code", source) for source in cells], data_refs=[])
    return inline_tables(notebook, [parse_cell(source) for source in cells], tmp_path / "inline")


@pytest.mark.parametrize("cells", [
    # changed in place after it was typed: what the literal says is not the table any more
    [RAW + "\nraw_data.update({'preTestScore': [0] * 6})", "t = pd.DataFrame(raw_data)"],
    # bound again to something computed
    [RAW + "\nraw_data = dict(raw_data)", "t = pd.DataFrame(raw_data)"],
    # defined only after the table is built
    ["import pandas as pd\nt = pd.DataFrame(later)", "later = {'a': [1, 2], 'b': [3, 4]}"],
    # not pandas: a function of the notebook's that happens to be named DataFrame
    ["def DataFrame(x):\n    return x\nt = DataFrame({'a': [1, 2]})"],
    # an option that changes the values, or a dtype no CSV file gives back
    ["import pandas as pd\nt = pd.DataFrame({'a': [1, 2]}, copy=False)"],
    ["import pandas as pd\nt = pd.DataFrame({'a': ['x', 'y']}, dtype='category')"],
])
def test_only_a_table_its_literals_state_is_typed_out(tmp_path, cells):
    assert typed_tables(tmp_path, cells) == []


def test_a_literal_too_large_to_read_gives_no_file(tmp_path, monkeypatch):
    import nbqa_builder.extract.inline_tables as inline

    cells = ["import pandas as pd\nt = pd.DataFrame({'a': list_of_numbers})".replace(
        "list_of_numbers", repr(list(range(200))))]
    assert len(typed_tables(tmp_path / "small", cells)) == 1
    monkeypatch.setattr(inline, "MAX_NODES", 100)
    assert typed_tables(tmp_path / "large", cells) == []


def test_two_cells_that_type_the_same_table_share_one_file_and_name(tmp_path):
    cells = ["import pandas as pd\nleft = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})",
             "right = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})\nother = pd.DataFrame({'a': [3, 4]})"]
    left, right, other = typed_tables(tmp_path, cells)
    assert left.as_written == right.as_written == "left.csv" and left.sha256 == right.sha256
    assert other.as_written == "other.csv" and Path(other.generated).read_text() == "a\n3\n4\n"
    assert [ref.sites[0][0] for ref in (left, right, other)] == [0, 1, 1]


def test_cells_picked_by_their_labels_give_their_values(factory, verify, tmp_path):
    # the value of a cell of a shown table, named by its row and column labels: the analyst picked them
    cells = ["import pandas as pd\nraw = {'origin': ['Maine', 'Alaska', 'Texas'], 'deaths': [43, 523, 25], "
             "'size': [1592, 987, 1099]}",
             "army = pd.DataFrame(raw)\narmy = army.set_index('origin')",
             "army.loc[['Maine', 'Alaska'], ['deaths', 'size']]", "army.loc['Texas', 'deaths']",
             "army.loc[['Maine', 'Alaska', 'Texas']]"]
    notebook = extracted(factory, tmp_path, cells)
    picked, single = kept(notebook)[:2]
    assert "Keep only the rows whose label (index value) is 'Maine' or 'Alaska', in that order" in picked.task
    assert "Keep only the columns `deaths` and `size`" in picked.task
    assert single.task.endswith("what is the value of `deaths` in the row whose label (index value) is 'Texas'?")
    verify([notebook])
    assert picked.label == "@deaths_maine[43] @size_maine[1592] @deaths_alaska[523] @size_alaska[987]"
    assert single.label == "@deaths_texas[25]"
    assert picked.verified and single.verified and picked.reference_agrees and single.reference_agrees
    # rows picked with every column: the table itself, never asked
    assert len(kept(notebook)) == 2
    assert [t.drop_reason for t in notebook.tasks if t.cells[-1] == 4] == ["table_output: army.loc[['Maine', 'Alaska', 'Texas']]"]
