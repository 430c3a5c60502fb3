"""`value-data`: value targets from a hand-built search tree equal hand-computed ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbqa_builder.training.value_data import read_tree, value_targets

ROOT = Path(__file__).resolve().parents[1]
HEADER = {"type": "tree", "task_id": "t1", "question": "mean?", "label": "@m[5.0]", "mode": "collect", "c_puct": 1.25,
          "policy_model": "tiny", "system_prompt": "You are a helpful assistant.", "first_user_turn": "Question: mean?"}


def node(id, parent, depth, visits, value_sum, terminal=None, reward=None, thought=None, code=None, observation=None,
         answer=None):
    return {"type": "node", "id": id, "parent": parent, "depth": depth, "thought": thought, "code": code,
            "observation": observation, "answer": answer, "terminal": terminal, "reward": reward, "visits": visits,
            "value_sum": value_sum, "prior": 0.5, "consecutive_errors": 0}


NODES = [
    node(0, None, 0, 12, 0.5),
    node(1, 0, 1, 6, 2.0, thought="Load.", code="df = load()", observation="(2, 2)"),
    node(2, 1, 2, 2, 2.0, "answer", 1.0, thought="Mean is 5.", answer="@m[5.0]"),                # correct
    node(3, 1, 2, 1, -1.0, "answer", -1.0, thought="Mean is 4.", answer="@m[4.0]"),              # wrong
    node(4, 1, 2, 1, -1.0, "too_many_errors", -1.0, thought="Try.", code="boom()",
         observation="NameError: name 'boom' is not defined"),                                   # wrong
    node(5, 0, 1, 1, -1.0, "timeout", -1.0, thought="Wait.", code="sleep()"),                     # not the analysis
    node(6, 0, 1, 1, -1.0, "sandbox_failure", -1.0, thought="Run.", code="x"),                    # not the analysis
    node(7, 0, 1, 1, 0.5, "answer", 0.5, thought="Guess.", answer="@m[5.0] @n[2]"),                # partly right
    node(8, 0, 1, 2, 0.0, thought="Load again.", code="df = load()", observation="(2, 2)"),
    node(9, 8, 2, 1, 1.0, "answer", 1.0, thought="Five.", answer="@m[5.0]"),                      # correct
    node(10, 0, 1, 0, 0.0, thought="Later.", code="y = 1", observation=""),                       # on no path
    node(11, 8, 2, 1, -1.0, "no_code", -1.0, thought="Hmm."),                                      # wrong
    node(12, 8, 2, 1, -1.0, "policy_failure", -1.0),                                              # not the analysis
]

PATH_1 = ("system:\nYou are a helpful assistant.\n\nuser:\nQuestion: mean?\n\n"
          "assistant:\nThought: Load.\nAction:\n```python\ndf = load()\n```\n\nuser:\nObservation:\n(2, 2)")
PATH_8 = ("system:\nYou are a helpful assistant.\n\nuser:\nQuestion: mean?\n\n"
          "assistant:\nThought: Load again.\nAction:\n```python\ndf = load()\n```\n\nuser:\nObservation:\n(2, 2)")
EXPECTED = {  # node id -> (depth, Q, prompt), computed by hand
    1: (1, 2.0 / 6, PATH_1),
    2: (2, 1.0, PATH_1 + "\n\nassistant:\nThought: Mean is 5.\nFormatted answer: @m[5.0]"),
    3: (2, -1.0, PATH_1 + "\n\nassistant:\nThought: Mean is 4.\nFormatted answer: @m[4.0]"),
    4: (2, -1.0, PATH_1 + "\n\nassistant:\nThought: Try.\nAction:\n```python\nboom()\n```\n\n"
                          "user:\nObservation:\nNameError: name 'boom' is not defined"),
    8: (1, 0.0, PATH_8),
    9: (2, 1.0, PATH_8 + "\n\nassistant:\nThought: Five.\nFormatted answer: @m[5.0]"),
    11: (2, -1.0, PATH_8 + "\n\nassistant:\nThought: Hmm."),
}


def write_tree(path: Path, header: dict, nodes: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in [header, *nodes]))
    return path


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_targets_of_a_hand_built_tree_equal_hand_computed_ones(tmp_path):
    header, nodes = read_tree(write_tree(tmp_path / "t1.jsonl", HEADER, NODES))
    rows, counts = value_targets(header, nodes, "trees/t1", k=4)
    assert {row["node_id"]: (row["depth"], row["value"], row["prompt"]) for row in rows} == EXPECTED
    assert {row["task_id"] for row in rows} == {"t1"} and {row["tree_id"] for row in rows} == {"trees/t1"}
    assert counts == {"correct paths found": 2, "wrong paths found": 3, "correct paths drawn": 2, "wrong paths drawn": 3}
    by_id = {row["node_id"]: row for row in rows}
    assert [m["role"] for m in by_id[4]["messages"]] == ["system", "user", "assistant", "user", "assistant", "user"]


def test_at_most_k_paths_of_each_kind_with_all_their_ancestors(tmp_path):
    header, nodes = read_tree(write_tree(tmp_path / "t1.jsonl", HEADER, NODES))
    rows, counts = value_targets(header, nodes, "trees/t1", k=1, seed=3)
    assert counts["correct paths drawn"] == 1 and counts["wrong paths drawn"] == 1
    ids = {row["node_id"] for row in rows}
    ends = ids & {2, 3, 4, 9, 11}
    assert len(ends) == 2
    assert ids == ends | {nodes[end]["parent"] for end in ends}  # every ancestor but the root
    again, _ = value_targets(header, nodes, "trees/t1", k=1, seed=3)
    assert again == rows  # the draw is seeded by the tree


def test_value_data_command_writes_a_dataset_that_load_dataset_reads(tmp_path):
    write_tree(tmp_path / "trees" / "t1.jsonl", HEADER, NODES)
    lost = [node(0, None, 0, 2, -2.0), node(1, 0, 1, 1, -1.0, "answer", -1.0, thought="No.", answer="@m[1]"),
            node(2, 0, 1, 1, -1.0, "depth_limit", -1.0, thought="Deep.", code="x", observation="1")]
    write_tree(tmp_path / "trees" / "t2.jsonl", {**HEADER, "task_id": "t2"}, lost)
    done = run_cli("value-data", tmp_path / "trees", "--out", tmp_path / "values")
    assert done.returncode == 0, done.stderr
    assert "9 value targets from 2 trees" in done.stdout and "note: 1 trees without a correct path" in done.stdout

    from datasets import load_dataset

    data = load_dataset(str(tmp_path / "values"), split="train")
    assert data.num_rows == 9
    assert {"prompt", "messages", "value", "task_id", "tree_id", "node_id", "depth"} <= set(data.column_names)
    t1 = {row["node_id"]: (row["depth"], row["value"], row["prompt"]) for row in data if row["task_id"] == "t1"}
    assert t1 == EXPECTED
    assert sorted((row["node_id"], row["value"]) for row in data if row["task_id"] == "t2") == [(1, -1.0), (2, -1.0)]
    stats = json.loads((tmp_path / "values" / "stats.json").read_text())
    assert stats["trees"] == 2 and stats["rows"] == 9 and stats["trees without a correct path"] == 1


@pytest.mark.parametrize("lines,problem", [
    (['{"type": "node", "id": 0}'], "first line must be the tree header"),
    ([json.dumps(HEADER), "{not json"], ":2: not valid JSON"),
    ([json.dumps(HEADER), json.dumps({"type": "node", "id": 0, "parent": None})], ":2: node without depth"),
    ([json.dumps(HEADER), json.dumps(node(1, 0, 1, 1, 1.0))], "0 roots"),
])
def test_a_file_that_is_not_a_tree_is_one_line_exit_2(tmp_path, lines, problem):
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    done = run_cli("value-data", tmp_path / "bad.jsonl", "--out", tmp_path / "out")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and problem in done.stderr, done.stderr


def test_trees_of_different_reward_rules_do_not_mix_and_the_rule_is_recorded(tmp_path):
    write_tree(tmp_path / "jupiter" / "t1.jsonl", {**HEADER, "reward": "jupiter"}, NODES)
    write_tree(tmp_path / "jupiter" / "t2.jsonl", {**HEADER, "task_id": "t2", "reward": "jupiter"}, NODES)
    done = run_cli("value-data", tmp_path / "jupiter", "--out", tmp_path / "values")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "values" / "stats.json").read_text())["reward"] == "jupiter"
    old = write_tree(tmp_path / "old" / "t3.jsonl", {**HEADER, "task_id": "t3"}, NODES)  # before the rule was recorded
    done = run_cli("value-data", tmp_path / "jupiter", old, "--out", tmp_path / "mixed")
    assert done.returncode == 2 and "t3.jsonl: rewarded by the strict rule" in done.stderr, done.stderr
    assert "do not mix" in done.stderr and not (tmp_path / "mixed" / "stats.json").exists()


def test_a_failed_step_that_went_on_shows_what_the_policy_was_told():
    """Infer mode keeps a failed step open: its turns are the reply as it came and the corrective
    observation, as the search sent them."""
    from nbqa_builder.training.value_data import node_turns

    failed = {**node(1, 0, 1, 1, -1.0, thought=None), "reply": "Thought: x.\nAction: prose", "failure": "parse_failure",
              "observation": "You response should contain both 'Thought:' and 'Action:' sections."}
    assert node_turns(failed) == [{"role": "assistant", "content": "Thought: x.\nAction: prose"},
                                  {"role": "user", "content": "Observation:\nYou response should contain both "
                                                              "'Thought:' and 'Action:' sections."}]
