"""Reading a build back: load_dataset for every config the card lists (offline), load_tasks,
materialize, and a materialised task's solution running in the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import nbqa_builder
from nbqa_builder.publish.load import DatasetReadError, working_layout
from nbqa_builder.publish.rows import MAX_TASK_ROW_BYTES, fit_task_row, row_bytes
from nbqa_builder.records import FILE_SCHEMA, TASK_SCHEMA, TaskFile
from tests.dataset_fixtures import make_task

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "demo.yaml"

# A config without rows is read streaming: `datasets` refuses a split without rows otherwise
# (`Instruction "train" corresponds to no data!`, datasets 5.2), as the card says.
LOAD_EVERY_CONFIG = """
import json, sys
from datasets import load_dataset
folder, rows = sys.argv[1], json.loads(sys.argv[2])
out = {}
for config, expected in rows.items():
    if expected:
        ds = load_dataset(folder, config, split="train")
        out[config] = {"rows": ds.num_rows, "features": ds.features.to_dict()}
    else:
        ds = load_dataset(folder, config, split="train", streaming=True)
        out[config] = {"rows": sum(1 for _ in ds), "features": ds.features.to_dict()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("load")
    recipe = yaml.safe_load(DEMO.read_text())
    recipe["source"]["path"] = str(ROOT / "examples" / "repos")
    recipe["output"] = str(tmp_path / "out")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "run", str(tmp_path / "recipe.yaml"), "--no-progress"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    return tmp_path / "out" / "dataset"


def card_configs(dataset: Path) -> dict[str, dict]:
    header = (dataset / "README.md").read_text().split("---")[1]
    return {entry["config_name"]: entry for entry in yaml.safe_load(header)["configs"]}


def expected_rows(dataset: Path) -> dict[str, int]:
    stats = json.loads((dataset / "stats.json").read_text())
    by_config = stats["tasks"]["by_config"]
    return {**by_config, "all": by_config["interactive"] + by_config["sft"], "files": stats["files"]["count"]}


def load_every_config(dataset: Path, tmp_path: Path) -> dict[str, dict]:
    rows = expected_rows(dataset)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-c", LOAD_EVERY_CONFIG, str(dataset),
                             json.dumps({config: rows[config] for config in card_configs(dataset)})],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_load_dataset_reads_every_config_of_the_card_offline(dataset, tmp_path):
    from datasets import Features

    configs = card_configs(dataset)
    # every config is listed, the demo's empty `visualization` too
    assert list(configs) == ["all", "interactive", "sft", "visualization", "files"]
    assert configs["all"].get("default") is True
    loaded = load_every_config(dataset, tmp_path)
    rows = expected_rows(dataset)
    assert rows["visualization"] == 0 and rows["sft"] > 0 and rows["interactive"] > 0
    for config, got in loaded.items():
        assert got["rows"] == rows[config], config
        schema = FILE_SCHEMA if config == "files" else TASK_SCHEMA
        assert Features.from_dict(got["features"]) == Features.from_arrow_schema(schema), config


def test_a_rebuilt_folder_is_read_anew_not_from_the_cache_of_the_last_build(tmp_path):
    """`datasets` caches a local folder by its file names: a shard rewritten under the same name
    would be read from the cache of the previous build. Shard names carry their content's hash."""
    import pyarrow as pa
    from datasets import load_dataset

    from nbqa_builder.publish.card import configs_yaml
    from nbqa_builder.publish.shards import ShardWriter

    schema = pa.schema([("x", pa.int64())])
    folder = tmp_path / "dataset"

    def build(values: list[int]) -> list[int]:
        shards = folder / "data" / "sft"
        for old in shards.glob("*.parquet") if shards.is_dir() else []:
            old.unlink()
        writer = ShardWriter(shards, schema)
        for x in values:
            writer.write({"x": x})
        (folder / "README.md").write_text(f"---\nconfigs:\n{configs_yaml({'sft': writer.close()})}\n---\n")
        return load_dataset(str(folder), "all", split="train")["x"]

    assert build([1, 2, 3]) == [1, 2, 3]
    assert build([4, 5]) == [4, 5]


def test_card_tells_people_what_they_get(dataset):
    card = (dataset / "README.md").read_text()
    assert (dataset / "funnel.png").read_bytes().startswith(b"\x89PNG") and "](funnel.png)" in card
    for heading in ("## How it was built", "### Tasks by concept", "### Tasks by difficulty", "### Source licenses",
                    "## Recipe", "## Limitations", "## Citation", "## Loading a task and its files"):
        assert heading in card, heading
    stats = json.loads((dataset / "stats.json").read_text())
    for step in stats["steps"]:  # the funnel, step by step, as the run counted it
        assert f"| {step['step']} | {step['in']} | {step['dropped']} | {step['out']} |" in card, step["step"]
    assert "2509.09245" in card
    assert "backend: heuristic" in card  # the recipe is embedded


def test_materialized_task_runs_in_the_sandbox_and_prints_its_label(dataset, tmp_path):
    from nbqa_builder.sandbox import Limits, WarmWorker
    from nbqa_builder.extract.grounding import answers_shown_again

    tasks = nbqa_builder.load_tasks(dataset, "interactive")
    task = next(t for t in tasks if any(f.path.startswith("../") for f in t.data_files))
    cwd = nbqa_builder.materialize(task, tmp_path / "work")
    assert cwd == tmp_path / "work" / "notebooks"
    assert (tmp_path / "work" / "data" / "sales.csv").is_file()  # ../data/sales.csv from notebooks/
    files = {p.relative_to(tmp_path / "work").as_posix(): str(p) for p in (tmp_path / "work").rglob("*") if p.is_file()}
    code = [step.python_code for step in task.solution if step.python_code]
    with WarmWorker("process", Limits(timeout_s=60)) as worker:
        run = worker.run_notebook(code, files, cwd.relative_to(tmp_path / "work").as_posix())
    assert run.executable, run.status
    assert task.answers and answers_shown_again(task.answers, task.format, run.cells[-1].outputs)


def test_load_tasks_all_is_interactive_plus_sft_and_files_is_not_tasks(dataset):
    stats = json.loads((dataset / "stats.json").read_text())["tasks"]["by_config"]
    assert len(nbqa_builder.load_tasks(dataset)) == stats["interactive"] + stats["sft"]
    with pytest.raises(DatasetReadError, match="holds data files"):
        nbqa_builder.load_tasks(dataset, "files")
    with pytest.raises(DatasetReadError, match="configs found"):
        nbqa_builder.load_tasks(dataset, "nonsense")


@pytest.mark.parametrize("notebook, paths, cwd, places", [
    ("notebooks/a.ipynb", ["../data/x.csv"], "notebooks", ["data/x.csv"]),
    ("a.ipynb", ["../../x.csv", "y.csv"], "_up/_up", ["x.csv", "_up/_up/y.csv"]),
    ("deep/er/a.ipynb", ["..\\x.csv", "./sub/../z.csv"], "deep/er", ["deep/x.csv", "deep/er/z.csv"]),
])
def test_working_layout_keeps_every_file_inside(notebook, paths, cwd, places):
    task = make_task("t", [("x", "1")])
    task.ipynb_name, task.data_files = notebook, [TaskFile(p, "0" * 64, 1) for p in paths]
    got_cwd, got_places = working_layout(task)
    assert got_cwd.as_posix() == cwd and [p.as_posix() for p in got_places.values()] == places


def test_an_absolute_data_path_is_a_clear_error():
    task = make_task("t", [("x", "1")])
    task.data_files = [TaskFile("/home/me/x.csv", "0" * 64, 1)]
    with pytest.raises(DatasetReadError, match="absolute path"):
        working_layout(task)


def test_import_nbqa_builder_stays_light():
    code = "import sys, nbqa_builder; print(sorted(m for m in ('pyarrow', 'datasets', 'huggingface_hub') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout.strip() == "[]"


def test_row_guard_cuts_long_outputs_and_images_and_refuses_what_cannot_fit():
    row = make_task("t", [("x", "1")]).to_row()
    row["solution"] = [{"thought": "t", "python_code": "df.describe()", "label": None,
                        "code_output": "row  value\n" + "17   0.5\n" * 200_000},
                       {"thought": "t", "python_code": "plt.show()", "label": None,
                        "code_output": "<img src='data:image/png;base64," + "iVBORw0KGgo" * 5000 + "'>"}]
    fitted, changed = fit_task_row(row)
    assert changed == 2 and row_bytes(fitted) <= MAX_TASK_ROW_BYTES
    assert "...[truncated" in fitted["solution"][0]["code_output"] and "iVBORw0KGgo" not in fitted["solution"][1]["code_output"]
    huge_code = make_task("t", [("x", "1")]).to_row()
    huge_code["solution"] = [{"thought": "t", "python_code": "x = 1\n" * 100_000, "code_output": "", "label": None}]
    assert fit_task_row(huge_code)[0] is None
