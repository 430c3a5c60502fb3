"""The verify step: what earns `verified`, and what a wrong task is dropped for.

Each task is written by hand here, as an extractor (or an adversarial model) could have written
it, over a notebook whose outputs are real; verify must judge it by the same rule extraction uses,
then re-run it in the sandbox.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest

from nbqa_builder.records import Answer, Cell, DataRef, Notebook, Task, TaskFile
from nbqa_builder.sandbox.step import SandboxStepConfig, VerifyStep

BACKEND = "bwrap" if shutil.which("bwrap") else "process"
CSV = "region,amount\nnorth,1.5\nsouth,2.25\nnorth,3.0\n"


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(text):
    return {"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": text}, "metadata": {}}


CELLS = [
    Cell("markdown", "# Sales"),
    Cell("code", "import pandas as pd\nsales = pd.read_csv('../data/sales.csv')", 1, []),
    Cell("code", "total = sales['amount'].sum()\nprint(f'total {total}')", 2, [stream("total 6.75\n")]),
    Cell("code", "sales.groupby('region')['amount'].sum()", 3,
         [result("region\nnorth    4.50\nsouth    2.25\nName: amount, dtype: float64")]),
    Cell("code", "sales['amount'].mean()", 4, [result("np.float64(2.25)")]),
    Cell("code", "# the total, computed above", 5, []),
    Cell("code", "import numpy as np\nnp.arange(10).mean()", 6, [result("np.float64(4.5)")]),
]


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales.csv").write_text(CSV)
    return tmp_path


def sha(repo) -> str:
    return hashlib.sha256((repo / "data" / "sales.csv").read_bytes()).hexdigest()


def notebook(repo, cells=CELLS) -> Notebook:
    ref = DataRef("../data/sales.csv", 1, "pd.read_csv", "found", "data/sales.csv", sha(repo), len(CSV), sites=[(1, 2, 8)])
    return Notebook(notebook_id="n1", repo="me/sales", path="notebooks/analysis.ipynb", repo_dir=str(repo),
                    cells=list(cells), data_refs=[ref])


def task(repo, answers, cells=(1, 2), fmt="@total[value]", reference=None, label=None) -> Task:
    items = [Answer(name, value) for name, value in answers]
    return Task(
        task="What is the total amount?", file_names=["sales.csv"], concepts=[], difficulty="easy", constraints="",
        format=fmt, answer="; ".join(v for _, v in answers),
        label=label if label is not None else " ".join(f"@{n}[{v}]" for n, v in answers),
        solution=[], github_repo="me/sales", ipynb_name="notebooks/analysis.ipynb", answers=items,
        data_files=[TaskFile("../data/sales.csv", sha(repo), len(CSV))], cells=list(cells), reference_code=reference,
    )


@pytest.fixture(scope="module")
def verify_step():
    step = VerifyStep(SandboxStepConfig(sandbox=BACKEND, timeout_s=20, total_timeout_s=60, memory_mb=1024))
    yield step
    step.close()


def test_a_task_whose_answers_come_out_again_is_verified(repo, verify_step):
    nb = notebook(repo)
    printed = task(repo, [("total", "6.75")])
    by_region = task(repo, [("north", "4.5"), ("south", "2.25")], cells=(1, 3))
    nb.tasks = [printed, by_region]
    verify_step([nb])
    assert (printed.drop_reason, printed.executable, printed.deterministic, printed.verified) == (None, True, True, True)
    assert [a.place for a in printed.answers] == ["line 0"]
    assert by_region.verified is True and [a.place for a in by_region.answers] == ["result[north]", "result[south]"]


@pytest.mark.parametrize(
    "answers, cells, fmt, reason",
    [
        ([("total", "6.7")], (1, 2), "@total[value]", "ungrounded_answer"),  # a near miss
        ([("total", "6.7")], (1, 2), "@total[value] rounded to 1 decimal place", "ungrounded_answer"),  # 6.75 is 6.8
        ([("total", "7")], (1, 2), "@total[value] rounded to 2 decimals", "ungrounded_answer"),
        ([("dtype", "64")], (1, 4), "@dtype[value]", "ungrounded_answer"),  # a digit of np.float64(...)
        ([("region", "north")], (1, 2), "@region[value]", "ungrounded_answer"),  # shown by another cell
        ([("total", "")], (1, 2), "@total[value]", "empty_answer"),
        ([("total", "nan")], (1, 2), "@total[value]", "not_a_value"),
        ([("total", "6.75"), ("total", "6.75")], (1, 2), "@total[value]", "duplicate_answer_name"),
        ([("total", "6.75")], (1, 5), "@total[value]", "answer_cell_without_code"),
        ([("mean", "4.5")], (6,), "@mean[value]", "no_data_file"),
        ([], (1, 2), "@total[value]", "no_answers"),
    ],
)
def test_a_wrong_task_is_dropped_with_its_reason(repo, verify_step, answers, cells, fmt, reason):
    nb = notebook(repo)
    wrong = task(repo, answers, cells=cells, fmt=fmt)
    nb.tasks = [wrong]
    verify_step([nb])
    assert wrong.drop_reason == reason and wrong.verified is None


def test_a_label_and_answer_that_disagree_are_dropped(repo, verify_step):
    nb = notebook(repo)
    quoted = task(repo, [("total", "6.75")])
    quoted.answer = "'6.75'"
    other_label = task(repo, [("total", "6.75")], label="@total[6.75] @extra[1]")
    nb.tasks = [quoted, other_label]
    verify_step([nb])
    assert quoted.drop_reason == "answer_disagrees_with_label"
    assert other_label.drop_reason == "label_disagrees_with_answers"


def test_rounding_is_only_what_the_format_states(repo, verify_step):
    nb = notebook(repo, CELLS + [Cell("code", "sales['amount'].mean() / 3", 7, [result("np.float64(0.75)")]),
                                 Cell("code", "sales['amount'].sum() / 7", 8, [result("np.float64(0.9642857142857143)")])])
    stated = task(repo, [("share", "0.96")], cells=(1, 8), fmt="@share[value] where value is rounded to 2 decimal places")
    unstated = task(repo, [("share", "0.96")], cells=(1, 8), fmt="@share[value]")
    nb.tasks = [stated, unstated]
    verify_step([nb])
    assert stated.verified is True
    assert unstated.drop_reason == "ungrounded_answer"


REFERENCE = """import pandas as pd
df = pd.read_csv('sales.csv')
print(f"@total[{df['amount'].sum()}]")
"""


def test_the_reference_program_must_print_the_label(repo, verify_step):
    nb = notebook(repo)
    agrees = task(repo, [("total", "6.75")], reference=REFERENCE)
    hides_a_filter = task(repo, [("total", "6.75")], reference=REFERENCE.replace("df['amount']", "df[df['region'] == 'north']['amount']"))
    fails = task(repo, [("total", "6.75")], reference=REFERENCE.replace("sales.csv", "missing.csv"))
    nb.tasks = [agrees, hides_a_filter, fails]
    verify_step([nb])
    assert (agrees.reference_agrees, agrees.verified, agrees.drop_reason) == (True, True, None)
    assert (hides_a_filter.reference_agrees, hides_a_filter.drop_reason) == (False, "question_label_mismatch")
    assert hides_a_filter.verified is False
    assert (fails.reference_agrees, fails.drop_reason) == (False, "reference_error")


def test_a_task_whose_data_file_is_gone_is_not_verified(repo, verify_step):
    nb = notebook(repo)
    gone = task(repo, [("total", "6.75")])
    (repo / "data" / "sales.csv").unlink()
    nb.tasks = [gone]
    verify_step([nb])
    assert (gone.drop_reason, gone.executable, gone.verified) == (None, False, False)


def test_a_task_with_a_random_answer_is_not_deterministic(repo, verify_step):
    cells = [Cell("code", "import pandas as pd, random\nsales = pd.read_csv('../data/sales.csv')\nprint(round(random.random(), 3))", 1,
                  [stream("0.5\n")])]
    nb = notebook(repo, cells)
    nb.data_refs[0].cell, nb.data_refs[0].sites = 0, [(0, 2, 8)]
    random_answer = task(repo, [("x", "0.5")], cells=(0,), fmt="@x[value]")
    nb.tasks = [random_answer]
    verify_step([nb])
    assert random_answer.executable is True and random_answer.deterministic is False and random_answer.verified is False
