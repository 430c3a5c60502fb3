"""The two tiers (NBQA.md, "The two tiers"): what stops a notebook re-running offline decides the
tier its tasks go to, never whether it is kept.

Small repositories with executed notebooks, one for each route, run end to end (`run` with the
heuristic extractor, the notebooks re-run in bubblewrap), then read back from the shards:
- every read a local file, re-run to its end: `interactive`;
- a URL to a host that is not fetched: `sft`, `network_read` naming the call and the URL;
- a missing file: `sft`, the file named, the reference program not checked;
- a removed API, a module that is not installed: `sft`, the reference program checked on the files;
- a re-run that fails: `sft`, with the cell and its error;
- but a task whose own solution re-runs with its files alone (the removed API or the failing cell
  is not in its slice) is judged as a task of a notebook that re-ran: `interactive`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from tests.notebook_factory import NotebookFactory

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (apt-get install bubblewrap); .ci/run installs it")

def sales(shift: int) -> str:
    """Each repository's own sales (amounts shifted apart): the same task on the same file with
    the same label would be one row (publish/writer.py), so each repository asks its own."""
    return "region,amount,units\n" + "".join(f"{region},{(i * 7) % 23 + 0.5 + shift},{i % 5 + 1}\n"
                                              for i, region in zip(range(240), ["north", "south", "east"] * 80))


def load(frame: str) -> str:
    return f"import pandas as pd\n{frame} = pd.read_csv('data/sales.csv')"


def mean(frame: str) -> str:
    return f"{frame}['amount'].mean()"


# repository -> (cells run here, the code as its author saved it). Each names its table apart, so
# that near-duplicate detection keeps them all.
ROUTES = {
    "ok": ([load("sales"), mean("sales"), "sales['units'].max()"], {}),
    "url": (["import pandas as pd\nrates = pd.read_csv('data/sales.csv')", "rates['amount'].sum()", load("shop"),
             mean("shop")],
            {"rates = pd.read_csv('data/sales.csv')": "rates = pd.read_csv('https://example.org/fx/rates.csv')"}),
    "missing": ([load("orders") + "\nreturns = pd.read_csv('data/returns.csv')", "returns['amount'].sum()",
                 mean("orders")], {}),
    "removed": ([load("q1"), "both = pd.concat([q1, q1])\nlen(both)", mean("q1")],
                {"both = pd.concat([q1, q1])": "both = q1.append(q1)"}),
    "module": ([load("store") + "\nimport math", mean("store")], {"\nimport math": "\nimport pandas_profiling_of_old"}),
    "rerun": ([load("books") + "\nrate = 2", "(books['units'] * rate).sum()", mean("books")],
              {load("books") + "\nrate = 2": load("books")}),  # the cell that set `rate` was edited after it ran
    # stored without outputs (nbstripout): the re-run gives them outputs, or they are dropped
    "stripped": ([load("stock"), "stock['units'].sum()"], {}),
    "stripped_broken": ([load("lab") + "\nk = 3", "(lab['units'] * k).sum()"], {load("lab") + "\nk = 3": load("lab")}),
    # ... and one whose re-run fails after a cell that shows a value: that cell's output is real
    "stripped_partly": ([load("tally"), mean("tally"), "k = 3\n(tally['units'] * k).sum()"],
                        {"k = 3\n(tally['units'] * k).sum()": "(tally['units'] * k).sum()"}),
    # ... and one the rules know cannot re-run to its end (a URL further down): re-run all the same
    # for the outputs of the cells before it
    "stripped_url": ([load("pantry"), mean("pantry"), "fx = pd.read_csv('data/sales.csv')\nfx['amount'].sum()"],
                     {"fx = pd.read_csv('data/sales.csv')": "fx = pd.read_csv('https://example.org/fx.csv')"}),
}
STRIPPED = {"stripped", "stripped_broken", "stripped_partly", "stripped_url"}


@pytest.fixture(scope="module")
def run_output(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiers")
    repos = root / "repos"
    factory = NotebookFactory()
    try:
        for shift, (name, (cells, saved_as)) in enumerate(ROUTES.items()):
            repo = repos / f"tiers__{name}"
            (repo / "data").mkdir(parents=True)
            (repo / "data" / "sales.csv").write_text(sales(shift))
            (repo / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge.\n")
            if name == "missing":
                (repo / "data" / "returns.csv").write_text(sales(shift))
            written = factory.write(repo, "analysis.ipynb", cells, saved_as=saved_as)
            if name in STRIPPED:
                notebook = json.loads(written.read_text())
                for cell in notebook["cells"]:
                    cell["outputs"] = []
                written.write_text(json.dumps(notebook))
            if name == "missing":
                (repo / "data" / "returns.csv").unlink()  # left out of the repository, as large files are
    finally:
        factory.close()
    recipe = yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text())
    recipe["source"] = {"kind": "local", "path": str(repos)}
    recipe["output"] = str(root / "out")
    for step in recipe["steps"]:
        for name, settings in step.items():
            if name in ("execute", "verify"):
                settings["sandbox"] = "bwrap"
            if name == "filter" and "decontaminate" in settings:
                del settings["decontaminate"]
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "run", str(path), "--no-progress"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "out"


def rows_by_repo(output: Path) -> dict[str, list[dict]]:
    from datasets import load_dataset

    rows: dict[str, list[dict]] = {}
    for config in ("interactive", "sft"):
        shards = (output / "dataset" / "data" / config).glob("*.parquet")
        if not sum(pq.read_metadata(shard).num_rows for shard in shards):
            continue  # load_dataset refuses a config without rows
        for row in load_dataset(str(output / "dataset"), config, split="train"):
            rows.setdefault(row["github_repo"].split("/")[1], []).append({**row, "config": config})
    return rows


def test_each_route_reaches_its_tier_with_its_cause_named(run_output: Path):
    rows = rows_by_repo(run_output)
    assert set(rows) == set(ROUTES) - {"stripped_broken"}, "every notebook is kept and gives tasks"
    for repo in ("ok", "stripped"):
        assert {row["config"] for row in rows[repo]} == {"interactive"}
        assert all(row["not_interactive"] is None and row["reference_checked"] for row in rows[repo])
    # the stripped notebook's tasks are grounded in what its re-run showed
    assert "@sum_units[" in " ".join(row["label"] for row in rows["stripped"])
    # where the re-run failed, the cells it ran before the failure give their outputs; the notebook
    # is sft with the failure named, and the task whose slice re-runs is interactive
    [partly] = rows["stripped_partly"]
    assert partly["label"].startswith("@mean_amount[") and partly["config"] == "interactive" and partly["verified"]
    [before_url] = rows["stripped_url"]  # the URL's cell never ran: its own task has no output to come from
    assert before_url["label"].startswith("@mean_amount[") and before_url["config"] == "interactive"
    rejected = [json.loads(line) for line in (run_output / "rejects" / "not_interactive.jsonl").read_text().splitlines()]
    assert any("stripped_partly" in r["repo"] and r["reason"].startswith("rerun_failed: cell 2 NameError") for r in rejected)
    expected = {
        "url": "network_read: pd.read_csv(https://example.org/fx/rates.csv) in cell 0",
        "missing": "missing_file: data/returns.csv in cell 0",
        "removed": "removed_api: DataFrame.append (cell 1, line 1)",
        "module": "missing_module: pandas_profiling_of_old (cell 0, line 3)",
        "rerun": "rerun_failed: cell 1 NameError name 'rate' is not defined",
    }
    for repo, reason in expected.items():
        sft = [row for row in rows[repo] if row["config"] == "sft"]
        assert {row["not_interactive"] for row in sft} == ({reason} if repo != "rerun" else set()), repo
        assert not any(row["executable"] or row["deps_complete"] and repo in ("url", "missing") for row in sft)
    for repo in ("url", "missing", "module"):  # every task's solution needs what stops the re-run
        assert {row["config"] for row in rows[repo]} == {"sft"}, repo


def test_a_task_whose_solution_avoids_what_stops_the_rerun_is_interactive(run_output: Path):
    # NbQA's interactive tier is about the task: its files present, its solution re-run in the
    # sandbox, verified and deterministic. The removed API (`append`) and the cell that lost its
    # variable are not in the `mean` task's slice, which re-runs as it is
    rows = rows_by_repo(run_output)
    for repo in ("removed", "rerun"):
        interactive = [row for row in rows[repo] if row["config"] == "interactive"]
        assert [row["label"].split("[")[0] for row in interactive] == ["@mean_amount"], repo
        assert all(row["not_interactive"] is None and row["executable"] and row["verified"] and row["deterministic"]
                   and row["reference_checked"] for row in interactive)
    # the task whose solution calls the removed API stays sft, with the notebook's reason
    [appended] = [row for row in rows["removed"] if row["config"] == "sft"]
    assert appended["label"] == "@row_count[480]" and appended["not_interactive"].startswith("removed_api: DataFrame.append")
    assert appended["executable"] is False and appended["reference_checked"]
    stats = json.loads((run_output / "stats.json").read_text())
    assert stats["metrics"]["verify"]["slice_reran"] == 4  # removed, rerun, stripped_partly, stripped_url


def test_sft_tasks_check_their_reference_where_the_files_are_present(run_output: Path):
    rows = rows_by_repo(run_output)
    for repo in ("removed", "module", "rerun"):  # the files are there: the reference program ran
        assert all(row["reference_checked"] and row["reference_agrees"] for row in rows[repo]), repo
        assert "@mean_amount[" in " ".join(row["label"] for row in rows[repo])
    for repo in ("url", "missing"):
        absent = [row for row in rows[repo] if not row["deps_complete"]]
        assert absent, f"{repo}: a task on the absent file, grounded in the stored output"
        assert not any(row["reference_checked"] for row in absent)
        present = [row for row in rows[repo] if row["deps_complete"]]
        assert all(row["reference_checked"] for row in present)


def test_stats_and_rejects_say_which_notebooks_cannot_rerun_and_why(run_output: Path):
    stats = json.loads((run_output / "stats.json").read_text())
    assert stats["notebooks"] == {**stats["notebooks"], "input": 10, "kept": 9, "dropped": 1}
    [dropped] = [json.loads(line) for line in (run_output / "rejects" / "notebooks.jsonl").read_text().splitlines()]
    assert (dropped["repo"], dropped["reason"]) == ("tiers/stripped_broken", "no_outputs")
    assert dropped["detail"].endswith("and its re-run failed (rerun_failed: cell 1 NameError name 'k' is not defined)")
    tiers = stats["notebooks"]["tiers"]
    assert tiers["reran_to_end"] == 2 and tiers["sft_only"] == 7
    assert tiers["sft_only_by_cause"] == {"network_read": 2, "missing_file": 1, "removed_api": 1,
                                          "missing_module": 1, "rerun_failed": 2}
    hundred = stats["tasks"]["per_100_input_notebooks"]
    assert hundred["tasks"] == round(100 * stats["tasks"]["written"] / 10, 1)
    assert hundred["sft"] + hundred["interactive"] == pytest.approx(hundred["tasks"], abs=0.2)
    routed = [json.loads(line) for line in (run_output / "rejects" / "not_interactive.jsonl").read_text().splitlines()]
    assert {r["repo"].split("/")[1]: r["reason"].split(":")[0] for r in routed} == {
        "url": "network_read", "missing": "missing_file", "removed": "removed_api", "module": "missing_module",
        "rerun": "rerun_failed", "stripped_partly": "rerun_failed", "stripped_url": "network_read"}


def test_a_recipe_for_the_interactive_tier_alone_keeps_only_what_reruns(run_output: Path, tmp_path: Path):
    recipe = yaml.safe_load((run_output.parent / "recipe.yaml").read_text())
    recipe["tiers"] = ["interactive"]
    recipe["output"] = str(tmp_path / "out")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "run", str(path), "--no-progress"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = rows_by_repo(tmp_path / "out")
    assert set(rows) == {"ok", "stripped"}
    rejects = {json.loads(line)["repo"].split("/")[1]: json.loads(line)
               for line in (tmp_path / "out" / "rejects" / "notebooks.jsonl").read_text().splitlines()}
    assert {repo: r["reason"] for repo, r in rejects.items()} == {
        "url": "network_read", "missing": "missing_file", "removed": "removed_api", "module": "missing_module",
        "rerun": "rerun_failed", "stripped_broken": "no_outputs", "stripped_partly": "no_outputs",
        "stripped_url": "network_read"}
    assert rejects["rerun"]["detail"] == "cell 1 NameError name 'rate' is not defined"
