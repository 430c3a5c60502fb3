"""Search over many tasks: where they come from, where their files go, what is written, resume.

Tasks come from our shards (`load_tasks`: a dataset folder or a Hub repository, a config) or from
a DABench folder (questions, labels and tables, as `export dabench` writes them or the official
dev set). Each task's files are written where its code reads them (`materialize`; DABench tables
by bare name), or with `--file-names name` by bare name in the working folder, as the prompt then
names them; the task is searched in one sandbox job.

The output folder holds, per task, `trees/<id>.jsonl` (every node: training/value_data.py reads
them) and `results/<id>.json` (the vote and best-value answers, the counts), each written whole;
then `responses.jsonl` in DABench's `{"id", "response"}` form, which `evaluate` scores; `_llm/`
keeps the policy's replies and spend (search/policy.py). A task with a result is skipped on the
next run: a killed search, run again, finishes the rest, its cached replies costing nothing again.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from nbqa_builder.search.mcts import Searcher, SearchResult, SearchSettings, vote_over_paths
from nbqa_builder.search.policy import Policy
from nbqa_builder.search.states import StatePool
from nbqa_builder.search.tree import Node, Tree
from nbqa_builder.search.value import ValueFunction
from nbqa_builder.turns import PromptTemplate, bare_name, first_turns


class NotServable(ValueError):
    """A task whose files cannot be served as the prompt names them (the reason is the message)."""


@dataclass
class SearchTask:
    id: str
    row: dict[str, Any]  # task, constraints, format, data_files / file_names: what the prompt shows
    label: str
    files: dict[str, bytes]  # path relative to the job folder -> content
    cwd: str  # the working directory in the job folder

    def served(self, file_naming: str) -> tuple[dict[str, bytes], str]:
        """(files, working directory) as the prompt names them: `path`, where the task's code reads
        them; `name`, by bare name in the working folder, as JUPITER serves them."""
        if file_naming != "name":
            return self.files, self.cwd
        by_name = {bare_name(path): content for path, content in self.files.items()}
        if len(by_name) < len(self.files):
            raise NotServable(f"task {self.id}: two of its files have the same name; by bare name "
                              "they cannot be served (search it with --file-names path)")
        return by_name, "."


def shard_tasks(dataset: str, config: str) -> Iterator[SearchTask]:
    """The tasks of one config of a dataset folder or Hub repository, with their files."""
    from nbqa_builder.publish.load import load_tasks, materialize

    for task in load_tasks(dataset, config):
        with tempfile.TemporaryDirectory(prefix="nbqa-search-") as scratch:
            cwd = materialize(task, scratch)
            root = Path(scratch)
            files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
            row = {"task": task.task, "constraints": task.constraints, "format": task.format,
                   "data_files": [asdict(f) for f in task.data_files], "file_names": task.file_names}
            yield SearchTask(task.id, row, task.label, files, cwd.relative_to(root).as_posix())


def dabench_tasks(folder: str) -> Iterator[SearchTask]:
    """DABench questions with their labels and tables (files by bare name in the working folder)."""
    base = Path(folder)

    def one(pattern: str) -> Path:
        found = sorted(base.glob(pattern))
        if not found:
            raise FileNotFoundError(f"{base}: no {pattern}")
        return found[0]

    questions = [json.loads(line) for line in one("*questions*.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    labels = {}
    for line in one("*labels*.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            labels[str(entry["id"])] = " ".join(f"@{name}[{value}]" for name, value in entry.get("common_answers") or [])
    tables = one("*tables*")
    for question in questions:
        names = question.get("file_names") or [question.get("file_name")]
        names = [n for n in names if n and n != "none"]
        files = {name: (tables / name).read_bytes() for name in names}
        row = {"task": question.get("question", ""), "constraints": question.get("constraints", ""),
               "format": question.get("format", ""), "file_names": names}
        yield SearchTask(str(question["id"]), row, labels.get(str(question["id"]), ""), files, ".")


def _atomic_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temp, path)


def search_one(task: SearchTask, worker: Any, policy: Policy, value: ValueFunction, settings: SearchSettings,
               method: str, paths: int, max_live: int, template: PromptTemplate | None = None,
               file_naming: str = "path") -> SearchResult:
    """Search one task in one sandbox job (see the module doc)."""
    first = first_turns(task.row, template, file_naming, settings.action_format)
    files, cwd = task.served(file_naming)
    with tempfile.TemporaryDirectory(prefix="nbqa-files-") as scratch:
        placed = {}
        for relative, content in files.items():
            target = Path(scratch, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            placed[relative] = str(target)
        with StatePool(worker, placed, cwd, max_live, settings.cell_timeout_s, settings.final_expression,
                       settings.observation_chars) as pool:
            searcher = Searcher(first, task.label, policy, value, pool, settings)
            if method == "mcts":
                return searcher.search()
            results = [searcher.react(seed_offset=i) for i in range(1 if method == "react" else paths)]
    if method == "react":
        return results[0]
    tree = merge_paths([result.tree for result in results], settings)
    answer = vote_over_paths(results)
    stats: dict[str, Any] = {"paths": len(results)}
    for result in results:
        for key, n in result.stats.items():
            stats[key] = stats.get(key, 0) + n
    return SearchResult(tree, answer, answer, stats, first)


def merge_paths(trees: list[Tree], settings: SearchSettings) -> Tree:
    """Several ReAct paths as one tree: each path a branch of one root."""
    merged = Tree(0.0, settings.seed)
    for tree in trees:
        copies: dict[int, Node] = {tree.root.id: merged.root}
        for node in tree.nodes[1:]:
            fields = {name: getattr(node, name) for name in ("thought", "code", "observation", "answer", "cell_failed",
                                                             "terminal", "reward", "visits", "value_sum", "prior",
                                                             "consecutive_errors", "reply")}
            copies[node.id] = merged.add_child(copies[node.parent.id], **fields)  # type: ignore[union-attr]
        merged.root.visits += tree.root.visits
        merged.root.value_sum += tree.root.value_sum
    return merged


def write_result(out: Path, task: SearchTask, result: SearchResult, header: dict[str, Any], choose: str) -> None:
    system, user = result.first
    result.tree.write_jsonl(out / "trees" / f"{task.id}.jsonl", {
        "task_id": task.id, "question": task.row["task"], "label": task.label,
        "system_prompt": system["content"], "first_user_turn": user["content"], **header})
    chosen = result.vote if choose == "vote" else result.best_value
    _atomic_json(out / "results" / f"{task.id}.json", {"id": task.id, "response": chosen or "", "vote": result.vote,
                                                        "best_value": result.best_value,
                                                        "jupiter_vote": result.exact_vote, "label": task.label,
                                                        "stats": result.stats})


def write_responses(out: Path) -> int:
    """`responses.jsonl` from every task's result, in id order; the number of responses."""
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "results").glob("*.json"))]
    lines = [json.dumps({"id": r["id"], "response": r["response"]}, ensure_ascii=False) + "\n" for r in results]
    temp = out / ".responses.jsonl.tmp"
    temp.write_text("".join(lines), encoding="utf-8")
    os.replace(temp, out / "responses.jsonl")
    return len(lines)


def done(out: Path, task_id: str) -> bool:
    return (out / "results" / f"{task_id}.json").is_file()
