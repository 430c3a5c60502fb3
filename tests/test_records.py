"""The Arrow schemas and the JSON Schemas in schemas/ say the same thing; rows fit both."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pytest

from nbqa_builder.records import JSON_SCHEMAS, TASK_SCHEMA, Answer, SolutionStep, Task, TaskFile, json_schema, task_from_row, tasks_to_table

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
