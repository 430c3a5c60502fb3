"""The search tree: nodes over notebook states, PUCT selection, backup, and its JSONL file.

A node is a partial notebook: the steps from the root (each a thought and one code cell, or a
final answer) and, for a code step, the observation its cell gave. The root holds the task only.
Visits and value sums follow JUPITER's MCTS (NBQA.md, "Search over notebook states"):

- selection descends from the root by PUCT, `Q + c * P * sqrt(N_parent) / (1 + N)`, among the
  children that are not terminal (Q is 0 for a child never visited); ties are broken at random
  with the tree's seeded generator; a node whose children are all terminal is exhausted;
- two options that JUPITER does not have, off by default: a first-play urgency (`first_play`:
  the Q an unvisited child is taken to have; below 0, the search goes deep before it goes wide),
  and progressive widening (`widening` = a): a node holds at most max(1, floor(N ** a)) children
  for its N visits, up to `max_children`, so an expansion adds one child and selection stops at
  a node that may take one more (or whose children have all ended);
- a terminal child is backed up as soon as it exists, with its reward (collect mode: +matched /
  total sub-answers, -1 for a wrong answer and for every failure); the node just expanded is
  backed up with the value function's estimate (0 without one);
- in infer mode a step that failed (no parsable action, no code, a sandbox failure or time-out)
  is backed up with -1 but stays open, as in JUPITER's inference: its `failure` says why, and its
  observation tells the policy what went wrong (search/mcts.py).

The file (`write_jsonl`) has a header line, then one line per node; the training module computes
value targets from it (training/value_data.py), so its fields are a contract: see `Node.row`.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

# why a node ends its branch
ANSWER = "answer"
NO_CODE = "no_code"
PARSE_FAILURE = "parse_failure"
SANDBOX_FAILURE = "sandbox_failure"
TOO_MANY_ERRORS = "too_many_errors"
DEPTH_LIMIT = "depth_limit"
TOKEN_LIMIT = "token_limit"
TIMEOUT = "timeout"
POLICY_FAILURE = "policy_failure"  # the policy gave nothing usable (429s, 5xx, bad replies)
EMPTY_REPLY = "empty_reply"  # one of the policy's choices had no text (search/policy.py)
FAILURES = (EMPTY_REPLY, NO_CODE, PARSE_FAILURE, SANDBOX_FAILURE, TOO_MANY_ERRORS, DEPTH_LIMIT, TOKEN_LIMIT, TIMEOUT, POLICY_FAILURE)
FAILURE_REWARD = -1.0


@dataclass(eq=False)
class Node:
    id: int
    parent: "Node | None"
    depth: int
    thought: str | None = None
    code: str | None = None
    observation: str | None = None
    answer: str | None = None  # the text after `Formatted answer:`
    cell_failed: bool = False  # its cell raised an error
    terminal: str | None = None
    reward: float | None = None
    visits: int = 0
    value_sum: float = 0.0
    prior: float = 1.0
    consecutive_errors: int = 0
    children: list["Node"] = field(default_factory=list)
    exhausted: bool = False  # not terminal, but every child is: nothing below it to expand
    reply: str = ""  # the policy's text, as it came
    failure: str | None = None  # infer mode: why its step failed (a failure kind), though it goes on
    tokens: int = 0  # the server's count of its request and reply (0: none sent); search/mcts.py

    @property
    def q(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0

    def puct(self, c: float, first_play: float | None = None) -> float:
        parent_visits = self.parent.visits if self.parent is not None else 0
        q = first_play if first_play is not None and not self.visits else self.q
        return q + c * self.prior * math.sqrt(parent_visits) / (1 + self.visits)

    def path(self) -> list["Node"]:
        """The nodes from the root's first child to this one."""
        nodes = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]

    def codes(self) -> list[str]:
        """The cells run from the root to this node, in order: what replay runs (a failed run's cell,
        whose state is gone, is not part of it)."""
        return [node.code for node in self.path() if node.code is not None and node.failure is None]

    def row(self) -> dict[str, Any]:
        return {"type": "node", "id": self.id, "parent": self.parent.id if self.parent else None, "depth": self.depth,
                "thought": self.thought, "code": self.code, "observation": self.observation, "answer": self.answer,
                "terminal": self.terminal, "reward": self.reward, "visits": self.visits,
                "value_sum": round(self.value_sum, 12), "prior": self.prior,
                "consecutive_errors": self.consecutive_errors, "reply": self.reply, "failure": self.failure,
                "tokens": self.tokens}


class Tree:
    def __init__(self, c_puct: float, seed: int, first_play: float | None = None, widening: float | None = None,
                 max_children: int = 3) -> None:
        self.c_puct = c_puct
        self.first_play, self.widening, self.max_children = first_play, widening, max_children
        self.random = random.Random(seed)
        self.root = Node(0, None, 0)
        self.nodes = [self.root]
        self.exhausted = False  # the root is exhausted: nothing left to expand

    def add_child(self, parent: Node, **fields: Any) -> Node:
        child = Node(len(self.nodes), parent, parent.depth + 1, **fields)
        parent.children.append(child)
        self.nodes.append(child)
        return child

    def select(self) -> Node | None:
        """The leaf to expand next (see the module doc); None when the tree has none left."""
        node = self.root
        while node.children and node.terminal is None:
            open_children = [child for child in node.children if child.terminal is None and not child.exhausted]
            if self.may_widen(node, bool(open_children)):
                return node
            if not open_children:
                node.exhausted = True
                self.exhausted = self.root.exhausted
                return None
            scores = [child.puct(self.c_puct, self.first_play) for child in open_children]
            best = max(scores)
            node = self.random.choice([child for child, score in zip(open_children, scores) if score == best])
        if node.terminal is not None:
            return None
        return node

    def may_widen(self, node: Node, open_children: bool) -> bool:
        """Progressive widening: whether `node` takes one more child now (its visits allow it, or
        every child it has has ended)."""
        if self.widening is None or len(node.children) >= self.max_children:
            return False
        return not open_children or len(node.children) < max(1, math.floor(node.visits ** self.widening))

    @staticmethod
    def backup(node: Node, value: float) -> None:
        """Add `value` to the node and every ancestor, one visit each."""
        current: Node | None = node
        while current is not None:
            current.visits += 1
            current.value_sum += value
            current = current.parent

    def answers(self) -> list[Node]:
        return [node for node in self.nodes if node.terminal == ANSWER]

    def write_jsonl(self, path: Path, header: dict[str, Any]) -> None:
        """The tree as JSONL (header, then nodes by id), written whole or not at all."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        with open(temp, "w", encoding="utf-8") as out:
            out.write(json.dumps({"type": "tree", **header, "c_puct": self.c_puct}, ensure_ascii=False) + "\n")
            for node in self.nodes:
                out.write(json.dumps(node.row(), ensure_ascii=False) + "\n")
        temp.replace(path)


def read_jsonl(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, node rows) of a tree file."""
    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or lines[0].get("type") != "tree":
        raise ValueError(f"{path}: not a search tree file (no header line)")
    return lines[0], [row for row in lines[1:] if row.get("type") == "node"]


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)
