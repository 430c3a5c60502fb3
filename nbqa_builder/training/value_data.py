"""Value targets from search trees: which nodes a value model learns from, and what it learns.

A tree file (written by the search, one per task) is JSONL: a header line
`{"type": "tree", "task_id", "question", "label", "mode", "c_puct", "policy_model",
"system_prompt", "first_user_turn", "action_format", ...}`, then one line per node `{"type": "node",
"id", "parent", "depth", "thought", "code", "observation", "answer", "terminal", "reward", "visits",
"value_sum", "prior", "consecutive_errors", "reply"}`; the root has parent null and depth 0. The
header's `reward` names the rule that rewarded its answers (jupiter or strict; trees written
before it was recorded used strict): one dataset takes trees of one rule, as their Q values are
comparable only then.

Per tree, as JUPITER's value training (NBQA.md, "Search over notebook states"):
- terminal paths are **correct** when they end in an answer whose reward is 1 (every sub-answer
  right), **wrong** when they end with a reward <= 0, except sandbox failures, time-outs and
  policy failures (the sandbox or the model's server failed, not the analysis); a partly right
  answer is neither;
- up to K of each are drawn (seeded by the tree, so a re-run draws the same);
- every node on those paths is a target, each once, with its Q = value_sum / visits (0 when never
  visited). The root is left out: its text, the task alone, is the same on every path, and the
  search never asks the value function about it (it scores the nodes it expands).

A node's text is its conversation from the system turn, rendered with the turn format
(nbqa_builder/turns) as the SFT export renders it: the system prompt and first user turn of the header, then per node on the path
its assistant turn (Thought + Action, or Thought + Formatted answer) and, for a code node, its
`Observation:` turn. `value_prompt` joins the turns into the model's input text the way JUPITER's
value data does ("role:\\ncontent" blocks); the scorer uses the same function at inference.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from nbqa_builder.turns import action_turn, answer_turn, observation_turn

HEADER_KEYS = ("task_id", "system_prompt", "first_user_turn")
NODE_KEYS = ("id", "parent", "depth", "terminal", "reward", "visits", "value_sum")
# wrong paths leave these out: the sandbox or the policy's server failed, not the analysis
NOT_THE_ANALYSIS = ("sandbox_failure", "timeout", "policy_failure")
_TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
VALUE_SCHEMA = pa.schema([("prompt", pa.string()), ("messages", pa.list_(_TURN)), ("value", pa.float64()),
                          ("task_id", pa.string()), ("tree_id", pa.string()), ("node_id", pa.int64()),
                          ("depth", pa.int64()), ("visits", pa.int64()), ("terminal", pa.string())])


class TreeFileError(ValueError):
    """A tree file that is not what the search writes; the message names the file and line."""


def value_prompt(messages: list[dict[str, str]]) -> str:
    """The value model's input text for a conversation (JUPITER's `role:\\ncontent` blocks)."""
    return "\n\n".join(f"{m['role']}:\n{m['content']}" for m in messages)


def q_value(node: dict[str, Any]) -> float:
    return node["value_sum"] / node["visits"] if node["visits"] else 0.0


def path_kind(node: dict[str, Any]) -> str | None:
    """"correct", "wrong" or None for a node that ends a path (see the module doc)."""
    reward = node.get("reward")
    if node.get("terminal") is None or reward is None:
        return None
    if node["terminal"] == "answer" and reward >= 1.0:
        return "correct"
    if reward <= 0 and node["terminal"] not in NOT_THE_ANALYSIS:
        return "wrong"
    return None


def node_turns(node: dict[str, Any], action_format: str = "fenced") -> list[dict[str, str]]:
    """A node's own turns: its assistant turn and, for a code node, its observation."""
    if node.get("answer") is not None:
        return [answer_turn(node.get("thought"), node["answer"])]
    if node.get("code") is None:  # a reply that held no action: its text if the tree kept it
        turns = [{"role": "assistant", "content": node.get("reply") or f"Thought: {node.get('thought') or ''}"}]
        if node.get("observation") is not None:  # infer mode: what the policy was told was wrong
            turns.append(observation_turn(node["observation"]))
        return turns
    turns = [action_turn(node.get("thought"), node["code"], action_format)]
    if node.get("observation") is not None:
        turns.append(observation_turn(node["observation"]))
    return turns


def read_tree(path: str | os.PathLike) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """(header, node id -> node) of a tree file, checked (TreeFileError)."""
    from nbqa_builder.evaluate import EvaluationInputError, read_jsonl

    header, nodes = None, {}
    try:
        for line_no, row in read_jsonl(os.fspath(path)):
            kind = row.get("type")
            if header is None:
                if kind != "tree" or any(key not in row for key in HEADER_KEYS):
                    raise TreeFileError(f"{path}:{line_no}: the first line must be the tree header with "
                                        + ", ".join(HEADER_KEYS))
                header = row
            elif kind == "node":
                missing = [key for key in NODE_KEYS if key not in row]
                if missing:
                    raise TreeFileError(f"{path}:{line_no}: node without {', '.join(missing)}")
                nodes[row["id"]] = row
    except EvaluationInputError as exc:  # unreadable, not JSON, not an object: the message names the line
        raise TreeFileError(str(exc)) from None
    if header is None:
        raise TreeFileError(f"{path}: empty: no tree header")
    roots = [node for node in nodes.values() if node["parent"] is None]
    if len(roots) != 1:
        raise TreeFileError(f"{path}: {len(roots)} roots (nodes with parent null); a tree has one")
    for node in nodes.values():
        if node["parent"] is not None and node["parent"] not in nodes:
            raise TreeFileError(f"{path}: node {node['id']}: its parent {node['parent']} is not in the file")
    return header, nodes


def path_to(nodes: dict[int, dict[str, Any]], node_id: int) -> list[dict[str, Any]]:
    """The nodes from the root's child to `node_id`, root excluded."""
    path = []
    node = nodes[node_id]
    while node["parent"] is not None:
        path.append(node)
        node = nodes[node["parent"]]
        if len(path) > len(nodes):
            raise TreeFileError(f"node {node_id}: its ancestors form a cycle")
    return path[::-1]


def value_targets(header: dict[str, Any], nodes: dict[int, dict[str, Any]], tree_id: str, k: int = 4,
                  seed: int = 0, action_format: str | None = None) -> tuple[list[dict[str, Any]], Counter]:
    """(one row per target node, counts of the paths drawn) for one tree. Actions are written as
    `action_format` says, else as the tree's header says (the search records how its policy was
    prompted), else fenced."""
    action_format = action_format or header.get("action_format") or "fenced"
    by_kind: dict[str, list[int]] = {"correct": [], "wrong": []}
    for node_id in sorted(nodes):
        kind = path_kind(nodes[node_id])
        if kind is not None:
            by_kind[kind].append(node_id)
    rng = random.Random(f"{seed}:{tree_id}")
    chosen = {kind: sorted(rng.sample(ids, min(k, len(ids)))) for kind, ids in by_kind.items()}
    counts = Counter({f"{kind} paths found": len(ids) for kind, ids in by_kind.items()})
    counts.update({f"{kind} paths drawn": len(ids) for kind, ids in chosen.items()})
    on_paths = {node["id"] for ends in chosen.values() for end in ends for node in path_to(nodes, end)}
    first = [{"role": "system", "content": header["system_prompt"]}, {"role": "user", "content": header["first_user_turn"]}]
    rows = []
    for node_id in sorted(on_paths):
        messages = list(first)
        for node in path_to(nodes, node_id):
            messages += node_turns(node, action_format)
        node = nodes[node_id]
        rows.append({"prompt": value_prompt(messages), "messages": messages, "value": q_value(node),
                     "task_id": str(header["task_id"]), "tree_id": tree_id, "node_id": node_id,
                     "depth": node["depth"], "visits": node["visits"], "terminal": node["terminal"]})
    return rows, counts


def reward_rule(header: dict[str, Any]) -> str:
    """The rule that rewarded a tree's answers; trees written before it was recorded used strict."""
    return str(header.get("reward") or "strict")


def tree_files(arguments: Iterable[str]) -> list[Path]:
    """The tree files named, and the *.jsonl files under the folders named, in order, each once."""
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files += sorted(path.rglob("*.jsonl"))
        elif path.is_file():
            files.append(path)
        else:
            raise TreeFileError(f"{argument}: no such file or folder")
    return list(dict.fromkeys(files))


@dataclass
class ValueDataReport:
    trees: int = 0
    rows: int = 0
    counts: Counter = field(default_factory=Counter)


def write_value_data(trees: Iterable[str], out_dir: str | os.PathLike, k: int = 4, seed: int = 0,
                     action_format: str | None = None) -> ValueDataReport:
    """Value targets of every tree, as a Hugging Face dataset in `out_dir`
    (`data/train-00000-of-00001.parquet`: `datasets.load_dataset(out_dir)` reads it), with
    `stats.json`. The tree id is the tree file's path without `.jsonl`."""
    report = ValueDataReport()
    rows: list[dict[str, Any]] = []
    rules: dict[str, Path] = {}  # reward rule -> the first tree rewarded by it
    for path in tree_files(trees):
        header, nodes = read_tree(path)
        rules.setdefault(reward_rule(header), path)
        if len(rules) > 1:
            (rule, first), (other, _) = list(rules.items())[:2]
            raise TreeFileError(f"{path}: rewarded by the {other} rule, {first} by the {rule} rule: value targets "
                                "of different reward rules do not mix (run value-data per rule)")
        tree_rows, counts = value_targets(header, nodes, str(path.with_suffix("")), k, seed, action_format)
        rows += tree_rows
        report.trees += 1
        report.counts.update(counts)
        if not counts["correct paths found"]:
            report.counts["trees without a correct path"] += 1
    if not report.trees:
        raise TreeFileError("no tree files (*.jsonl) found")
    data_dir = Path(out_dir, "data")
    data_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=VALUE_SCHEMA), data_dir / "train-00000-of-00001.parquet")
    report.rows = len(rows)
    stats = {"trees": report.trees, "rows": report.rows, "k": k, "seed": seed,
             "action_format": action_format or "as each tree's header says", "reward": next(iter(rules)),
             **dict(sorted(report.counts.items()))}
    Path(out_dir, "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return report


def load_value_rows(data: str | os.PathLike):
    """The value data: a folder written by `value-data`, or a Parquet / JSONL file with `prompt`
    and `value` (JUPITER's value data is such a JSONL)."""
    from datasets import load_dataset

    from nbqa_builder.training import quiet_load

    path = Path(data)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        kind = "parquet"
    elif path.is_file():
        files = [str(path)]
        kind = "parquet" if path.suffix == ".parquet" else "json"
    else:
        raise ValueError(f"{data}: no such file or folder")
    if not files:
        raise ValueError(f"{data}: no Parquet files (write value data with `value-data`)")
    rows = quiet_load(load_dataset, kind, data_files=files, split="train")
    missing = {"prompt", "value"} - set(rows.column_names)
    if missing:
        raise ValueError(f"{data}: value data needs the columns prompt and value (missing: {', '.join(sorted(missing))})")
    return rows.select_columns(["prompt", "value"])
