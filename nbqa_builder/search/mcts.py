"""Value-guided tree search over live notebook states, and the ReAct baselines beside it.

One task's search (`search_task`), iteration after iteration until the budget is spent or nothing
is left to expand:
1. select a leaf by PUCT (search/tree.py);
2. expand it: the policy samples `children` next steps; each is read (turns/reply.py); an answer
   or a reply without a usable cell ends its branch (an empty choice is one such child, its
   siblings are kept); a cell runs in a fork of the leaf's live state
   (search/states.py), and a failed run, too many errors in a row or the depth limit end it too.
   In infer mode, as in JUPITER's inference, a failed step (empty, unparsable, no code, a sandbox
   failure or time-out) does not end its branch: it is backed up with -1 and stays open, its
   observation telling the policy what went wrong, so that a later sample can recover. It counts
   as an error in a row (JUPITER counts only failed cells), so that such a branch still ends;
3. back up: each terminal child its reward (collect mode: +matched/total sub-answers under the
   tree's reward rule, -1 for a wrong answer and for every failure; infer mode: the value function's
   score of the answer, as JUPITER has no label there), and the expanded leaf the value function's
   estimate (0 without one).
The final answer is chosen two ways, both recorded: the majority vote over the answers found, and
the answer with the best value (Q).

Baselines: `react` follows one path, one sampled step at a time; `vote` runs several such paths
and takes the majority answer.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nbqa_builder.answers import LENIENT, STRICT, answer_dict, score_response
from nbqa_builder.search.conversation import conversation
from nbqa_builder.search.policy import Policy, PolicyError, Sample
from nbqa_builder.search.states import Observed, StatePool
from nbqa_builder.search.tree import (
    ANSWER, DEPTH_LIMIT, FAILURE_REWARD, POLICY_FAILURE, SANDBOX_FAILURE, TIMEOUT, TOKEN_LIMIT, TOO_MANY_ERRORS, Node,
    Tree,
)
from nbqa_builder.search.value import ValueFunction
from nbqa_builder.turns import MAX_OBSERVATION_CHARS, corrective_observation, parse_reply

COLLECT, INFER = "collect", "infer"
# how an answer is compared with the label in collect mode: the official DABench scorer, or
# JUPITER's reward checker (its check_result.py: numbers within 1e-3 or 0.1 %), answers.py's lenient mode
REWARD_RULES = {"strict": STRICT, "jupiter": LENIENT}
DEFAULT_REWARD = "jupiter"  # the paper's value targets come from its checker


@dataclass
class SearchSettings:
    mode: str = COLLECT  # collect: rewards from the label; infer: the value function alone
    iterations: int = 50  # JUPITER's collection: 50 (the CLI: 50 collecting, 40 at inference)
    children: int = 3  # steps sampled per expansion (JUPITER: 3)
    c_puct: float = 1.25  # exploration; JUPITER: 1.25 when collecting training trees, 0 at inference
    # Options JUPITER does not have (search/tree.py), off by default. first_play: the Q an unvisited
    # child is taken to have (JUPITER: 0, breadth-first while every Q is 0); widening: progressive
    # widening's exponent a (a node holds max(1, floor(N ** a)) children, up to `children`; each
    # expansion samples one step). bench/search_strategies.py measures them on the demo tasks.
    first_play: float | None = None
    widening: float | None = None
    max_depth: int = 10  # continuing cells from the root; a cell deeper ends its branch (JUPITER: 10, 25 for DSBench)
    max_errors: int = 3  # more failed cells in a row end a branch
    cell_timeout_s: float = 180.0  # per cell (JUPITER: 180 s)
    total_timeout_s: float = 1800.0  # per task
    max_tokens: int = 100_000  # a conversation longer than this ends its branch (`context_tokens`)
    seed: int = 0
    reward: str = DEFAULT_REWARD  # collect mode: a key of REWARD_RULES
    final_expression: str = "print"  # observations as `export sft --final-expression` renders them (search/states.py)
    observation_chars: int = MAX_OBSERVATION_CHARS  # an observation is cut there, as the export cuts them
    action_format: str = "fenced"  # how actions are written in the turns (turns ACTION_FORMATS)


@dataclass
class SearchResult:
    tree: Tree
    vote: str | None  # the majority answer
    best_value: str | None  # the answer of highest Q
    stats: dict[str, Any] = field(default_factory=dict)
    first: list[dict[str, str]] = field(default_factory=list)  # the system and first user turns
    # JUPITER's rule (with a value model): the answer string found most often, compared exactly
    exact_vote: str | None = None


def estimated_tokens(messages: list[dict[str, str]]) -> int:
    """About 4 characters a token: for what no server has counted yet."""
    return sum(len(m["content"]) for m in messages) // 4 + 1


def context_tokens(node: Node, messages: list[dict[str, str]]) -> int:
    """The tokens of `messages`, the conversation to `node`: the server's count of the request and
    reply that made the node where it sent one, plus an estimate of the node's observation turn;
    else an estimate of the whole."""
    if not node.tokens:
        return estimated_tokens(messages)
    return node.tokens + (estimated_tokens(messages[-1:]) if messages[-1]["role"] == "user" else 0)


def sample_tokens(sample: Sample) -> int:
    """The conversation's tokens up to and with the sample's reply, as the server counted them."""
    return sample.prompt_tokens + sample.completion_tokens if sample.prompt_tokens else 0


def answer_reward(answer: str, label: str, rule: str = "strict") -> float:
    """+matched/total sub-answers under the reward rule (REWARD_RULES), -1 when none matches."""
    mode = REWARD_RULES[rule]
    expected = answer_dict(label, mode)
    verdicts = score_response(answer, expected, mode)
    matched = sum(verdicts.values())
    return matched / len(expected) if expected and matched else FAILURE_REWARD


class Searcher:
    """One task's search; `first` are its first turns, `label` its gold answer (collect mode)."""

    def __init__(self, first: list[dict[str, str]], label: str, policy: Policy, value: ValueFunction,
                 pool: StatePool, settings: SearchSettings) -> None:
        self.first, self.label = first, label
        self.policy, self.value, self.pool, self.settings = policy, value, pool, settings
        self.counts: Counter[str] = Counter()
        self.usage_before = Counter(getattr(policy, "usage", {}))  # the policy's token counts are over all tasks

    # -- the tree search ---------------------------------------------------------------------

    def search(self) -> SearchResult:
        settings = self.settings
        tree = Tree(settings.c_puct, settings.seed, settings.first_play, settings.widening, settings.children)
        deadline = time.monotonic() + settings.total_timeout_s
        for _ in range(settings.iterations):
            if time.monotonic() > deadline:
                self.counts["stopped_by_time"] += 1
                break
            leaf = tree.select()
            if leaf is None:
                if tree.exhausted:
                    break
                continue
            self.counts["iterations"] += 1
            if self.expand(tree, leaf):
                tree.backup(leaf, self.estimate(leaf))
        return self.result(tree)

    def expand(self, tree: Tree, leaf: Node) -> bool:
        """Add the leaf's children, backing up each terminal one; False when the leaf itself ended."""
        messages = conversation(self.first, leaf, self.settings.action_format)
        if context_tokens(leaf, messages) > self.settings.max_tokens:
            self.end(tree, leaf, TOKEN_LIMIT)
            return False
        try:
            samples = self.policy.sample(messages, 1 if self.settings.widening is not None else self.settings.children)
        except PolicyError as exc:
            self.counts[f"policy_{exc.kind}"] += 1
            self.end(tree, leaf, POLICY_FAILURE)
            return False
        if max(sample.prompt_tokens for sample in samples) > self.settings.max_tokens:  # the server's count
            self.end(tree, leaf, TOKEN_LIMIT)
            return False
        for sample in samples:
            self.add_step(tree, leaf, sample)
        return True

    def add_step(self, tree: Tree, parent: Node, sample: Sample) -> Node:
        if sample.failure is not None:  # one bad choice: one failed child, with its reason
            child = tree.add_child(parent, prior=sample.prior, reply=sample.text, tokens=sample_tokens(sample))
            self.failed_step(tree, child, sample.failure)
            return child
        step = parse_reply(sample.text, self.settings.action_format)
        child = tree.add_child(parent, thought=step.thought, prior=sample.prior, reply=sample.text,
                               tokens=sample_tokens(sample))
        if step.answer is not None:
            child.answer = step.answer
            self.end(tree, child, ANSWER, self.answer_value(child))
        elif step.problem is not None:
            self.failed_step(tree, child, step.problem)
        else:
            child.code = step.code
            observed = self.pool.run(parent, child, step.code or "")
            child.observation, child.cell_failed = observed.text, observed.failed
            child.consecutive_errors = parent.consecutive_errors + 1 if observed.failed else 0
            if observed.status == "timeout":
                self.failed_step(tree, child, TIMEOUT, observed)
            elif observed.status not in ("ok", "error"):
                self.failed_step(tree, child, SANDBOX_FAILURE, observed)
            elif child.consecutive_errors > self.settings.max_errors:
                self.end(tree, child, TOO_MANY_ERRORS)
            elif child.depth > self.settings.max_depth:  # as JUPITER: max_depth cells go on, the next one ends
                self.end(tree, child, DEPTH_LIMIT)
        return child

    def failed_step(self, tree: Tree, child: Node, kind: str, observed: Observed | None = None) -> None:
        """A step that failed: collect mode ends its branch; infer mode keeps it open (module doc)."""
        parent = child.parent
        if self.settings.mode != INFER or parent is None:
            self.end(tree, child, kind)
            return
        child.failure, child.reward = kind, FAILURE_REWARD
        child.observation = corrective_observation(kind, self.settings.action_format,
                                                   observed.status if observed else "", observed.text if observed else "")
        child.consecutive_errors = parent.consecutive_errors + 1
        if child.consecutive_errors > self.settings.max_errors:
            self.end(tree, child, TOO_MANY_ERRORS)
        elif child.depth > self.settings.max_depth:
            self.end(tree, child, DEPTH_LIMIT)
        else:
            self.counts[f"recoverable_{kind}"] += 1
            tree.backup(child, FAILURE_REWARD)
            self.pool.carry(parent, child)

    def end(self, tree: Tree, node: Node, kind: str, reward: float = FAILURE_REWARD) -> None:
        node.terminal, node.reward = kind, reward
        self.counts[f"terminal_{kind}"] += 1
        self.pool.drop(node)
        tree.backup(node, reward)

    def answer_value(self, node: Node) -> float:
        if self.settings.mode == COLLECT:
            return answer_reward(node.answer or "", self.label, self.settings.reward)
        return self.estimate(node)

    def estimate(self, node: Node) -> float:
        return self.value.score([conversation(self.first, node, self.settings.action_format)])[0]

    def result(self, tree: Tree) -> SearchResult:
        answers = tree.answers()
        usage = Counter(getattr(self.policy, "usage", {}))
        usage.subtract(self.usage_before)
        stats = {**self.counts, **{f"policy_{key}": n for key, n in usage.items()}, "nodes": len(tree.nodes), "answers": len(answers), "cells_run": self.pool.cells_run,
                 "replays": self.pool.replays, "replayed_cells": self.pool.replayed_cells,
                 "peak_live_states": self.pool.peak_live}
        return SearchResult(tree, majority_answer(answers), best_value_answer(answers), dict(stats), list(self.first),
                            exact_majority(answers))

    # -- the baselines -------------------------------------------------------------------------

    def react(self, seed_offset: int = 0) -> SearchResult:
        """One path: one sampled step at a time, until an answer or the end of the branch."""
        tree = Tree(0.0, self.settings.seed + seed_offset)
        deadline = time.monotonic() + self.settings.total_timeout_s
        node = tree.root
        while node.terminal is None and time.monotonic() < deadline:
            messages = conversation(self.first, node, self.settings.action_format)
            if context_tokens(node, messages) > self.settings.max_tokens:
                self.end(tree, node, TOKEN_LIMIT)
                break
            try:
                (sample,) = self.policy.sample(messages, 1)[:1]
            except (PolicyError, ValueError) as exc:
                self.counts[f"policy_{getattr(exc, 'kind', 'invalid_reply')}"] += 1
                self.end(tree, node, POLICY_FAILURE)
                break
            child = self.add_step(tree, node, sample)
            self.pool.drop(node)  # a path never comes back to a state it left
            node = child
        return self.result(tree)


def _canonical(answer: str) -> tuple:
    """Answers that say the same `@name[value]` items are one vote, in whatever order."""
    items = answer_dict(answer, STRICT)
    return tuple(sorted((name, value.strip()) for name, value in items.items())) if items else (answer.strip(),)


def majority_answer(answers: list[Node]) -> str | None:
    """The answer given most often; a tie goes to the group with the best Q, then the first found."""
    if not answers:
        return None
    groups: dict[tuple, list[Node]] = {}
    for node in answers:
        groups.setdefault(_canonical(node.answer or ""), []).append(node)
    best = max(groups.values(), key=lambda nodes: (len(nodes), max(n.q for n in nodes), -nodes[0].id))
    return best[0].answer


def exact_majority(answers: list[Node]) -> str | None:
    """JUPITER's vote: the answer string given most often, compared exactly; a tie goes to the
    first found. Recorded beside ours, which counts the same `@name[value]` items in any order as
    one answer and breaks ties by Q."""
    if not answers:
        return None
    counts = Counter(node.answer or "" for node in answers)
    return max(counts, key=lambda answer: counts[answer])  # max keeps the first of equal counts


def best_value_answer(answers: list[Node]) -> str | None:
    if not answers:
        return None
    return max(answers, key=lambda node: (node.q, -node.id)).answer


def vote_over_paths(results: list[SearchResult]) -> str | None:
    """The majority answer of several ReAct paths."""
    finals = [node for result in results for node in result.tree.answers()]
    return majority_answer(finals)
