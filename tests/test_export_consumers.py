"""Our exports, read by stand-ins of their real consumers.

Each stand-in does what the consumer's loading code does, with the field names and types that
code reads (read in microsoft/Jupiter and hiyouga/LLaMA-Factory; none of their code is copied):

- JUPITER's `dataset/process_sft.py`: reads `train_sft_data.jsonl` rows; `file_names` (a list, or
  its string literal), `task`, `constraints`, `format`; `solution[0]` and each next step's
  `thought` and `python_code`, every step's `code_output`, `solution[-2]["code_output"]`,
  `solution[-1]["thought"]` and `["label"]`, concatenated as strings; writes alpaca rows.
- JUPITER's MCTS collection script: rows with `task`, `constraints`, `format`, `file_names`,
  `label` (skipped without "@"), `data_files` joined to a base folder and opened as text, each
  uploaded under its bare name.
- JUPITER's inference scripts (ReAct and MCTS): DABench questions with `question`,
  `constraints`, `format`, `file_name` ("none" for no file), joined to a tables folder and opened
  in binary; its closed-form evaluation: labels' `common_answers`, questions' `concepts`.
- LLaMA-Factory's dataset parser and converters: a `dataset_info.json` entry (`file_name`,
  `formatting`, `columns`, `tags`), the file loaded by its extension, sharegpt turns checked for
  alternating tags and an even count, alpaca `history` pairs.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.records import SolutionStep
from tests.dataset_fixtures import make_task, write_dataset

ROOT = Path(__file__).resolve().parents[1]
SALES = b"day,price\n1,4.0\n2,6.0\n"
PARQUET_LIKE = b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00\xff\xfePAR1"


def run_cli(*args) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "nbqa_builder", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def solved(task_id: str, files: dict[str, bytes], load: str):
    task = make_task(task_id, [("mean_price", "5.0")], files=files)
    task.ipynb_name = "notebooks/prices.ipynb"
    task.solution = [
        SolutionStep("Load the sales table.", load, "(2, 2)"),
        SolutionStep("Take the mean price.", 'df["price"].mean()', "np.float64(5.0)"),
        SolutionStep("The mean is 5.0.", label="@mean_price[5.0]"),
    ]
    return task


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    text = solved("csv", {"../data/sales.csv": SALES},
                  'import pandas as pd\ndf = pd.read_csv("../data/sales.csv")\ndf.shape')
    binary = solved("parquet", {"../data/sales.csv": SALES, "../data/extra.parquet": PARQUET_LIKE},
                    'import pandas as pd\nextra = open("../data/extra.parquet", "rb").read()\n'
                    'df = pd.read_csv("../data/sales.csv")\ndf.shape')
    return write_dataset(str(tmp_path_factory.mktemp("consumers") / "ds"), {"interactive": [text, binary]},
                         {"../data/sales.csv": SALES, "../data/extra.parquet": PARQUET_LIKE})


# ---------------------------------------------------------------------------------------------
# JUPITER: process_sft.py

# the stand-in's own instructions; the same text as a template file is given to `export sft`
STANDIN_INSTRUCTIONS = "Solve it in turns.\nQuestion: {raw_question}\nConstraints: {constraints}\nFormat: {output_format}\nFiles: {file_name}\n"


def process_sft_standin(rows: list[dict]) -> list[dict]:
    out = []
    for sample in rows:
        solution = sample["solution"]
        file_names = sample["file_names"]
        file_names = ast.literal_eval(file_names) if isinstance(file_names, str) else file_names
        file_name = ", ".join(file_names) if len(file_names) > 1 else (file_names[0] if file_names else "none")
        instruction = STANDIN_INSTRUCTIONS.format(raw_question=sample["task"], constraints=sample["constraints"],
                                                  output_format=sample["format"], file_name=file_name)
        history = [[instruction, "Thought: " + solution[0]["thought"] + "\n" + "Action: " + solution[0]["python_code"]]]
        for i in range(0, len(solution) - 2):
            history.append(["Observation:\n" + (str(solution[i]["code_output"]) if solution[i]["code_output"] else ""),
                            "Thought: " + solution[i + 1]["thought"] + "\n" + "Action: " + solution[i + 1]["python_code"]])
        out.append({
            "instruction": "Observation:\n" + (solution[-2]["code_output"] if solution[-2]["code_output"] else ""),
            "input": "",
            "output": "Thought: " + solution[-1]["thought"] + "\n" + "Formatted answer: " + solution[-1]["label"],
            "system": "You are a helpful assistant.",
            "history": history,
        })
    return out


def test_process_sft_makes_from_jupiter_rows_the_chats_of_export_sft(dataset, tmp_path):
    run_cli("export", "jupiter", dataset, "--to", tmp_path / "train_sft_data.jsonl", "--sandbox", "off")
    processed = process_sft_standin(read_jsonl(tmp_path / "train_sft_data.jsonl"))
    assert len(processed) == 2

    # the same chats from `export sft`, told to render as JUPITER does
    (tmp_path / "template.md").write_text(STANDIN_INSTRUCTIONS)
    run_cli("export", "sft", dataset, "--format", "alpaca", "--to", tmp_path / "ours.json", "--template",
            tmp_path / "template.md", "--file-names", "name", "--actions", "raw", "--final-expression", "keep")
    ours = [{k: v for k, v in row.items() if k != "id"} for row in json.loads((tmp_path / "ours.json").read_text())]
    assert processed == ours


# ---------------------------------------------------------------------------------------------
# JUPITER: the MCTS collection script

def collection_standin(rows: list[dict], base: Path) -> list[dict]:
    """Each tree's inputs: (prompt fields, ground truth, files by bare name)."""
    trees = []
    for data in rows:
        ground_truth = data["label"]
        if "@" not in ground_truth:
            continue
        files_dict = {}
        for file_path in [os.path.join(base, path) for path in data["data_files"]]:
            with open(file_path) as f:  # text mode, as the script does
                files_dict[os.path.basename(file_path)] = base64.b64encode(f.read().encode("utf-8")).decode("utf-8")
        trees.append({"task": data["task"], "file_names": data["file_names"], "ground_truth": ground_truth,
                      "files": files_dict, "solution": data["solution"]})
    return trees


def run_like_sandboxfusion(files: dict[str, str], cells: list[str], folder: Path) -> str:
    """The cells run in one folder that holds the files by name; stdout only."""
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(base64.b64decode(content))
    done = subprocess.run([sys.executable, "-c", "\n".join(cells)], cwd=folder, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_collection_script_reads_rows_and_their_files_served_by_name(dataset, tmp_path):
    done = run_cli("export", "jupiter", dataset, "--to", tmp_path / "rows.jsonl", "--files-dir", tmp_path / "files",
                   "--final-expression", "print", "--sandbox", "off")
    assert "note: 1 tasks with a data file that is not UTF-8 text" in done.stdout
    rows = {row["id"]: row for row in read_jsonl(tmp_path / "rows.jsonl")}
    assert rows["parquet"]["binary_data_files"] == ["parquet/extra.parquet"] and rows["csv"]["binary_data_files"] == []
    with pytest.raises(UnicodeDecodeError):  # what the script does with a binary file
        collection_standin([rows["parquet"]], tmp_path / "files")

    run_cli("export", "jupiter", dataset, "--to", tmp_path / "text.jsonl", "--files-dir", tmp_path / "files",
            "--final-expression", "print", "--sandbox", "off", "--skip-binary")
    (tree,) = collection_standin(read_jsonl(tmp_path / "text.jsonl"), tmp_path / "files")
    assert tree["ground_truth"] == "@mean_price[5.0]" and list(tree["files"]) == tree["file_names"] == ["sales.csv"]
    # the solution runs where the script puts the files, and prints what its observations say
    cells = [step["python_code"] for step in tree["solution"][:-1]]
    stdout = run_like_sandboxfusion(tree["files"], cells, tmp_path / "sandbox")
    assert stdout.split() == ["(2,", "2)", "5.0"]
    assert [step["code_output"] for step in tree["solution"][:-1]] == ["(2, 2)", "5.0"]


# ---------------------------------------------------------------------------------------------
# JUPITER: the inference scripts and the closed-form evaluation, on `export dabench`

def inference_standin(questions: list[dict], tables: Path) -> dict[str, dict]:
    """The prompt fields and uploaded files per question, as the ReAct and MCTS loaders build them."""
    loaded = {}
    for question in questions:
        file_name = question.get("file_name", "none")
        file_path = os.path.join(tables, file_name)
        react_files = {}
        if os.path.exists(file_path):  # the ReAct script: no "none" test
            with open(file_path, "rb") as f:
                react_files[file_name] = base64.b64encode(f.read()).decode("utf-8")
        mcts_files = {}
        if file_name != "none" and os.path.exists(file_path):
            with open(file_path, "rb") as f:
                mcts_files[file_name] = base64.b64encode(f.read()).decode("utf-8")
        assert react_files == mcts_files
        loaded[question["id"]] = {"prompt": (question["question"], question.get("constraints", "none"),
                                             question.get("format", "none"), file_name), "files": mcts_files}
    return loaded


def closed_form_standin(labels: list[dict], questions: list[dict], responses: dict[str, str]) -> float:
    """Accuracy by question, with the evaluation's field reads (common_answers pairs, concepts)."""
    concepts = {q["id"]: q["concepts"] for q in questions}
    correct = 0
    for label in labels:
        expected = {name: value for name, value in label["common_answers"]}
        found = dict(re.findall(r"@(\w+)\[(.*?)\]", responses.get(label["id"], "")))
        assert len(concepts[label["id"]]) >= 1
        correct += all(found.get(name) == value or _close(found.get(name), value) for name, value in expected.items())
    return correct / len(labels)


def _close(a: str | None, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-6
    except (TypeError, ValueError):
        return False


def test_inference_scripts_and_evaluation_take_dabench_exports(tmp_path):
    tables = {"a.csv": b"x\n1\n", "b.csv": b"y\n2\n", "c.csv": b"z\n3\n"}
    no_file = make_task("none", [("answer", "42")])
    three = make_task("three", [("total", "6"), ("rows", "3")], files=tables)
    root = write_dataset(str(tmp_path / "ds"), {"interactive": [no_file, three]}, tables)
    done = run_cli("export", "dabench", root, "--to", tmp_path / "bench")
    assert "note: 1 tasks that read more than one file (JUPITER's inference uploads only file_name)" in done.stdout
    questions = read_jsonl(tmp_path / "bench" / "questions.jsonl")
    loaded = inference_standin(questions, tmp_path / "bench" / "tables")
    assert loaded["none"] == {"prompt": ("question of none", "round to two decimals", "@answer[value]", "none"),
                              "files": {}}
    assert list(loaded["three"]["files"]) == ["a.csv"]
    labels = read_jsonl(tmp_path / "bench" / "labels.jsonl")
    assert closed_form_standin(labels, questions, {"none": "@answer[42]", "three": "@total[6.0] @rows[3]"}) == 1.0

    run_cli("export", "dabench", root, "--to", tmp_path / "single", "--single-file")
    assert [q["id"] for q in read_jsonl(tmp_path / "single" / "questions.jsonl")] == ["none"]


# ---------------------------------------------------------------------------------------------
# LLaMA-Factory: dataset_info.json, the loader and the sharegpt / alpaca converters

ATTR_DEFAULTS = {"formatting": "alpaca", "prompt": "instruction", "query": "input", "response": "output",
                 "history": None, "system": None, "messages": "conversations", "role_tag": "from",
                 "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt", "observation_tag": "observation",
                 "function_tag": "function_call", "system_tag": "system"}
EXTENSION_TYPES = {"json": "json", "jsonl": "json", "csv": "csv", "parquet": "parquet", "arrow": "arrow", "txt": "text"}


def llamafactory_standin(dataset_dir: Path, name: str) -> list[dict]:
    from datasets import load_dataset

    entry = json.loads((dataset_dir / "dataset_info.json").read_text())[name]
    attr = dict(ATTR_DEFAULTS, formatting=entry.get("formatting", "alpaca"))
    attr.update(entry.get("columns", {}))
    attr.update(entry.get("tags", {}))
    path = dataset_dir / entry["file_name"]
    assert path.is_file()
    rows = load_dataset(EXTENSION_TYPES[path.suffix[1:]], data_files=str(path), split="train")
    return [convert(attr, example) for example in rows]


def convert(attr: dict, example: dict) -> dict:
    if attr["formatting"] == "alpaca":
        prompt = []
        for old_prompt, old_response in example[attr["history"]] if attr["history"] else []:
            prompt += [{"role": "user", "content": old_prompt}, {"role": "assistant", "content": old_response}]
        query = [example[key] for key in (attr["prompt"], attr["query"]) if example[key]]
        prompt.append({"role": "user", "content": "\n".join(query)})
        return {"prompt": prompt, "response": [{"role": "assistant", "content": example[attr["response"]]}],
                "system": example[attr["system"]] if attr["system"] else ""}
    assert attr["formatting"] == "sharegpt"
    roles = {attr["user_tag"]: "user", attr["assistant_tag"]: "assistant", attr["observation_tag"]: "observation",
             attr["function_tag"]: "function", attr["system_tag"]: "system"}
    messages = example[attr["messages"]]
    system = ""
    if messages and messages[0][attr["role_tag"]] == attr["system_tag"]:
        system, messages = messages[0][attr["content_tag"]], messages[1:]
    accepted = ((attr["user_tag"], attr["observation_tag"]), (attr["assistant_tag"], attr["function_tag"]))
    for index, message in enumerate(messages):
        assert message[attr["role_tag"]] in accepted[index % 2], "broken data: the example would be skipped"
    assert len(messages) % 2 == 0, "broken data: the example would be skipped"
    aligned = [{"role": roles[m[attr["role_tag"]]], "content": m[attr["content_tag"]]} for m in messages]
    return {"prompt": aligned[:-1], "response": aligned[-1:], "system": system}


@pytest.mark.parametrize("chat_format,file_name", [("messages", "nbqa.jsonl"), ("alpaca", "nbqa.json")])
def test_llamafactory_reads_sft_exports_through_dataset_info(dataset, tmp_path, chat_format, file_name):
    run_cli("export", "sft", dataset, "--format", chat_format, "--to", tmp_path / file_name, "--sandbox", "off")
    read = llamafactory_standin(tmp_path, "nbqa")
    run_cli("export", "sft", dataset, "--to", tmp_path / "reference.jsonl", "--sandbox", "off")
    expected = [row["messages"] for row in read_jsonl(tmp_path / "reference.jsonl")]
    assert len(read) == len(expected) == 2
    for example, messages in zip(read, expected):
        assert example["system"] == messages[0]["content"]
        assert example["prompt"] + example["response"] == messages[1:]
