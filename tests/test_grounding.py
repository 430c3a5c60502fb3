"""What counts as an answer: a whole value at a named place of the answer cell, compared with only
the rounding its format states."""

from __future__ import annotations

import pytest

from nbqa_builder.answers import EXACT, Rounding
from nbqa_builder.extract.grounding import has_code, read_scalar, same_value, series_entries, shown_values
from nbqa_builder.extract.thoughts import invented_number, without_code
from nbqa_builder.records import Cell, Notebook, SolutionStep, Task


def stdout(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(text):
    return {"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": text}, "metadata": {}}


@pytest.mark.parametrize("text, kind, value", [
    ("5.41", "float", 5.41), ("np.float64(5.41)", "float", 5.41), ("np.int64(7)", "int", 7), ("366", "int", 366),
    ("'east'", "str", "east"), ("np.str_('east')", "str", "east"), ("east", "str", "east"), ("True", "bool", True),
    ("np.True_", "bool", True), ("-0.5", "float", -0.5), ("1e-05", "float", 1e-05),
])
def test_one_value_as_python_shows_it(text, kind, value):
    scalar = read_scalar(text)
    assert (scalar.kind, scalar.value) == (kind, value)


@pytest.mark.parametrize("text", ["", "  ", "nan", "NaN", "inf", "None", "NaT", "<Figure size 640x480 with 1 Axes>",
                                  "[1, 2]", "(400, 6)", "{'a': 1}", "Timestamp('2025-01-01 00:00:00')",
                                  "   a  b\n0  1  2", "''", "dtype('int64')"])
def test_what_is_not_one_value(text):
    assert read_scalar(text) is None


def test_the_places_a_cell_shows():
    outputs = [stdout("loading...\nMean price: 5.41\nrows = 400\ntotal 6.75\nShape (400, 6)\n"),
               result("region\nnorth    4.50\nsouth    2.25\nName: amount, dtype: float64")]
    assert shown_values(outputs) == {
        "line 0": "loading...", "line 1": "5.41", "line 2": "400", "line 3": "6.75", "line 4": "Shape (400, 6)",
        "result[north]": "4.50", "result[south]": "2.25",
        "result.index[0]": "north", "result.index[1]": "south",  # the labels are values of `region`
    }
    assert shown_values([result("<Figure size 640x480 with 1 Axes>")]) == {}
    # a table's cells are named by row and column; its numbered rows are positions, not values; a
    # table shown whole can be counted
    assert shown_values([result("   a  b\n0  1  2\n1  3  4")]) == {
        "result.loc[0, a]": "1", "result.loc[0, b]": "2", "result.loc[1, a]": "3", "result.loc[1, b]": "4",
        "result.shape[0]": "2", "result.shape[1]": "2"}
    assert shown_values([result("(400, 6)")]) == {"result[0]": "400", "result[1]": "6"}


def test_a_series_repr_is_read_entry_by_entry_and_a_cut_one_is_not():
    assert series_entries("count    400.0\nmean       5.4\nName: price, dtype: float64") == {"count": "400.0", "mean": "5.4"}
    assert series_entries("0    1\n1    2\n    ..\n9    10\nLength: 10, dtype: int64") is None
    assert series_entries("a  b\n0  1") is None


@pytest.mark.parametrize("label, shown, rounding, same", [
    ("1.98", "1.9764705882352944", Rounding("decimals", 2), True),
    ("1.98", "1.9764705882352944", EXACT, False),  # no rounding stated: no rounding done
    ("4624.8", "4622", Rounding("decimals", 1), False),
    ("5.003", "5", Rounding("decimals", 3), False),
    ("5.003", "5.003", Rounding("decimals", 2), False),  # the label is not written as the format says
    ("5", "5.0", EXACT, True),
    ("7", "7.0", Rounding("decimals", 0), True),
    ("0.000123", "0.00012345", Rounding("significant", 3), True),
    ("east", "'east'", EXACT, True),
    ("East", "'east'", EXACT, False),
    ("True", "np.True_", EXACT, True),
    ("1", "True", EXACT, False),
    ("2025", "2025-01-03", EXACT, False),
    ("", "", EXACT, False),
    ("nan", "nan", EXACT, False),
    (" 5", "5", EXACT, False),
])
def test_a_value_is_compared_whole_with_only_the_stated_rounding(label, shown, rounding, same):
    assert same_value(label, shown, rounding) is same


def test_code_means_more_than_comments():
    assert has_code("x = 1  # one")
    assert not has_code("# just a note\n\n   # another")
    assert not has_code("")


def test_thoughts_lose_fenced_code():
    assert without_code("Count them:\n```python\ndf.value_counts()\n```\nthen pick the top.") == "Count them: then pick the top."
    assert without_code("Unclosed ```python\nx = 1") == "Unclosed"


def test_a_thought_may_state_only_numbers_the_solution_shows():
    notebook = Notebook("n", "o/r", "a.ipynb", cells=[
        Cell("code", "df = pd.read_csv('a.csv')\ndf = df[df.units > 20]", 1, []),
        Cell("code", "df.price.mean()", 2, [result("np.float64(5.41339)")]),
    ])

    def task(*thoughts):
        steps = [SolutionStep(t) for t in thoughts]
        return Task(task="q", file_names=[], concepts=[], difficulty="", constraints="", format="", answer="", label="",
                    solution=steps, github_repo="", ipynb_name="", cells=[0, 1])

    written = {0, 1, 2}
    assert invented_number(notebook, task("Keep units above 20.", "Average the price.", "It is 5.41."), written) is None
    assert invented_number(notebook, task("Load.", "Average.", "About 541% of a unit, i.e. 5.4."), written) is None
    assert invented_number(notebook, task("Load.", "It is 5.41.", "Done."), written) is None
    assert invented_number(notebook, task("It is 5.41 already.", "Average.", "Done."), written) == "invented_number_in_thought"
    assert invented_number(notebook, task("Load.", "Average.", "It is 5.73."), written) == "invented_number_in_thought"
    assert invented_number(notebook, task("Load.", "Average.", "It is 5.73."), {0, 1}) is None  # not model-written
