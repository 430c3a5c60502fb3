"""Task yield over ../shared/corpus: tasks, interactive tasks, drops by reason and tasks by kind,
per 100 kept notebooks, for two recipes in one run.

    python bench/task_yield.py [--sandbox bwrap|process]

- `paper`: the demo's rules (out of order, unexecuted cells, errors, neural networks, APIs, teaching
  sets, too little data), then extract and verify: what the project's default recipes keep;
- `lenient`: only the rules that do not look at execution order and errors, so that more real
  notebooks reach the extractor.

Each run writes its stats.json; the figures printed are its `tasks.per_100_kept_notebooks`. The
last line reads `tasks_per_100=<x> interactive_per_100=<y>` for the `paper` recipe. There is no
speed goal here: the figures say how many tasks survive the bar of NBQA.md ("What makes a task
right"), and why the others do not.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nbqa_builder.pipeline import Pipeline  # noqa: E402
from nbqa_builder.recipe import parse_recipe  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
RULES = {
    "paper": ("[no_code, out_of_order, unexecuted_code_cells, error_outputs, neural_network_or_gpu, external_api]",
              "[teaching_dataset, decontaminate, too_little_data]"),
    "lenient": ("[no_code, neural_network_or_gpu, external_api]", "[teaching_dataset, decontaminate]"),
}
RECIPE = """
name: yield-{name}
source: {{kind: local, path: "{source}"}}
steps:
  - validate: {{}}
  - filter: {{rules: {first}}}
  - deps: {{}}
  - filter: {{rules: {second}}}
  - redact: {{}}
  - dedup: {{exact: true}}
  - extract: {{backend: heuristic}}
  - verify: {{sandbox: {sandbox}, timeout_s: 120}}
output: "{output}"
executor: {{kind: local, workers: 2, part_size: 16}}
"""


def run(name: str, sandbox: str, folder: Path) -> dict:
    first, second = RULES[name]
    text = RECIPE.format(name=name, source=CORPUS, first=first, second=second, sandbox=sandbox, output=folder / name)
    return Pipeline(parse_recipe(text, f"{name}.yaml"), progress=False).run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="bwrap")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"{CORPUS} is absent: nothing to measure", file=sys.stderr)
        return 2
    results = {}
    with tempfile.TemporaryDirectory(prefix="nbqa-yield-") as scratch:
        for name in RULES:
            stats = run(name, args.sandbox, Path(scratch))
            tasks = stats["tasks"]
            results[name] = tasks["per_100_kept_notebooks"]
            print(f"{name}: {stats['notebooks']['input']} notebooks, {stats['notebooks']['kept']} kept, "
                  f"{tasks['written']} tasks ({json.dumps(tasks['by_config'])})")
            print(f"  per 100 kept notebooks: {json.dumps(results[name])}")
            print(f"  tasks by category: {json.dumps(tasks.get('concepts', {}))}")
            print(f"  candidates without a task, by reason: {json.dumps(tasks.get('dropped', {}))}")
    paper = results["paper"]
    print(f"tasks_per_100={paper['tasks']} interactive_per_100={paper['interactive']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
