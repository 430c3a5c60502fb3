"""The execute and verify steps, and the comparison of stored with re-run outputs."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil

import pytest

from nbqa_builder.recipe import RecipeError, parse_recipe
from nbqa_builder.records import Cell, DataRef, Notebook
from nbqa_builder.sandbox.compare import outputs_match
from nbqa_builder.sandbox.step import ExecuteStep, SandboxStepConfig

BACKEND = "bwrap" if shutil.which("bwrap") else "process"
CSV = "region,amount\nnorth,1.5\nsouth,2.25\nnorth,3.0\n"


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(text, html=None):
    data = {"text/plain": text}
    if html:
        data["text/html"] = html
    return {"output_type": "execute_result", "execution_count": 1, "data": data, "metadata": {}}


def png(width, height, color="red"):
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    figure.patch.set_facecolor(color)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return {"output_type": "display_data", "data": {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": "<Figure>"}, "metadata": {}}


# ---------------------------------------------------------------------------------------------
# comparison


def test_noise_does_not_count_as_a_difference():
    stored = [stream("\x1b[32mloaded\x1b[0m at 2021-03-04 10:11:12 from /tmp/tmpab12/x.csv\n<Model at 0x7f3d316fb890>\n0.30000000000000004\n")]
    rerun = [stream("loaded at 2025-11-26 22:31:00 from /tmp/tmpzz99/x.csv\n<Model at 0x55aa00ccee11>\n0.3\n"), {"output_type": "stream", "name": "stderr", "text": "FutureWarning: ...\n"}]
    assert outputs_match(stored, rerun)
    assert not outputs_match(stored, [stream("loaded at 2025-11-26 22:31:00 from /tmp/x.csv\n<Model at 0x1234567>\n0.31\n")])


def test_numpy_2_scalar_reprs_equal_the_plain_numbers_older_notebooks_show():
    assert outputs_match([result("5")], [result("np.int64(5)")])
    assert outputs_match([result("(1.5, 'a')")], [result("(np.float64(1.5), np.str_('a'))")])
    assert not outputs_match([result("5")], [result("np.int64(6)")])


def test_dataframes_compare_by_their_table():
    import pandas as pd

    frame = pd.DataFrame({"region": ["north", "south"], "amount": [4.5, 2.25]})
    stored = [result(repr(frame), frame.to_html())]
    assert outputs_match(stored, [result(repr(frame), frame.to_html())])
    assert outputs_match(stored, [result(repr(frame))])  # an older notebook without HTML still compares
    changed = frame.assign(amount=[4.5, 2.5])
    assert not outputs_match(stored, [result(repr(changed), changed.to_html())])


def test_images_compare_by_kind_and_size_not_bytes():
    assert outputs_match([png(300, 200, "red")], [png(300, 200, "blue")])
    assert not outputs_match([png(300, 200)], [png(400, 200)])
    assert not outputs_match([png(300, 200)], [])


def test_errors_compare_by_name_and_message():
    error = {"output_type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": ["\x1b[31mline 1 in /home/a\x1b[0m"]}
    assert outputs_match([error], [{**error, "traceback": ["other"]}])
    assert not outputs_match([error], [{**error, "ename": "ValueError"}])


# ---------------------------------------------------------------------------------------------
# steps


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales.csv").write_text(CSV)
    return tmp_path


def make_notebook(repo, cells, refs=("../data/sales.csv",)):
    data_refs = []
    for written in refs:
        target = repo / "data" / "sales.csv"
        found = target.exists() and written.endswith("sales.csv")
        data_refs.append(
            DataRef(
                as_written=written, cell=0, call="pd.read_csv", status="found" if found else "missing",
                resolved="data/sales.csv" if found else None, sha256=hashlib.sha256(target.read_bytes()).hexdigest() if found else None,
            )
        )
    return Notebook(notebook_id="n1", repo="me/sales", path="notebooks/analysis.ipynb", repo_dir=str(repo), cells=cells, data_refs=data_refs)


ANALYSIS = [
    Cell("markdown", "# Sales"),
    Cell("code", "import pandas as pd\nsales = pd.read_csv('../data/sales.csv')", 1, []),
    Cell("code", "total = sales['amount'].sum()\nprint(f'total {total}')", 2, [stream("total 6.75\n")]),
    Cell("code", "sales.groupby('region')['amount'].sum()", 3, [result("region\nnorth    4.50\nsouth    2.25\nName: amount, dtype: float64")]),
]


@pytest.fixture(scope="module")
def execute_step():
    step = ExecuteStep(SandboxStepConfig(sandbox=BACKEND, timeout_s=5, total_timeout_s=30, memory_mb=1024))
    yield step
    step.close()


def test_a_reproducible_notebook_is_executable_matching_and_deterministic(repo, execute_step):
    notebook = make_notebook(repo, ANALYSIS)
    execute_step([notebook])
    assert notebook.kept
    assert notebook.checks["executable"] is True
    assert notebook.checks["outputs_match"] is True
    assert notebook.checks["deterministic"] is True
    cells = notebook.checks["execution"]["cells"]
    assert [c["cell"] for c in cells] == [1, 2, 3] and {c["status"] for c in cells} == {"ok"}
    assert cells[1]["outputs"][0]["text"] == "total 6.75\n"


def test_random_output_is_not_deterministic(repo, execute_step):
    notebook = make_notebook(repo, [Cell("code", "import numpy as np\nprint(np.random.rand())", 1, [stream("0.123\n")])], refs=())
    execute_step([notebook])
    assert notebook.checks["executable"] is True
    assert notebook.checks["deterministic"] is False
    assert notebook.checks["outputs_match"] is False


def test_a_notebook_whose_data_is_missing_fails_but_is_kept(repo, execute_step):
    (repo / "data" / "sales.csv").unlink()
    notebook = make_notebook(repo, ANALYSIS)
    execute_step([notebook])
    assert notebook.kept
    assert notebook.checks["executable"] is False
    assert notebook.checks["execution"]["status"] == "error"
    statuses = [c["status"] for c in notebook.checks["execution"]["cells"]]
    assert statuses == ["error", "not_run", "not_run"]
    assert notebook.checks["execution"]["cells"][0]["outputs"][-1]["ename"] == "FileNotFoundError"


def test_recipes_name_the_steps_and_reject_unknown_settings():
    recipe = parse_recipe("name: t\nsource: {kind: local, path: x}\nsteps:\n  - validate: {}\n  - deps: {}\n  - redact: {}\n  - execute: {sandbox: process, timeout_s: 5}\n  - extract: {}\n  - verify: {sandbox: process}\noutput: out\n")
    assert [name for name, _ in recipe.step_configs()] == ["validate", "deps", "redact", "execute", "extract", "verify"]
    with pytest.raises(RecipeError, match=r"steps\[3\]\.execute\.timout_s: unknown key"):
        parse_recipe("name: t\nsource: {kind: local, path: x}\nsteps:\n  - validate: {}\n  - deps: {}\n  - redact: {}\n  - execute: {timout_s: 5}\noutput: out\n")


def test_a_recipe_asking_for_bwrap_without_bubblewrap_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RecipeError, match="apt-get install bubblewrap"):
        parse_recipe("name: t\nsource: {kind: local, path: x}\nsteps:\n  - validate: {}\n  - deps: {}\n  - redact: {}\n  - execute: {sandbox: bwrap}\noutput: out\n")


@pytest.mark.parametrize(
    "code",
    [
        "print(hash('nbqa'))",  # the hash seed
        "print(list({f'column_{i}' for i in range(20)}))",  # set order follows the hash seed
        "print(id(object()))",  # the memory layout
    ],
)
def test_what_must_not_matter_makes_a_notebook_not_deterministic(repo, execute_step, code):
    notebook = make_notebook(repo, [Cell("code", code, 1, [])], refs=())
    execute_step([notebook])
    assert notebook.checks["executable"] is True
    assert notebook.checks["deterministic"] is False


# a notebook that kills what runs it: with bwrap it can reach only its own job; without, its worker
KILLERS = {
    "bwrap": ("!pkill -9 -f python", "died"),
    "process": ("import os, signal, time\nstat = open(f'/proc/{os.getppid()}/stat').read()\n"
                "os.kill(int(stat.rsplit(')', 1)[1].split()[1]), signal.SIGKILL)\ntime.sleep(2)", "sandbox_killed"),
}


@pytest.mark.parametrize("backend", sorted(KILLERS))
def test_a_notebook_that_kills_its_sandbox_gets_a_verdict_and_the_run_goes_on(repo, backend):
    if backend == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    code, status = KILLERS[backend]
    killer = make_notebook(repo, [Cell("code", code, 1, [])], refs=())
    after = make_notebook(repo, ANALYSIS)
    step = ExecuteStep(SandboxStepConfig(sandbox=backend, timeout_s=5, total_timeout_s=30, memory_mb=1024))
    try:
        step([killer, after])
    finally:
        step.close()
    assert killer.checks["execution"]["status"] == status
    assert killer.checks["executable"] is False and killer.checks["deterministic"] is False
    assert after.checks["executable"] is True and after.checks["deterministic"] is True
