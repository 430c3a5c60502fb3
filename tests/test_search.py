"""The search: PUCT trees through a scripted policy, live forked states, the CLI over the demo's
tasks (a policy that replays each task's solution scores 100 %), resume, and policy faults.

The policy is a fake OpenAI-compatible server on 127.0.0.1 (tests/fake_openai.py) that answers
from a plan: the reply depends on the path so far, which the plan reads from the `# label`
comment of each code cell in the conversation.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI, Reply, error
from nbqa_builder.sandbox import Limits, WarmWorker
from nbqa_builder.search.mcts import Searcher, SearchSettings, answer_reward
from nbqa_builder.search.policy import OpenAIPolicy
from nbqa_builder.search.states import StatePool
from nbqa_builder.search.tree import Tree
from nbqa_builder.turns import DEFAULT_TEMPLATE, first_turns, parse_reply
from test_pipeline import ROOT, demo_recipe, run_cli

LABEL = "@answer[42]"


def code_step(label: str, code: str) -> str:
    return f"Thought: step {label}.\nAction:\n```python\n{code}  # {label}\n```"


def answer_step(value: str) -> str:
    return f"Thought: I know it now.\nFormatted answer: @answer[{value}]"


def path_of(body: dict) -> tuple[str, ...]:
    """The labels of the code cells run so far, from the `# label` comments in the conversation."""
    return tuple(re.findall(r"  # (\w+)\n```", "".join(m["content"] for m in body["messages"] if m["role"] == "assistant")))


def planned(plan: dict[tuple[str, ...], list[tuple[str, float]]]):
    """A policy script: the replies planned for each path, with the prior each should get."""

    def script(body: dict) -> Reply:
        steps = plan[path_of(body)][: body.get("n", 1)]
        return Reply(choices=[text for text, _ in steps], logprobs=[[math.log(prior)] * 3 for _, prior in steps])

    return script


class PlannedValue:
    """A value-function double: the value of a state is planned for the last cell's label."""

    def __init__(self, values: dict[str, float]) -> None:
        self.values, self.calls = values, []

    def score(self, conversations):
        labels = [(re.findall(r"  # (\w+)\n```", "".join(m["content"] for m in c if m["role"] == "assistant")) or ["root"])[-1]
                  for c in conversations]
        self.calls += labels
        return [self.values[label] for label in labels]


@pytest.fixture(scope="module")
def worker():
    with WarmWorker("process", Limits(timeout_s=30, total_timeout_s=120)) as warm:
        yield warm


def search(worker, tmp_path, plan, values, **settings) -> tuple[Tree, object]:
    first = first_turns({"task": "What is the answer?", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    with FakeOpenAI(planned(plan)) as server:
        policy = OpenAIPolicy(server.base_url, "planned", max_attempts=2, max_wait_s=0.1)
        max_live = settings.pop("max_live", 16)
        settings = SearchSettings(**settings)
        with StatePool(worker, {}, ".", max_live, 20, settings.final_expression, settings.observation_chars) as pool:
            searcher = Searcher(first, LABEL, policy, PlannedValue(values), pool, settings)
            result = searcher.search()
            return result, pool


PLAN = {
    (): [(code_step("A", "a = 40"), 0.8), (code_step("B", "b = 1"), 0.2)],
    ("A",): [(answer_step("42"), 0.9), (code_step("A2", "a += 2"), 0.5)],
    ("B",): [(answer_step("7"), 0.9), (code_step("B2", "b += 1"), 0.5)],
    ("A", "A2"): [(answer_step("42"), 0.7), (answer_step("0"), 0.3)],
    ("B", "B2"): [(answer_step("42"), 0.6), (answer_step("1"), 0.4)],
}
VALUES = {"root": 0.0, "A": 0.4, "B": -0.4, "A2": 0.6, "B2": 0.1}


def by_label(tree: Tree) -> dict[str, tuple[int, float]]:
    """label -> (visits, value sum): code nodes by their cell's label, answers by parent label + value."""
    found = {"root": (tree.root.visits, round(tree.root.value_sum, 9))}
    for node in tree.nodes[1:]:
        if node.code:
            label = node.code.rsplit("# ", 1)[1]
        else:
            parent = node.parent.code.rsplit("# ", 1)[1] if node.parent.code else "root"
            label = f"{parent}:{node.answer}"
        found[label] = (node.visits, round(node.value_sum, 9))
    return found


def test_puct_with_exploration_follows_the_hand_computed_tree(worker, tmp_path):
    """c = 1.25. Iteration 1 expands the root (A, B) and backs up V(root) = 0. Iteration 2:
    PUCT(A) = 0 + 1.25 * 0.8 * sqrt(1) / 1 = 1.0 beats PUCT(B) = 0.25: A is expanded; its answer
    42 is right (+1 through A and the root), then V(A) = 0.4 is backed up: A (2, 1.4), root (3, 1.4).
    Iteration 3: PUCT(A) = 0.7 + 1.25 * 0.8 * sqrt(3) / 3 = 1.277 beats PUCT(B) = 0.433; under A
    only A2 is open: its answers 42 (+1) and 0 (-1), then V(A2) = 0.6."""
    result, pool = search(worker, tmp_path, PLAN, VALUES, iterations=3, children=2, c_puct=1.25)
    assert by_label(result.tree) == {
        "root": (6, 2.0), "A": (5, 2.0), "B": (0, 0.0), "A:@answer[42]": (1, 1.0), "A2": (3, 0.6),
        "A2:@answer[42]": (1, 1.0), "A2:@answer[0]": (1, -1.0),
    }
    assert [round(n.prior, 6) for n in result.tree.root.children] == [0.8, 0.2]  # exp(mean logprob)
    assert result.vote == result.best_value == "@answer[42]"
    assert pool.cells_run == 3 and pool.replayed_cells == 0  # one new cell per code child


def test_puct_without_exploration_is_greedy_on_q_with_seeded_ties(worker, tmp_path):
    """c = 0: after the root's expansion A and B both have Q = 0, a tie the tree's generator breaks
    (random.Random(seed).choice); the other child is expanded next, as its Q of 0 then beats the
    first's (B: -1 and -0.4 give Q = -0.7; A: +1 and 0.4 give 0.7, and A stays ahead)."""
    seed = 3
    first = random.Random(seed).choice(["A", "B"])
    result, _ = search(worker, tmp_path, PLAN, VALUES, iterations=3, children=2, c_puct=0.0, seed=seed)
    found = by_label(result.tree)
    if first == "A":  # A: answer 42 (+1), V(A)=0.4 -> Q(A) = 0.7 > Q(B) = 0: A again, then A2's answers
        assert found["A"] == (5, 2.0) and found["B"] == (0, 0.0) and found["root"] == (6, 2.0)
    else:  # B: answer 7 (-1), V(B) = -0.4 -> Q(B) = -0.7 < Q(A) = 0: A next
        assert found["B"] == (2, -1.4) and found["A"] == (2, 1.4) and found["root"] == (5, 0.0)
    assert all(node.visits >= 0 for node in result.tree.nodes)


def test_rewards_are_the_strict_scorers_verdicts():
    assert answer_reward("@answer[42]", "@answer[42]") == 1.0
    assert answer_reward("@answer[42.0000001]", "@answer[42]") == 1.0  # the official 1e-6 tolerance
    assert answer_reward("@answer[42.1]", "@answer[42]") == -1.0
    assert answer_reward("@a[1] @b[3]", "@a[1] @b[2]") == 0.5  # matched / total sub-answers
    assert answer_reward("no answer at all", "@a[1]") == -1.0


def test_the_jupiter_reward_rule_is_its_checkers_and_the_default():
    assert answer_reward("@mean_price[5.412]", "@mean_price[5.41]", "strict") == -1.0
    assert answer_reward("@mean_price[5.412]", "@mean_price[5.41]", "jupiter") == 1.0  # within 0.1 %
    assert answer_reward("@a[np.float64(1.0)] @b[3]", "@a[1] @b[2]", "jupiter") == 0.5
    assert SearchSettings().reward == "jupiter"


def test_the_reward_rule_decides_a_searched_answers_reward(worker, tmp_path):
    plan = {(): [(answer_step("42.01"), 1.0)]}
    strict, _ = search(worker, tmp_path, plan, {"root": 0.0}, iterations=1, children=1, reward="strict")
    jupiter, _ = search(worker, tmp_path, plan, {"root": 0.0}, iterations=1, children=1)
    assert strict.tree.root.children[0].reward == -1.0 and jupiter.tree.root.children[0].reward == 1.0


def test_a_forked_state_has_its_parents_variables_and_files_and_none_of_its_siblings(worker, tmp_path):
    plan = {
        (): [(code_step("A", "x = 1; open('a.txt', 'w').write('A')"), 0.6),
             (code_step("B", "y = 2; open('b.txt', 'w').write('B')"), 0.4)],
        ("A",): [(code_step("C", "import os; print(x, 'y' in globals(), os.path.exists('a.txt'), os.path.exists('b.txt'))"), 1.0)],
        ("B",): [(answer_step("1"), 1.0)],
        ("A", "C"): [(answer_step("42"), 1.0)],
    }
    result, pool = search(worker, tmp_path, plan, {"root": 0, "A": 1, "B": -1, "C": 0}, iterations=2, children=2, c_puct=1.0)
    children = [node for node in result.tree.nodes if node.code and "# C" in node.code]
    assert children and all(child.observation == "1 False True False" for child in children)


def test_states_closed_over_the_pool_are_rebuilt_by_replay(worker, tmp_path):
    result, pool = search(worker, tmp_path, PLAN, VALUES, iterations=3, children=2, c_puct=1.25, max_live=1)
    assert by_label(result.tree)["A2"] == (3, 0.6)  # the same tree
    assert pool.replays >= 1 and pool.replayed_cells >= 1 and pool.peak_live <= 1


# ---------------------------------------------------------------------------------------------
# The CLI over the demo's interactive tasks


@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("search-demo")
    result = run_cli("run", str(demo_recipe(tmp_path)), "--no-progress")
    assert result.returncode == 0, result.stderr
    return tmp_path / "out" / "dataset"


def replaying(tasks: list, wrong: bool = False):
    """A policy that replays each task's own solution, step by step (or answers wrongly)."""
    by_question = {task.task: task for task in tasks}

    def script(body: dict) -> Reply:
        user = body["messages"][1]["content"]
        task = next(t for question, t in by_question.items() if f": {question}\n" in user)
        done = sum(1 for m in body["messages"] if m["role"] == "assistant")
        code = [s for s in task.solution if s.python_code]
        if done < len(code):
            step = code[done]
            text = f"Thought: {step.thought}\nAction:\n```python\n{step.python_code}\n```"
        else:
            label = task.label if not wrong else re.sub(r"\[([^\]]*)\]", lambda m: "[" + m.group(1) + "999]", task.label)
            text = f"Thought: done.\nFormatted answer: {label}"
        return Reply(choices=[text] * body.get("n", 1))

    return script


def search_cli(out: Path, server: FakeOpenAI, dataset: Path, *extra: str, **kwargs):
    return subprocess.run([sys.executable, "-m", "nbqa_builder", "search", "--tasks", f"{dataset}:interactive",
                           "--policy", server.base_url, "--model", "replay", "--out", str(out), "--sandbox", "process",
                           "--iterations", "20", "--children", "2", "--no-progress", *extra],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OPENAI_API_KEY": "sk-test"},
                          timeout=900, **kwargs)


def evaluate(out: Path, dataset: Path) -> dict:
    result = run_cli("evaluate", "--tasks", str(dataset), "--config", "interactive", "--responses",
                     str(out / "responses.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_policy_replaying_the_solutions_scores_100_and_a_wrong_one_0(demo_dataset, tmp_path):
    import nbqa_builder

    tasks = nbqa_builder.load_tasks(demo_dataset, "interactive")
    assert tasks
    with FakeOpenAI(replaying(tasks)) as server:
        result = search_cli(tmp_path / "right", server, demo_dataset)
    assert result.returncode == 0, result.stderr
    scores = evaluate(tmp_path / "right", demo_dataset)
    assert scores["ABQ"] == 1.0 and scores["answered"] == scores["questions"] == len(tasks)
    trees = sorted((tmp_path / "right" / "trees").glob("*.jsonl"))
    assert len(trees) == len(tasks)
    header, *nodes = [json.loads(line) for line in trees[0].read_text().splitlines()]
    assert header["type"] == "tree" and header["mode"] == "collect" and nodes[0]["parent"] is None
    assert header["reward"] == "jupiter"  # collect mode's default rule, recorded
    for path in (tmp_path / "right" / "results").glob("*.json"):  # JUPITER's exact-string vote, beside ours
        result_json = json.loads(path.read_text())
        assert result_json["jupiter_vote"] == result_json["vote"] == result_json["label"]
    with FakeOpenAI(replaying(tasks, wrong=True)) as server:
        result = search_cli(tmp_path / "wrong", server, demo_dataset)
    assert result.returncode == 0, result.stderr
    assert evaluate(tmp_path / "wrong", demo_dataset)["ABQ"] == 0.0


def test_a_killed_search_run_again_finishes_without_searching_finished_tasks(demo_dataset, tmp_path):
    import nbqa_builder

    tasks = nbqa_builder.load_tasks(demo_dataset, "interactive")
    out = tmp_path / "search"
    script = replaying(tasks)
    slow = lambda body: Reply(**{**script(body).__dict__, "delay_s": 0.3})  # noqa: E731
    with FakeOpenAI(slow) as server:
        process = subprocess.Popen([sys.executable, "-m", "nbqa_builder", "search", "--tasks", f"{demo_dataset}:interactive",
                                    "--policy", server.base_url, "--model", "replay", "--out", str(out), "--sandbox",
                                    "process", "--iterations", "20", "--children", "2", "--no-progress"],
                                   cwd=ROOT, env={**os.environ, "OPENAI_API_KEY": "sk-test"}, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(list((out / "results").glob("*.json"))) < 2:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert 2 <= len(finished) < len(tasks)
    with FakeOpenAI(script) as server:
        result = search_cli(out, server, demo_dataset)
        asked = {body["messages"][1]["content"] for body in (r.body for r in server.requests)}
    assert result.returncode == 0, result.stderr
    assert f"({len(finished)} done before)" in result.stdout
    assert len(list((out / "results").glob("*.json"))) == len(tasks)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json") if p.name in finished} == finished
    searched_again = {json.loads((out / "results" / name).read_text())["id"] for name in finished}
    questions = {t.id: t.task for t in tasks}
    assert not [i for i in searched_again if any(f"Question: {questions[i]}\n" in text for text in asked)]
    assert evaluate(out, demo_dataset)["ABQ"] == 1.0


@pytest.mark.parametrize("faults, kind", [
    ([error(500, "server_error")] * 10, "policy_failure"),
    ([Reply(content="{}", delay_s=2.0)] * 10, "policy_failure"),  # slower than the client's timeout
])
def test_policy_faults_end_as_recorded_terminal_kinds(worker, tmp_path, faults, kind):
    first = first_turns({"task": "q", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    with FakeOpenAI(planned(PLAN), faults=list(faults)) as server:
        policy = OpenAIPolicy(server.base_url, "m", max_attempts=2, max_wait_s=0.05, timeout_s=0.5)
        with StatePool(worker, {}, ".", 8, 20) as pool:
            result = Searcher(first, LABEL, policy, PlannedValue(VALUES), pool, SearchSettings(iterations=2, children=2)).search()
    assert result.tree.root.terminal == kind and result.tree.root.reward == -1.0
    assert result.vote is None


def test_a_rate_limit_is_waited_out_and_the_search_goes_on(worker, tmp_path):
    first = first_turns({"task": "q", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    with FakeOpenAI(planned(PLAN), faults=[error(429, "rate_limit_exceeded", retry_after="0.2")]) as server:
        policy = OpenAIPolicy(server.base_url, "m", max_attempts=3, max_wait_s=1)
        with StatePool(worker, {}, ".", 8, 20) as pool:
            result = Searcher(first, LABEL, policy, PlannedValue(VALUES), pool,
                              SearchSettings(iterations=3, children=2, c_puct=1.25)).search()
        assert server.requests[1].at - server.requests[0].at >= 0.19
    assert result.vote == "@answer[42]"


def test_the_search_prompts_as_export_sft_writes_and_its_trees_become_value_data(demo_dataset, tmp_path):
    # a model trained on `export sft --template T --file-names name --actions raw` must be searched
    # with the same text, and value-data must render the trees' turns the same way again
    import datasets

    import nbqa_builder

    template = tmp_path / "prompt.md"
    template.write_text("---\nsystem: You analyse data.\n---\nSolve: {question}\nRules: {constraints}\n"
                        "Answer as: {format}\nFiles: {files}\nWrite {action_rule}\n")
    exported = tmp_path / "chats.jsonl"
    done = run_cli("export", "sft", demo_dataset, "--config", "interactive", "--to", exported, "--template", template,
                   "--file-names", "name", "--actions", "raw", "--final-expression", "keep", "--sandbox", "off")
    assert done.returncode == 0, done.stderr
    chats = [json.loads(line)["messages"] for line in exported.read_text().splitlines()]

    def trained_model(body: dict) -> Reply:  # replies as the export taught: its own assistant turns
        messages = body["messages"]
        chat = next(c for c in chats if c[1] == messages[1])
        done = sum(1 for m in messages if m["role"] == "assistant")
        return Reply(choices=[[m for m in chat if m["role"] == "assistant"][done]["content"]] * body.get("n", 1))

    out = tmp_path / "search"
    with FakeOpenAI(trained_model) as server:
        result = search_cli(out, server, demo_dataset, "--prompt", str(template), "--file-names", "name",
                            "--actions", "raw", "--final-expression", "keep", "--limit", "2", "--iterations", "4")
        bodies = [r.body["messages"] for r in server.requests]
    assert result.returncode == 0, result.stderr
    assert bodies
    for messages in bodies:
        chat = next(c for c in chats if c[1] == messages[1])  # the export's first turns, word for word
        assert messages[0] == chat[0] and messages[0]["content"] == "You analyse data."
        for sent, trained in zip(messages[2:], chat[2:]):
            assert sent == trained  # the same Thought / raw Action / Observation turns
    deepest = max(bodies, key=len)
    assert len(deepest) > 3 and deepest[2]["content"].count("Action: ") == 1 and "```" not in deepest[2]["content"]

    done = run_cli("value-data", out / "trees", "--out", tmp_path / "values")
    assert done.returncode == 0, done.stderr
    assert evaluate(out, demo_dataset)["answered"] == 2  # the files were served by name: the code ran
    rows = datasets.load_dataset(str(tmp_path / "values"), split="train")
    assert len(rows) > 0
    trees = {json.loads(p.read_text().splitlines()[0])["task_id"]: json.loads(p.read_text().splitlines()[0])
             for p in (out / "trees").glob("*.jsonl")}
    for row in rows:
        header = trees[row["task_id"]]
        assert header["action_format"] == "raw" and header["final_expression"] == "keep"
        assert [m["content"] for m in row["messages"][:2]] == [header["system_prompt"], header["first_user_turn"]]
        assert not any("```" in m["content"] for m in row["messages"] if m["role"] == "assistant")
    assert {row["value"] for row in rows if row["terminal"] == "answer"} == {1.0}  # the right answers
    assert json.loads((tmp_path / "values" / "stats.json").read_text())["reward"] == "jupiter"


# ---------------------------------------------------------------------------------------------
# Bad samples among good ones


def test_an_empty_choice_among_good_ones_is_one_failed_child_and_its_siblings_are_kept(worker, tmp_path):
    """3 choices, the second empty: the code step and the answer are kept, the empty one is a
    child ended as empty_reply with -1. Root: -1 (empty) + 1 (answer 42) + V(root) = 0."""
    plan = {(): [(code_step("A", "a = 40"), 0.8), ("", 0.5), (answer_step("42"), 0.9)]}
    result, pool = search(worker, tmp_path, plan, {"root": 0.0}, iterations=1, children=3)
    code, empty, answer = result.tree.root.children
    assert code.code == "a = 40  # A" and code.terminal is None and code.observation == ""
    assert (empty.terminal, empty.reward, empty.reply, round(empty.prior, 6)) == ("empty_reply", -1.0, "", 0.5)
    assert (answer.terminal, answer.reward) == ("answer", 1.0)
    assert (result.tree.root.visits, result.tree.root.value_sum) == (3, 0.0)
    assert result.tree.root.terminal is None and result.vote == "@answer[42]"


def test_a_server_that_ignores_n_and_then_fails_keeps_the_choices_that_came(worker, tmp_path):
    """An Ollama-like server answers one choice per request: the first is good, then 5xx only.
    The good choice is one child; the leaf is not ended as a policy failure."""
    first = first_turns({"task": "q", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    served = []

    def one_then_errors(body):
        served.append(body)
        return Reply(content=answer_step("42")) if len(served) == 1 else error(500, "server_error")

    with FakeOpenAI(one_then_errors) as server:
        policy = OpenAIPolicy(server.base_url, "m", max_attempts=2, max_wait_s=0.05)
        with StatePool(worker, {}, ".", 8, 20) as pool:
            result = Searcher(first, LABEL, policy, PlannedValue({"root": 0.0}), pool,
                              SearchSettings(iterations=1, children=3)).search()
    assert [(c.terminal, c.reward) for c in result.tree.root.children] == [("answer", 1.0)]
    assert result.tree.root.terminal is None and result.vote == "@answer[42]"
    assert [body["n"] for body in served] == [3, 2, 2]  # asked again for the missing two, then gave up


def test_replies_without_any_text_are_failed_children_not_a_lost_leaf(worker, tmp_path):
    first = first_turns({"task": "q", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    with FakeOpenAI(lambda body: Reply(choices=[""] * body["n"])) as server:
        policy = OpenAIPolicy(server.base_url, "m", max_attempts=2, max_wait_s=0.05)
        with StatePool(worker, {}, ".", 8, 20) as pool:
            result = Searcher(first, LABEL, policy, PlannedValue({"root": 0.0}), pool,
                              SearchSettings(iterations=2, children=2)).search()
    assert [c.terminal for c in result.tree.root.children] == ["empty_reply", "empty_reply"]
    assert result.tree.root.terminal is None and result.tree.exhausted and result.vote is None


def test_depth_10_allows_10_continuing_cells_and_ends_the_eleventh(worker, tmp_path):
    """As JUPITER (`depth > MAX_DEPTH`): cells at depths 1..10 go on, the cell at depth 11 ends."""
    first = first_turns({"task": "q", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)

    def one_more_cell(body):
        depth = len(path_of(body)) + 1
        return Reply(choices=[code_step(f"D{depth}", f"d = {depth}")] * body["n"])

    with FakeOpenAI(one_more_cell) as server:
        policy = OpenAIPolicy(server.base_url, "m", max_attempts=2, max_wait_s=0.05)
        with StatePool(worker, {}, ".", 4, 20) as pool:
            result = Searcher(first, LABEL, policy, PlannedValue({f"D{d}": 0.0 for d in range(12)} | {"root": 0.0}),
                              pool, SearchSettings(iterations=15, children=1, max_depth=10)).search()
    chain = result.tree.nodes[1:]
    assert [node.depth for node in chain] == list(range(1, 12))
    assert [node.terminal for node in chain] == [None] * 10 + ["depth_limit"]
    assert result.stats["iterations"] == 11  # nothing left to expand after the eleventh


# ---------------------------------------------------------------------------------------------
# What counts as a step: a well-formed python block, as JUPITER's search reads replies


@pytest.mark.parametrize("reply, action_format, problem", [
    ("Thought: mean.\nAction: I will now compute the mean of the column.", "fenced", "parse_failure"),
    ("Thought: mean.\nAction:\n```\nx = 1\n```", "fenced", "parse_failure"),  # a bare fence
    ("Thought: mean.\nAction:\n```py\nx = 1\n```", "fenced", "parse_failure"),
    ("Thought: mean.\nAction:\n```python\nx = 1\nprint(", "fenced", "parse_failure"),  # cut inside its block
    ("Thought: mean.\nAction:\n```python\n\n```", "fenced", "no_code"),
    ("Thought: mean.\nAction: I will now compute the mean of the column.", "raw", "parse_failure"),
    ("Thought: mean.\nAction:\n```\nx = 1\n```", "raw", "parse_failure"),
    ("Just chatting.", "fenced", "parse_failure"),
])
def test_a_reply_without_a_well_formed_block_is_not_a_step(reply, action_format, problem):
    step = parse_reply(reply, action_format)
    assert (step.code, step.problem) == (None, problem)


@pytest.mark.parametrize("reply, action_format", [
    ("Thought: mean.\nAction:\n```python\nx = 1\n```", "fenced"),
    ("Thought: mean.\nAction:\n```python\nx = 1\n```", "raw"),
    ("Thought: mean.\nAction: x = 1", "raw"),
])
def test_a_python_block_or_raw_python_is_the_cell(reply, action_format):
    step = parse_reply(reply, action_format)
    assert (step.thought, step.code, step.problem) == ("mean.", "x = 1", None)


def test_prose_after_action_and_a_bare_fence_end_their_branches_without_running(worker, tmp_path):
    plan = {(): [("Thought: look.\nAction: I will print the mean.", 0.5),
                 ("Thought: look.\nAction:\n```\nprint(1)  # BARE\n```", 0.5),
                 (code_step("A", "a = 1"), 0.5)],
            ("A",): [(answer_step("42"), 1.0)] * 3}
    result, pool = search(worker, tmp_path, plan, {"root": 0.0, "A": 0.0}, iterations=2, children=3)
    prose, bare, code = result.tree.root.children
    assert [(prose.terminal, prose.code), (bare.terminal, bare.code)] == [("parse_failure", None)] * 2
    assert prose.reward == bare.reward == -1.0 and code.terminal is None
    assert pool.cells_run == 1  # only the python block ran


# ---------------------------------------------------------------------------------------------
# Infer mode: a failed step stays open, told what went wrong, as in JUPITER's inference


def recovering(body: dict) -> Reply:
    """A cell that kills its kernel, then prose, then a good cell, then the answer."""
    done = sum(1 for m in body["messages"] if m["role"] == "assistant")
    steps = [code_step("X", "import os; os._exit(3)"), "Thought: hmm.\nAction: I will compute it.",
             code_step("A", "a = 42\nprint('a' in globals(), 'X' in dir())"), answer_step("42")]
    return Reply(choices=[steps[min(done, 3)]] * body["n"])


@pytest.mark.parametrize("mode", ["infer", "collect"])
def test_infer_mode_recovers_from_a_sandbox_failure_and_a_parse_failure(worker, tmp_path, mode):
    first = first_turns({"task": "q", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    with FakeOpenAI(recovering) as server:
        policy = OpenAIPolicy(server.base_url, "m", max_attempts=2, max_wait_s=0.05)
        with StatePool(worker, {}, ".", 8, 20) as pool:
            result = Searcher(first, LABEL, policy, PlannedValue({"root": 0.0, "X": 0.0, "A": 0.5}), pool,
                              SearchSettings(mode=mode, iterations=6, children=1, c_puct=0.0)).search()
        bodies = [r.body["messages"] for r in server.requests]
    if mode == "collect":  # the first failure ends the only branch
        assert [(n.terminal, n.failure) for n in result.tree.nodes[1:]] == [("sandbox_failure", None)]
        assert result.vote is None
        return
    died, prose, code, answer = result.tree.nodes[1:]
    assert (died.terminal, died.failure, died.reward, died.code) == (None, "sandbox_failure", -1.0, "import os; os._exit(3)  # X")
    assert died.observation.startswith("Code execution failed with status: ")
    assert (prose.terminal, prose.failure, prose.code) == (None, "parse_failure", None)
    assert "should contain both 'Thought:' and 'Action:'" in prose.observation and "```python" in prose.observation
    assert code.observation == "True False" and code.consecutive_errors == 0  # X's state is gone, A ran from the root's
    assert (answer.terminal, answer.reward) == ("answer", 0.5) and result.vote == "@answer[42]"
    third = bodies[2]  # what the policy saw before it recovered: its failed steps and what was wrong
    assert third[-4]["content"].endswith("```python\nimport os; os._exit(3)  # X\n```")
    assert third[-3]["content"].startswith("Observation:\nCode execution failed with status: ")
    assert third[-2] == {"role": "assistant", "content": "Thought: hmm.\nAction: I will compute it."}
    assert third[-1]["content"].startswith("Observation:\nYou response should contain both")
    assert result.tree.root.visits == 7  # -1 (X), V(root); -1 (prose), V(X); V(prose); +0.5 (answer), V(A)


# ---------------------------------------------------------------------------------------------
# Observations as `export sft` renders them


@pytest.mark.parametrize("final_expression, code, shown", [
    ("print", "import numpy as np\nprint('mean:')\nnp.float64(5.41)", "mean:\n5.41"),  # as print(...) shows it
    ("keep", "import numpy as np\nprint('mean:')\nnp.float64(5.41)", "mean:\nnp.float64(5.41)"),  # as displayed
    ("print", "'abc'", "abc"),
    ("keep", "'abc'", "'abc'"),
])
def test_an_observation_shows_a_final_expression_as_the_export_renders_it(worker, tmp_path, final_expression, code,
                                                                         shown):
    plan = {(): [(code_step("A", code), 1.0)]}
    result, _ = search(worker, tmp_path, plan, {"root": 0.0}, iterations=1, children=1,
                       final_expression=final_expression)
    assert result.tree.root.children[0].observation == shown


def test_the_observation_cap_is_an_option(worker, tmp_path):
    plan = {(): [(code_step("A", "print('x' * 50)"), 1.0)]}
    capped, _ = search(worker, tmp_path, plan, {"root": 0.0}, iterations=1, children=1, observation_chars=10)
    whole, _ = search(worker, tmp_path, plan, {"root": 0.0}, iterations=1, children=1)
    assert capped.tree.root.children[0].observation == "x" * 10 + "\n... [output truncated]"
    assert whole.tree.root.children[0].observation == "x" * 50


# ---------------------------------------------------------------------------------------------
# Policy settings: reply tokens, its own timeout, tokens as the server counts them


def test_replies_get_8192_tokens_by_default_and_a_reply_cut_there_is_a_parse_failure(worker, tmp_path):
    """The fake cuts each reply after max_tokens tokens (4 characters each), as a server stops a
    reply at max_tokens: cut inside its python block, it is no step."""
    first = first_turns({"task": "q", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    long_step = code_step("A", "a = 1\n" + "# " + "x" * 100 + "\nprint(a)")

    def cut(body):
        return Reply(choices=[long_step[: body["max_tokens"] * 4]] * body["n"])

    results = {}
    for reply_tokens in (None, 10):
        with FakeOpenAI(cut) as server:
            options = {} if reply_tokens is None else {"max_tokens": reply_tokens}
            policy = OpenAIPolicy(server.base_url, "m", max_attempts=2, max_wait_s=0.05, **options)
            with StatePool(worker, {}, ".", 8, 20) as pool:
                result = Searcher(first, LABEL, policy, PlannedValue({"root": 0.0, "A": 0.0}), pool,
                                  SearchSettings(iterations=1, children=1)).search()
            results[reply_tokens] = ([r.body["max_tokens"] for r in server.requests], result.tree.root.children[0])
    assert results[None][0] == [8192] and results[None][1].observation == "1"
    assert results[10][0] == [10] and (results[10][1].terminal, results[10][1].code) == ("parse_failure", None)


def test_tokens_are_the_servers_count_where_it_sends_one(worker, tmp_path):
    result, _ = search(worker, tmp_path, PLAN, VALUES, iterations=3, children=2, c_puct=1.25)
    a = next(node for node in result.tree.nodes if node.code == "a = 40  # A")
    first = first_turns({"task": "What is the answer?", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    assert a.tokens == len(json.dumps(first)) // 4 + 1 + 3  # the fake's prompt count, and the choice's 3 logprobs
    assert result.stats["policy_prompt_tokens"] > 0 and result.stats["policy_completion_tokens"] > 0


def test_the_context_limit_uses_the_servers_count(worker, tmp_path):
    """The first turns are estimated (4 characters a token) below the limit; the server counts more
    (the fake counts the JSON of the messages): the root ends as token_limit on the server's count."""
    first = first_turns({"task": "What is the answer?", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    estimate, counted = sum(len(m["content"]) for m in first) // 4 + 1, len(json.dumps(first)) // 4 + 1
    assert counted - estimate >= 2
    result, _ = search(worker, tmp_path, PLAN, VALUES, iterations=2, children=2, max_tokens=(estimate + counted) // 2)
    assert result.tree.root.terminal == "token_limit" and len(result.tree.nodes) == 1
    result, _ = search(worker, tmp_path, PLAN, VALUES, iterations=2, children=2, max_tokens=counted + 200)
    assert result.tree.root.terminal is None and len(result.tree.nodes) > 1


def test_a_policy_slower_than_the_cell_timeout_is_waited_for(demo_dataset, tmp_path):
    """The policy's HTTP timeout is its own option: a 2 s reply with 1 s cells still comes."""
    import nbqa_builder

    tasks = nbqa_builder.load_tasks(demo_dataset, "interactive")
    script = replaying(tasks)
    slow = lambda body: Reply(**{**script(body).__dict__, "delay_s": 2.0})  # noqa: E731
    with FakeOpenAI(slow) as server:
        result = search_cli(tmp_path / "slow", server, demo_dataset, "--limit", "1", "--iterations", "1",
                            "--children", "1", "--cell-timeout", "1", "--reply-tokens", "512")
        asked = [r.body["max_tokens"] for r in server.requests]
    assert result.returncode == 0, result.stderr
    stats = json.loads(next((tmp_path / "slow" / "results").glob("*.json")).read_text())["stats"]
    assert "policy_timeout" not in stats and stats["nodes"] == 2 and asked == [512]
    assert stats["policy_prompt_tokens"] > 0


# ---------------------------------------------------------------------------------------------
# Forked sessions from an interpreter whose files lie under a job's fresh mounts


# Run by the interpreter under test: a job's first session (as solve and verify start theirs), a
# fork sharing its files (export sft's probe), and search expansions, each a fork with its own files.
FORKS_FROM_VENV = r"""
import json, os, time
from nbqa_builder.sandbox import Limits, WarmWorker
from nbqa_builder.search.states import StatePool
from nbqa_builder.search.tree import Tree

report = {"expansions_s": []}
with WarmWorker("bwrap", Limits(timeout_s=60, total_timeout_s=300)) as worker:
    report["verify"] = worker.run_notebook(["print(6 * 7)"], {}, "").cells[0].outputs[0]["text"]
    with StatePool(worker, {"data/a.csv": os.environ["DATA_FILE"]}, "data", 8, 60) as pool:
        probe = pool.root.fork()
        report["shared_fork"] = probe.run_cell("print(open('a.csv').read())").outputs[0]["text"]
        probe.kill()
        tree, node = Tree(1.0, 0), None
        node = tree.root
        for depth in range(3):
            child = tree.add_child(node, code=f"x{depth} = {depth}")
            started = time.monotonic()
            observed = pool.run(node, child, f"x{depth} = {depth}\nprint(sorted(globals().keys() & {{'x0', 'x1', 'x2'}}))")
            report["expansions_s"].append(time.monotonic() - started)
            node = child
        report["last"] = observed.text
        listing = pool.run(node, tree.add_child(node), "import os\nprint(sum(len(f) for _, _, f in os.walk('/work/.nbqa-branches')))")
        report["files_in_branches"] = listing.text
print(json.dumps(report))
"""


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
@pytest.mark.parametrize("place", ["tmp_path", "checkout"])
def test_forked_sessions_are_quick_from_a_venv_wherever_it_lies(place, tmp_path):
    """A venv inside the checkout lies under the sandbox's /work when the checkout does (a clone
    at /work/<x> with the README's .venv): each job binds it back inside the job folder, and every
    branch once copied it whole (a minute per expansion with a large install, or no start at all)."""
    base = Path(tempfile.mkdtemp(prefix=".nbqa-venv-", dir=ROOT)) if place == "checkout" else tmp_path
    try:
        venv = base / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
        with open(venv / "lib" / "ballast.bin", "wb") as ballast:  # a large install, made quickly (sparse)
            ballast.truncate(1 << 28)
        data = tmp_path / "a.csv"
        data.write_text("a,b\n1,2\n")
        done = subprocess.run([str(venv / "bin" / "python"), "-c", FORKS_FROM_VENV], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "DATA_FILE": str(data)}, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if place == "checkout":
            shutil.rmtree(base)
    assert report["verify"] == "42\n" and report["shared_fork"] == "a,b\n1,2\n\n"
    assert report["last"] == "['x0', 'x1', 'x2']"
    assert report["files_in_branches"] == "4"  # a.csv in each of the 4 branches' copies, nothing of the venv
    assert max(report["expansions_s"]) < 10, report["expansions_s"]


# -- the final answer and the selection, beside JUPITER's rules (issue 27, points 8 and 9) -----------


def test_jupiters_exact_string_vote_is_recorded_beside_ours():
    from nbqa_builder.search.mcts import exact_majority, majority_answer
    from nbqa_builder.search.tree import Tree

    tree = Tree(1.25, 0)
    found = []
    for answer, value in (("@b[2] @a[1]", 1.0), ("@a[1] @b[2]", 1.0), ("@c[3]", -1.0), ("@c[3]", -1.0)):
        node = tree.add_child(tree.root, answer=answer, terminal="answer")
        node.visits, node.value_sum = 1, value
        found.append(node)
    # ours: the same items in any order are one answer, and a tie of counts goes to the better Q
    assert majority_answer(found) == "@b[2] @a[1]"
    # JUPITER's: the string found most often, compared exactly
    assert exact_majority(found) == "@c[3]"
    assert exact_majority([]) is None



# -- first-play urgency and progressive widening: options JUPITER does not have (issue 27, point 8) --


def rotating_plan(calls: list[int]):
    """Every path gets code steps `<path>a`, `<path>b`, ... of equal priors; a request for one step
    gets the next of them in turn (a sampling policy), and `calls` records each request's n."""
    served: dict[tuple[str, ...], int] = {}

    def script(body: dict) -> Reply:
        path = path_of(body)
        stem = path[-1] if path else "R"
        n = body.get("n", 1)
        calls.append(n)
        start = served.get(path, 0)
        served[path] = start + n
        labels = [f"{stem}{'abc'[(start + i) % 3]}" for i in range(n)]
        return Reply(choices=[code_step(label, "x = 1") for label in labels], logprobs=[[math.log(0.5)] * 3] * n)

    return script


def search_rotating(worker, **settings):
    first = first_turns({"task": "What is the answer?", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    calls: list[int] = []
    with FakeOpenAI(rotating_plan(calls)) as server:
        policy = OpenAIPolicy(server.base_url, "rotating", max_attempts=2, max_wait_s=0.1)
        with StatePool(worker, {}, ".", 16, 20) as pool:
            return Searcher(first, LABEL, policy, NoValue(), pool, SearchSettings(**settings)).search().tree, calls


class NoValue:
    """No value model: every state is worth 0, so every Q stays 0 until an answer is found."""

    def score(self, conversations):
        return [0.0] * len(conversations)


def test_a_negative_first_play_urgency_goes_deep_where_jupiters_puct_goes_wide(worker):
    """c = 1.25, priors 0.5, every value 0. Iteration 2 picks one of the root's two children (a
    tie). Iteration 3, at the root: the visited child scores 0 + 1.25 * 0.5 * sqrt(2) / 2 = 0.442;
    the other, unvisited, 0 + 1.25 * 0.5 * sqrt(2) = 0.884 under JUPITER's rule (Q = 0): the search
    goes wide. With a first-play urgency of -1 it scores -1 + 0.884 = -0.116: the search goes down
    the visited child and expands one of its children, at depth 2."""
    jupiter, _ = search_rotating(worker, iterations=3, children=2, c_puct=1.25)
    urgent, _ = search_rotating(worker, iterations=3, children=2, c_puct=1.25, first_play=-1.0)
    assert sorted(node.depth for node in jupiter.nodes) == [0, 1, 1, 2, 2, 2, 2]
    assert sorted(node.depth for node in urgent.nodes) == [0, 1, 1, 2, 2, 3, 3]
    assert all(node.visits <= 1 for node in jupiter.nodes[1:])


def test_progressive_widening_adds_one_child_at_a_time_as_the_visits_allow(worker):
    """a = 0.5: a node holds max(1, floor(sqrt(N))) children. Iterations 1 to 4 each add one child
    below the last (the root's 1, 2, 3 visits allow one child); iteration 5 finds the root at 4
    visits, which allows a second child: the root is expanded again. Every request asks one step."""
    tree, calls = search_rotating(worker, iterations=5, children=3, c_puct=1.25, widening=0.5)
    labels = [node.code and node.reply.split("step ")[1].split(".")[0] for node in tree.nodes[1:]]
    assert labels == ["Ra", "Raa", "Raaa", "Raaaa", "Rb"]
    assert [node.depth for node in tree.nodes[1:]] == [1, 2, 3, 4, 1]
    assert calls == [1] * 5 and tree.root.visits == 5
    many, _ = search_rotating(worker, iterations=40, children=3, c_puct=1.25, widening=0.5)
    assert max(len(node.children) for node in many.nodes) == 3  # never more than --children
    assert len(many.root.children) == 3


# -- the policy's replies and spend, kept in <out>/_llm/ as every model call's (llm/) ----------


def rotating_search_in(worker, directory: Path, **settings):
    """`search_rotating` with the policy's replies and spend kept in `directory`."""
    first = first_turns({"task": "What is the answer?", "constraints": "", "format": "@answer[value]"}, DEFAULT_TEMPLATE)
    calls: list[int] = []
    with FakeOpenAI(rotating_plan(calls)) as server:
        policy = OpenAIPolicy(server.base_url, "rotating", max_attempts=2, max_wait_s=0.1, directory=directory)
        with StatePool(worker, {}, ".", 16, 20) as pool:
            result = Searcher(first, LABEL, policy, NoValue(), pool, SearchSettings(**settings)).search()
    nodes = [(node.depth, node.reply, round(node.prior, 9), node.visits) for node in result.tree.nodes]
    return nodes, result.stats, calls, dict(server.usage_served)


def test_a_search_run_again_over_its_output_gets_its_replies_from_the_cache_in_order(worker, tmp_path):
    """The widening search sends the root's request twice (iterations 1 and 5): both reach the
    server, two draws. Run again over the same folder, the search asks the server nothing and
    grows the same tree, draw by draw; the ledger has one `policy` row per request sent."""
    from nbqa_builder.llm import llm_dir, spend_summary

    settings = {"iterations": 5, "children": 3, "c_puct": 1.25, "widening": 0.5}
    nodes, stats, calls, served = rotating_search_in(worker, llm_dir(tmp_path / "out"), **settings)
    assert [reply.split("step ")[1].split(".")[0] for _, reply, _, _ in nodes[1:]] == ["Ra", "Raa", "Raaa", "Raaaa", "Rb"]
    assert calls == [1] * 5
    again, stats_again, calls_again, _ = rotating_search_in(worker, llm_dir(tmp_path / "out"), **settings)
    assert calls_again == [] and again == nodes and stats_again == stats
    spend = spend_summary(tmp_path / "out")
    assert spend["by_stage"] == {"policy": {"requests": 5, "cost_usd": 0.0}}
    assert (spend["prompt_tokens"], spend["completion_tokens"]) == (served["prompt_tokens"], served["completion_tokens"])


def test_identical_requests_of_one_run_are_separate_draws_and_a_new_run_replays_them(tmp_path):
    from nbqa_builder.llm import llm_dir

    drawn = []

    def count(body):
        drawn.append(body)
        return Reply(choices=[f"draw {len(drawn)}"] * body["n"])

    messages = [{"role": "user", "content": "the same question"}]
    with FakeOpenAI(count) as server:
        policy = OpenAIPolicy(server.base_url, "m", max_attempts=2, max_wait_s=0.05, directory=llm_dir(tmp_path))
        assert [policy.sample(messages, 1)[0].text for _ in range(2)] == ["draw 1", "draw 2"]
        assert len(server.requests) == 2
        resumed = OpenAIPolicy(server.base_url, "m", max_attempts=2, max_wait_s=0.05, directory=llm_dir(tmp_path))
        assert [resumed.sample(messages, 1)[0].text for _ in range(3)] == ["draw 1", "draw 2", "draw 3"]
        assert len(server.requests) == 3  # only the third draw is new


def test_a_killed_search_run_again_sends_nothing_it_was_answered_before(demo_dataset, tmp_path):
    """`search` keeps the policy's replies in <out>/_llm/: a search killed before writing its result
    (its results/ and trees/ gone), run again over the same output, asks the server nothing and
    writes the same result; the spend ledger has the policy's rows."""
    import sqlite3

    import nbqa_builder

    tasks = nbqa_builder.load_tasks(demo_dataset, "interactive")
    out = tmp_path / "search"
    options = ("--limit", "1", "--iterations", "3", "--children", "2")
    with FakeOpenAI(replaying(tasks)) as server:
        first = search_cli(out, server, demo_dataset, *options)
        assert first.returncode == 0, first.stderr
        sent = len(server.requests)
        results = {p.name: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
        for folder in ("results", "trees"):
            shutil.rmtree(out / folder)
        again = search_cli(out, server, demo_dataset, *options)
        assert again.returncode == 0, again.stderr
        assert "(0 done before)" in again.stdout
        assert sent > 0 and len(server.requests) == sent
    assert {p.name: json.loads(p.read_text()) for p in (out / "results").glob("*.json")} == results
    connection = sqlite3.connect(out / "_llm" / "spend.sqlite")
    rows = connection.execute("SELECT stage, model, COUNT(*), SUM(prompt_tokens) FROM spend GROUP BY stage, model").fetchall()
    connection.close()
    assert rows == [("policy", "replay", sent, server.usage_served["prompt_tokens"])]
