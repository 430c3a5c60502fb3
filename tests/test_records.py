"""The Arrow schemas and the JSON Schemas in schemas/ say the same thing; rows fit both."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pytest

from nbqa_builder.records import JSON_SCHEMAS, TASK_SCHEMA, Answer, Notebook, SolutionStep, Task, TaskFile, json_schema, task_from_row, tasks_to_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(JSON_SCHEMAS))
def test_schema_files_match_the_arrow_schemas(name):
    schema, title = JSON_SCHEMAS[name]
    on_disk = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    assert on_disk == json_schema(schema, title), f"regenerate schemas/{name}.schema.json"


def sample_task() -> Task:
    task = Task(task="q?", file_names=["a.csv"], concepts=["Summary Statistics"], difficulty="easy", constraints="c",
                format="@m[value]", answer="1.0", label="@m[1.0]",
                solution=[SolutionStep("load", "x = 1", ""), SolutionStep("answer", label="@m[1.0]")],
                github_repo="o/r", ipynb_name="n.ipynb", answers=[Answer("m", "1.0")],
                data_files=[TaskFile("a.csv", "ab" * 32, 10)], source="s", cells=[0])
    task.assign_id()
    return task


def test_task_rows_fit_both_schemas_and_round_trip():
    table = tasks_to_table([sample_task()])
    assert table.schema == TASK_SCHEMA
    row = table.to_pylist()[0]
    jsonschema.validate(row, json_schema(TASK_SCHEMA, "t"))
    assert task_from_row(row) == sample_task()


def test_a_row_of_the_wrong_type_is_refused():
    row = sample_task().to_row()
    row["cells"] = ["not a number"]
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        pa.Table.from_pylist([row], schema=TASK_SCHEMA)


def full_task() -> Task:
    """A task with every field set to something other than its default, lists of several items."""
    task = Task(task="What is the mean price?", file_names=["a.csv", "b/c.tsv"], concepts=["Summary Statistics", "Correlation"],
                difficulty="hard", constraints="use pandas", format="@mean[value]", answer="1.5; 2", label="@mean[1.5] @n[2]",
                solution=[SolutionStep("load", "import pandas as pd", "ok\n", None),
                          SolutionStep("compute", "df.price.mean()", "1.5", "step"),
                          SolutionStep("answer", label="@mean[1.5] @n[2]")],
                github_repo="o/r", ipynb_name="nb/n.ipynb", answers=[Answer("mean", "1.5", "result[mean]"), Answer("n", "2", "line 0")],
                data_files=[TaskFile("a.csv", "ab" * 32, 10), TaskFile("b/c.tsv", "cd" * 32, 0)], deps_complete=True,
                executable=True, deterministic=False, verified=True, is_visualization=True, category="Correlation",
                source="f" * 64, commit="0" * 40, license="MIT", url="https://example.org/nb.ipynb",
                extractor_backend="llm", extractor_model="m", prompt_version="v3", builder_version="9.9",
                cells=[0, 3, 5], question_kind="mean", reference_code="print('@mean[1.5] @n[2]')",
                reference_agrees=False, solver_agrees=False, solver_answer="@mean[1.4]",
                not_interactive="missing_file: b/c.tsv in cell 3", reference_checked=True, chart_image="iVBORw0KGgo=",
                drop_reason="kept out")
    task.assign_id()
    defaults = Task(task="", file_names=[], concepts=[], difficulty="", constraints="", format="", answer="", label="",
                    solution=[], github_repo="", ipynb_name="")
    assert all(getattr(task, f.name) != getattr(defaults, f.name) for f in dataclasses.fields(Task))
    return task


def test_to_row_is_asdict_without_the_drop_reason():
    task = full_task()
    expected = dataclasses.asdict(task)
    del expected["drop_reason"]
    row = task.to_row()
    assert row == expected and list(row) == list(expected)  # same keys in the same order
    for step, expected_step in zip(row["solution"], expected["solution"]):
        assert list(step) == list(expected_step)
    assert tasks_to_table([task]).to_pylist() == [expected]
    # like asdict, no list or dict of the row is the task's own: cutting a row's outputs leaves the task alone
    row["solution"][0]["code_output"] = "cut"
    for name in ("file_names", "concepts", "cells", "solution", "answers", "data_files"):
        row[name].append(None)
    assert task == full_task()


def test_compact_outputs_are_those_nbformat_reads_gives():
    import nbformat

    from nbqa_builder.notebooks.validate import ValidateStep

    document = {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{
            "cell_type": "code", "id": "a", "execution_count": 1, "metadata": {}, "source": ["x = 1\n", "x"],
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["one\n", "two\n"]},
                {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                 "data": {"text/plain": ["1"], "text/html": ["<b>\n", "1</b>"], "application/json": ["a", "b"],
                          "application/vnd.custom+json": {"k": ["v"]}, "image/png": "iVBORw0KGgo="}},
                {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["line 1", "line 2"]},
            ],
        }],
    }
    raw = json.dumps(document).encode()
    notebook = ValidateStep()([Notebook(notebook_id="n", repo="o/r", path="n.ipynb", raw=raw)])[0]
    assert notebook.kept
    notebook.compact()
    expected = json.loads(json.dumps(nbformat.reads(raw.decode(), as_version=4).cells[0].outputs))
    assert notebook.cells[0].outputs == expected
    assert notebook.cells[0].outputs[1]["data"]["application/json"] == ["a", "b"]  # JSON data, not lines
