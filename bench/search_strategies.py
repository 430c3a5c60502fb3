"""JUPITER's selection against the two options it does not have, on the demo's tasks.

    python bench/search_strategies.py [--seeds 3] [--iterations 50] [--good 0.5] [--sandbox process]

The tasks are the demo's interactive tasks (`recipes/demo.yaml`, built here into a temporary
folder), searched in collect mode without a value model, as JUPITER collects its training trees
(c_puct 1.25, 3 children, depth 10, its reward checker). The policy is scripted, in process: each of
its samples is, with probability `--good`, the task's next solution step (its own code, then its
label as the final answer), and otherwise a distraction: a cell that does nothing for the task, a
cell that raises, or a wrong answer (the label's numbers changed). Its priors are drawn apart from
whether the sample is good. So a search must find the solution's path among distractions, as it
must with a real model whose samples are often wrong; a task of k steps needs k good samples in
a row, then the answer.

Each strategy searches every task once per seed (the policy's draws are seeded per seed):
- `jupiter`: PUCT with Q = 0 for an unvisited child, `children` steps per expansion;
- `first_play=-1`: an unvisited child is taken to have Q = -1 (deep before wide);
- `widening=0.5`: progressive widening, one step per expansion, max(1, floor(sqrt(N))) children.

Printed per strategy: the share of searches that found a right answer (and of those on tasks of 3
or more steps, where the selection matters), the mean nodes made until
the first right answer (the policy's samples and the cells they cost; searches without one count
their whole tree), the right answers per search (positive leaves: what value training learns
from), and the share whose vote is right. The last line reads
`jupiter_solved=<a> first_play_solved=<b> widening_solved=<c> tasks=<n> seeds=<s>`.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbqa_builder.publish.load import load_tasks  # noqa: E402
from nbqa_builder.sandbox import Limits, WarmWorker  # noqa: E402
from nbqa_builder.search import run  # noqa: E402
from nbqa_builder.search.mcts import SearchSettings, answer_reward  # noqa: E402
from nbqa_builder.search.policy import Sample  # noqa: E402

STRATEGIES = {"jupiter": {}, "first_play": {"first_play": -1.0}, "widening": {"widening": 0.5}}
CODE = re.compile(r"```python\n(.*?)\n```", re.S)


def code_steps(task) -> list:
    """The solution's steps that run a cell (the last step gives the answer)."""
    return [step for step in task.solution if step.python_code]


class NoValue:
    def score(self, conversations):
        return [0.0] * len(conversations)


class NoisySolutionPolicy:
    """Samples the task's next solution step with probability `good`, else a distraction."""

    def __init__(self, tasks: dict[str, object], good: float, seed: int) -> None:
        self.tasks, self.good, self.random = tasks, good, random.Random(seed)

    def task_of(self, messages):
        user = messages[1]["content"]
        return next(task for question, task in self.tasks.items() if f": {question}\n" in user)

    def sample(self, messages, n):
        task = self.task_of(messages)
        steps = code_steps(task)
        ran = [m.group(1) for message in messages if message["role"] == "assistant"
               for m in CODE.finditer(message["content"])]
        done = 0
        for code in ran:  # the solution's steps taken so far, in order, distractions between them
            if done < len(steps) and code == steps[done].python_code:
                done += 1
        samples = []
        for _ in range(n):
            if self.random.random() < self.good:
                text = (f"Thought: {steps[done].thought}\nAction:\n```python\n{steps[done].python_code}\n```"
                        if done < len(steps) else f"Thought: done.\nFormatted answer: {task.label}")
            else:
                text = self.random.choice([
                    "Thought: let me look around.\nAction:\n```python\nprint(sorted(dir())[:3])\n```",
                    "Thought: use the column.\nAction:\n```python\nprint(undefined_frame['x'].mean())\n```",
                    "Thought: done.\nFormatted answer: " + re.sub(r"\d", lambda d: str((int(d.group()) + 3) % 10), task.label),
                ])
            samples.append(Sample(text, self.random.uniform(0.2, 0.8)))
        return samples


def demo_dataset(folder: Path) -> Path:
    recipe = yaml.safe_load((ROOT / "recipes" / "demo.yaml").read_text())
    recipe["source"]["path"] = str(ROOT / "examples" / "repos")
    recipe["output"] = str(folder / "out")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    subprocess.run([sys.executable, "-m", "nbqa_builder", "run", str(folder / "recipe.yaml"), "--no-progress"],
                   check=True, cwd=ROOT, capture_output=True)
    return folder / "out" / "dataset"


def measure(result, label: str) -> dict[str, float]:
    rewards = [(node.id, answer_reward(node.answer or "", label, "jupiter")) for node in result.tree.answers()]
    right = [node_id for node_id, reward in rewards if reward > 0]
    return {"solved": float(bool(right)), "nodes_to_first": float(min(right) if right else len(result.tree.nodes)),
            "right_answers": float(len(right)),
            "vote_right": float(result.vote is not None and answer_reward(result.vote, label, "jupiter") > 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=50, help="JUPITER's collection: 50")
    parser.add_argument("--good", type=float, default=0.5, help="the share of samples that are the next solution step")
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nbqa-strategies-") as scratch:
        dataset = demo_dataset(Path(scratch))
        tasks = {task.id: task for task in load_tasks(str(dataset), "interactive")}
        searched = [task for task in run.shard_tasks(str(dataset), "interactive")]
        long = {task_id for task_id, task in tasks.items() if len(code_steps(task)) >= 3}  # where selection matters
        print(f"{len(searched)} demo tasks, solution steps {sorted(len(code_steps(t)) for t in tasks.values())}")
        totals = {name: {} for name in STRATEGIES}
        with WarmWorker(args.sandbox, Limits(timeout_s=30, total_timeout_s=600)) as worker:
            for name, options in STRATEGIES.items():
                for seed in range(args.seeds):
                    policy = NoisySolutionPolicy({t.task: t for t in tasks.values()}, args.good, seed)
                    for task in searched:
                        settings = SearchSettings(iterations=args.iterations, seed=seed, cell_timeout_s=30, **options)
                        result = run.search_one(task, worker, policy, NoValue(), settings, "mcts", 1, 32)
                        measured = measure(result, task.label)
                        if task.id in long:
                            measured["solved_long"] = measured["solved"]
                        for key, value in measured.items():
                            totals[name][key] = totals[name].get(key, 0.0) + value
    runs = len(searched) * args.seeds
    long_runs = len(long) * args.seeds
    for name, sums in totals.items():
        print(f"{name:>10}: solved {sums['solved'] / runs:.2f} (tasks of 3 or more steps: "
              f"{sums.get('solved_long', 0.0) / max(long_runs, 1):.2f}), nodes to the first right answer "
              f"{sums['nodes_to_first'] / runs:.1f}, right answers per search {sums['right_answers'] / runs:.1f}, "
              f"vote right {sums['vote_right'] / runs:.2f}")
    print(" ".join(f"{name}_solved={totals[name]['solved'] / runs:.2f}" for name in STRATEGIES)
          + f" tasks={len(searched)} seeds={args.seeds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
