"""publish/steps.py and turns/printing.py: final expressions printed, files served by bare name, observations
predicted."""

from __future__ import annotations

import pytest

from nbqa_builder.publish.steps import StepRenderer, paths_to_names
from nbqa_builder.turns import NotTrainable, print_final_expression, printed_text


@pytest.mark.parametrize("code,printed", [
    ("df = load()\ndf.mean()", "df = load()\nprint(df.mean())"),
    ("x = 1; x", "x = 1; print(x)"),
    ("(df\n  .groupby('a')\n  .b.sum())  # total", "print((df\n  .groupby('a')\n  .b.sum()))  # total"),
    ("%matplotlib inline\ndf['é'].max()", "%matplotlib inline\nprint(df['é'].max())"),
    ("df.head();", None),  # a semicolon hides the value in a notebook
    ("df.info()", None), ("print(x)", None), ("plt.plot(x)", None), ("df.plot.bar()", None), ("sns.histplot(df)", None),
    ("df.style.highlight_max()", None),
    ("a = 3", None), ("for i in x:\n    i", None), ("", None), ("%%bash\nls", None),
])
def test_the_final_bare_expression_is_printed(code, printed):
    assert print_final_expression(code) == printed


@pytest.mark.parametrize("shown,printed", [
    ("np.float64(5.41)", "5.41"), ("np.int64(3)", "3"), ("'north'", "north"),
    ("rows: 3\nnp.float64(0.5)", "rows: 3\n0.5"),
    ("   a  b\n0  1  2", "   a  b\n0  1  2"), ("[np.float64(1.0)]", "[np.float64(1.0)]"), ("5.0", "5.0"),
])
def test_what_print_shows_is_read_off_the_displayed_value(shown, printed):
    assert printed_text(shown) == printed


def test_string_literals_naming_a_data_file_become_its_bare_name():
    code = ("a = pd.read_csv('../data/sales.csv')\nb = open(r\"./in/b.csv\")\nc = f'../data/sales.csv'\n"
            "d = '../data/sales.csv.bak'")
    renamed, found = paths_to_names(code, ["../data/sales.csv", "in/b.csv", "other.csv"])
    assert renamed == ("a = pd.read_csv('sales.csv')\nb = open(\"b.csv\")\nc = f'../data/sales.csv'\n"
                       "d = '../data/sales.csv.bak'")
    assert found == {"../data/sales.csv", "in/b.csv"}


def row(code: str, output: str, files=("../data/sales.csv",)) -> dict:
    return {"id": "t", "verified": False, "label": "@x[1]",
            "data_files": [{"path": p, "sha256": "0" * 64, "size": 1} for p in files],
            "solution": [{"thought": "t", "python_code": code, "code_output": output, "label": None},
                         {"thought": "done", "python_code": None, "code_output": None, "label": "@x[1]"}]}


def test_without_a_sandbox_the_observation_is_predicted_from_the_stored_output():
    renderer = StepRenderer("print", "name", sandbox=None)
    out = renderer.render(row("df = pd.read_csv('../data/sales.csv')\ndf.x.mean()", "np.float64(1.0)"))
    assert out["solution"][0]["python_code"] == "df = pd.read_csv('sales.csv')\nprint(df.x.mean())"
    assert out["solution"][0]["code_output"] == "1.0"
    assert out["solution"][1] == {"thought": "done", "python_code": None, "code_output": None, "label": "@x[1]"}
    # a step that showed nothing displayed no value: it stays as it is
    kept = renderer.render(row("df = pd.read_csv('../data/sales.csv')\nsetup()", ""))
    assert kept["solution"][0]["python_code"].endswith("\nsetup()")
    assert renderer.counts["code steps whose final expression became print(...)"] == 1


def test_files_that_cannot_be_served_by_bare_name():
    renderer = StepRenderer("keep", "name", sandbox=None)
    with pytest.raises(NotTrainable, match="share a name"):
        renderer.render(row("a = open('a/x.csv')\nb = open('b/x.csv')", "", files=("a/x.csv", "b/x.csv")))
    with pytest.raises(NotTrainable, match="other than by a string literal"):
        renderer.render(row("df = pd.read_csv(DATA)", ""))
    assert StepRenderer("keep", "name", sandbox=None).render(row("open('x.csv')", "", files=("x.csv",)))
