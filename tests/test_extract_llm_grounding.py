"""An adversarial model: near misses, coincidental tokens, empty and repeated answers, data-free
and code-free answers, invented numbers and code in thoughts. Each must be dropped with its reason.

The notebook is executed for real (tests/notebook_factory.py); the model is a fake OpenAI-compatible
server on 127.0.0.1 that returns the drafts below, one task per attack, plus one honest task that
must be kept.
"""

from __future__ import annotations

import json

import pytest

from fake_openai import FakeOpenAI, ok
from notebook_factory import NotebookFactory
from nbqa_builder.deps.step import DepsStep
from nbqa_builder.extract.step import ExtractConfig, ExtractStep
from nbqa_builder.notebooks.validate import ValidateStep
from nbqa_builder.sandbox.step import SandboxStepConfig, VerifyStep
from nbqa_builder.sources.local import describe_repository, read_notebook

ROWS = ["date,region,units,price"] + [
    f"2025-{1 + i % 12:02d}-{1 + i % 28:02d},{['north', 'south', 'east'][i % 3]},{5 + (i * 7) % 40},{2 + (i * 37 % 700) / 100:.2f}"
    for i in range(160)
]
CELLS = [
    "import pandas as pd\ndf = pd.read_csv('sales.csv')",  # 0
    "df.head()",  # 1: a table whose index shows 0..4
    "int(df['units'].sum())",  # 2: an integer
    "df['price'].mean()",  # 3: np.float64(...)
    "df['date'].max()",  # 4: a date
    "df['price'].plot.hist()",  # 5: an Axes repr and a figure
    "import numpy as np\nnp.arange(10).mean()",  # 6: no data
    "# the mean price was computed above",  # 7: no code
    "df['units'].min()",  # 8: 5
    "df['region'].value_counts().idxmax()",  # 9: a string
]


def draft(question, cell, answers, fmt="@x[value]", thought="Compute it.", final="", solution=None):
    return {"question": question, "concepts": ["Summary Statistics"], "difficulty": "easy", "constraints": "",
            "format": fmt, "answers": [{"name": n, "value": v} for n, v in answers],
            "solution": solution or [{"cell": 0, "thought": "Load the sales table."}, {"cell": cell, "thought": thought}],
            "final_thought": final}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    repo = tmp_path_factory.mktemp("adversary")
    (repo / "sales.csv").write_text("\n".join(ROWS) + "\n")
    factory = NotebookFactory()
    try:
        factory.write(repo, "analysis.ipynb", CELLS)
    finally:
        factory.close()
    notebook = read_notebook(describe_repository(repo), "analysis.ipynb", 10**8)
    ValidateStep()([notebook])
    DepsStep()([notebook])
    outputs = json.loads((repo / "analysis.ipynb").read_text())["cells"]
    shown = {i: "".join(o.get("data", {}).get("text/plain", o.get("text", ""))) for i, c in enumerate(outputs)
             for o in c["outputs"][:1]}
    mean = float(shown[3].removeprefix("np.float64(").rstrip(")"))
    total = int(shown[2])
    assert shown[8].strip() in ("5", "np.int64(5)"), shown[8]
    two = f"{mean:.2f}"
    region = shown[9].strip()  # as Python shows it, quotes included
    attacks = {
        "honest": (draft("Mean price?", 3, [("mean_price", two)], "@mean_price[value] rounded to 2 decimal places",
                         final=f"The mean price is {two}."), None),
        "near_miss": (draft("Total units?", 2, [("total", f"{total + 2.8:.1f}")], "@total[value] rounded to 1 decimal place"),
                      "ungrounded_answer"),
        "near_miss_small": (draft("Fewest units?", 8, [("fewest", "5.003")], "@fewest[value] rounded to 3 decimal places"),
                            "ungrounded_answer"),
        "head_index": (draft("First index?", 1, [("first", "0")]), "ungrounded_answer"),
        "dtype_digits": (draft("Bits?", 3, [("bits", "64")]), "ungrounded_answer"),
        "nan": (draft("Missing?", 3, [("missing", "NaN")]), "not_a_value"),
        "year_of_a_date": (draft("Year?", 4, [("year", "2025")]), "ungrounded_answer"),
        "figure_axes": (draft("Axes?", 5, [("axes", "1")]), "ungrounded_answer"),
        "empty": (draft("Nothing?", 3, [("result", "")]), "empty_answer"),
        "same_name_twice": (draft("Twice?", 3, [("mean", two), ("mean", two)], "@mean[value] rounded to 2 decimals"),
                            "duplicate_answer_name"),
        "data_free": (draft("Mean of 0..9?", 6, [("mean", "4.5")], solution=[{"cell": 6, "thought": "Average."}]),
                      "no_data_file"),
        "code_free_answer": (draft("Mean price again?", 7, [("mean_price", two)], "@mean_price[value] rounded to 2 decimals"),
                             "answer_cell_without_code"),
        "invented_number": (draft("Mean price (again)?", 3, [("mean_price", two)], "@mean_price[value] rounded to 2 decimals",
                                  thought="It is 9.87, up from 7.65 last year."), "invented_number_in_thought"),
        "replaced_thought": (draft("Mean price, once more?", 3, [("mean_price", two)], "@mean_price[value] rounded to 2 decimals",
                                   solution=[{"cell": 0, "thought": "Load."}, {"cell": 3, "thought": "First."},
                                             {"cell": 3, "thought": "Second."}]), "repeated_solution_cell"),
        "fenced_code": (draft("Most common region?", 9, [("region", region)], "@region[value]",
                              thought="Count them:\n```python\ndf['region'].value_counts()\n```"), None),
    }
    drafts = [d for d, _ in attacks.values()]
    with FakeOpenAI(lambda body: ok({"tasks": drafts})) as server:
        config = ExtractConfig.model_validate({"backend": "openai", "extract": {"model": "m"}, "base_url": server.base_url,
                                               "max_wait_s": 0.2, "timeout_s": 5})
        step = ExtractStep(config, output=str(tmp_path_factory.mktemp("out")))
        try:
            step([notebook])
        finally:
            step.close()
    by_question = {t.task: t for t in notebook.tasks}
    return notebook, {name: (by_question[d["question"]], reason) for name, (d, reason) in attacks.items()}


ATTACKS = ["honest", "near_miss", "near_miss_small", "head_index", "dtype_digits", "nan", "year_of_a_date", "figure_axes",
           "empty", "same_name_twice", "data_free", "code_free_answer", "invented_number", "replaced_thought", "fenced_code"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_each_attack_ends_with_its_reason(extracted, attack):
    _, tasks = extracted
    task, reason = tasks[attack]
    assert task.drop_reason == reason, (attack, task.label, task.drop_reason)


def test_kept_tasks_carry_no_model_code_and_clean_values(extracted):
    _, tasks = extracted
    fenced, _ = tasks["fenced_code"]
    assert all("```" not in step.thought for step in fenced.solution)
    assert fenced.label == "@region[north]" and fenced.answer == "north"  # quotes a model wrote are not the value
    honest, _ = tasks["honest"]
    assert [a.place for a in honest.answers] == ["result"]


def test_verify_keeps_the_honest_tasks_and_drops_nothing_else_it_is_given(extracted, tmp_path):
    notebook, tasks = extracted
    step = VerifyStep(SandboxStepConfig(sandbox="process", timeout_s=60))
    try:
        step([notebook])
    finally:
        step.close()
    honest, _ = tasks["honest"]
    fenced, _ = tasks["fenced_code"]
    assert honest.verified and fenced.verified
    kept = [t for t in notebook.tasks if t.drop_reason is None]
    assert sorted(t.task for t in kept) == sorted([honest.task, fenced.task])
