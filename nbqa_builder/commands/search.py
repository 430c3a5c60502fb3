"""`search`: value-guided tree search (or a ReAct baseline) over tasks, with a policy served by any
OpenAI-compatible endpoint. Writes trees, results and DABench-style responses, and keeps the
policy's replies and spend in `<out>/_llm/`; resumes.

    python -m nbqa_builder search --tasks out/demo/dataset:interactive --policy http://localhost:8000/v1 \\
        --model my-model --mode collect --out out/search
    python -m nbqa_builder evaluate --tasks out/demo/dataset --config interactive --responses out/search/responses.jsonl
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tasks", metavar="DATASET[:CONFIG]",
                        help="a dataset folder or Hub repository ORG/NAME, and its config (default: interactive)")
    source.add_argument("--dabench", metavar="DIR", help="a DABench folder: questions, labels and tables")
    parser.add_argument("--policy", required=True, metavar="URL", help="the policy's OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--model", required=True, help="the policy's model name")
    parser.add_argument("--value", default="none", metavar="SPEC", help="none (default), an http(s):// scorer, or model:PATH")
    parser.add_argument("--mode", choices=["collect", "infer"], default="collect",
                        help="collect: rewards from the labels (training trees); infer: the value function alone")
    parser.add_argument("--reward", choices=["jupiter", "strict"], default="jupiter",
                        help="collect mode: how an answer is compared with the label: jupiter (default; JUPITER's "
                             "checker, numbers within 1e-3 or 0.1 %%) or strict (the official DABench scorer)")
    parser.add_argument("--method", choices=["mcts", "react", "vote"], default="mcts",
                        help="mcts (default), react: one path, vote: majority over --paths ReAct paths")
    parser.add_argument("--out", required=True, metavar="DIR", help="where trees, results, responses.jsonl and the policy's replies (_llm/) go")
    parser.add_argument("--iterations", type=int, default=None,
                        help="search iterations per task (default: 50 with --mode collect, as JUPITER's collection; "
                             "40 with --mode infer)")
    parser.add_argument("--children", type=int, default=3, help="steps sampled per expansion (default 3)")
    parser.add_argument("--c-puct", type=float, default=None,
                        help="exploration constant (default: 1.25 with --mode collect, 0 with --mode infer)")
    parser.add_argument("--first-play", type=float, default=None, metavar="Q",
                        help="first-play urgency: the Q an unvisited child is taken to have in PUCT (default: none, "
                             "0 as JUPITER; below 0 goes deep before wide). Not in JUPITER; see the README")
    parser.add_argument("--widening", type=float, default=None, metavar="A",
                        help="progressive widening: a node holds at most max(1, floor(N ** A)) children for its N "
                             "visits, up to --children, one sampled per expansion (default: none, JUPITER's "
                             "--children at once). Not in JUPITER; see the README")
    parser.add_argument("--max-depth", type=int, default=10, help="continuing cells per branch; a deeper cell ends it, as JUPITER (default 10)")
    parser.add_argument("--max-errors", type=int, default=3, help="failed cells in a row that end a branch (default 3)")
    parser.add_argument("--cell-timeout", type=float, default=180.0, help="seconds per cell (default 180)")
    parser.add_argument("--task-timeout", type=float, default=1800.0, help="seconds per task (default 1800)")
    parser.add_argument("--max-tokens", type=int, default=100_000,
                        help="context tokens that end a branch, as the policy's server counts them where it says "
                             "(else about 4 characters a token) (default 100000)")
    parser.add_argument("--reply-tokens", type=int, default=8192, metavar="N",
                        help="max_tokens of each policy reply (default 8192, as JUPITER samples)")
    parser.add_argument("--policy-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="seconds one policy request may take (default 600)")
    parser.add_argument("--paths", type=int, default=8, help="ReAct paths for --method vote (default 8)")
    parser.add_argument("--choose", choices=["vote", "value"], default="vote",
                        help="which final answer goes into responses.jsonl (both are recorded; default vote)")
    parser.add_argument("--max-live-states", type=int, default=32,
                        help="live notebook states kept per task; others are rebuilt by replay (default 32)")
    parser.add_argument("--prompt", metavar="FILE",
                        help="a prompt template file, as `export sft --template` takes (default: ours, turns/task.md)")
    parser.add_argument("--file-names", choices=["path", "name"], default="path",
                        help="files in the prompt by the path the code reads (default) or by bare name")
    parser.add_argument("--actions", dest="action_format", choices=["fenced", "raw"], default="fenced",
                        help="how the turns write actions: as the model was trained (`export sft --actions`; default fenced)")
    parser.add_argument("--final-expression", choices=["print", "keep"], default="print",
                        help="observations as the model was trained (`export sft --final-expression`): print (default), "
                             "a final bare expression's value as print() shows it; keep, as the notebook displays it")
    parser.add_argument("--observation-chars", type=int, default=2000, metavar="N",
                        help="an observation is cut after N characters, as `export sft` cuts them (default 2000)")
    parser.add_argument("--temperature", type=float, default=1.0, help="policy sampling temperature (default 1.0)")
    parser.add_argument("--sandbox", choices=["bwrap", "process"], default="bwrap",
                        help="bwrap (default) or process (trusted tasks only)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random tie-breaks (default 0)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="search only the first N tasks")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def dataset_and_config(spec: str) -> tuple[str, str]:
    """`out/demo/dataset:sft` -> (`out/demo/dataset`, `sft`); no config given: `interactive`."""
    from pathlib import Path

    head, _, tail = spec.rpartition(":")
    if head and tail and "/" not in tail and not Path(spec).exists():
        return head, tail
    return spec, "interactive"


def main(args: argparse.Namespace) -> int:
    from itertools import islice
    from pathlib import Path

    from tqdm import tqdm

    from nbqa_builder.cli import UserError
    from nbqa_builder.llm import llm_dir
    from nbqa_builder.publish.load import DatasetReadError
    from nbqa_builder.sandbox import Limits, SandboxError, SandboxUnavailable, WarmWorker
    from nbqa_builder.search import run
    from nbqa_builder.search.mcts import INFER, SearchSettings
    from nbqa_builder.search.policy import OpenAIPolicy, PolicyError
    from nbqa_builder.search.value import load_value
    from nbqa_builder.turns import load_template

    iterations = args.iterations if args.iterations is not None else (40 if args.mode == INFER else 50)
    settings = SearchSettings(mode=args.mode, iterations=iterations, children=args.children,
                              c_puct=args.c_puct if args.c_puct is not None else (0.0 if args.mode == INFER else 1.25),
                              first_play=args.first_play, widening=args.widening,
                              max_depth=args.max_depth, max_errors=args.max_errors, cell_timeout_s=args.cell_timeout,
                              total_timeout_s=args.task_timeout, max_tokens=args.max_tokens, seed=args.seed,
                              reward=args.reward, action_format=args.action_format,
                              final_expression=args.final_expression, observation_chars=args.observation_chars)
    out = Path(args.out)
    if args.observation_chars < 1:
        raise UserError(f"--observation-chars must be at least 1, not {args.observation_chars}")
    if args.widening is not None and not 0 < args.widening <= 1:
        raise UserError(f"--widening must be in (0, 1], not {args.widening}")
    try:
        template = load_template(args.prompt)
        value = load_value(args.value)
        # the policy's replies and spend are kept beside the results, as a run's: a search run again
        # over this output asks the server nothing it answered before
        policy = OpenAIPolicy(args.policy, args.model, temperature=args.temperature, max_tokens=args.reply_tokens,
                              timeout_s=args.policy_timeout, directory=llm_dir(out))
        if args.tasks:
            tasks = run.shard_tasks(*dataset_and_config(args.tasks))
        else:
            tasks = run.dabench_tasks(args.dabench)
        header = {"mode": settings.mode, "method": args.method, "policy_model": args.model, "value": args.value,
                  "seed": settings.seed, "action_format": settings.action_format, "file_naming": args.file_names,
                  # infer: no label, the value function
                  "reward": settings.reward if settings.mode != INFER else "value",
                  "final_expression": settings.final_expression, "observation_chars": settings.observation_chars,
                  "first_play": settings.first_play, "widening": settings.widening}
        searched = skipped = unservable = 0
        with WarmWorker(args.sandbox, Limits(timeout_s=args.cell_timeout, total_timeout_s=args.task_timeout)) as worker:
            with tqdm(desc="search", unit="task", disable=args.no_progress, file=sys.stderr) as bar:
                for task in islice(tasks, args.limit):
                    if run.done(out, task.id):
                        skipped += 1
                        bar.update()
                        continue
                    try:
                        result = run.search_one(task, worker, policy, value, settings, args.method, args.paths,
                                                args.max_live_states, template, args.file_names)
                    except run.NotServable as exc:
                        print(f"skipped: {exc}", file=sys.stderr)
                        unservable += 1
                        bar.update()
                        continue
                    run.write_result(out, task, result, {**header, "c_puct": settings.c_puct}, args.choose)
                    searched += 1
                    bar.set_postfix(nodes=len(result.tree.nodes), answers=len(result.tree.answers()))
                    bar.update()
    except (DatasetReadError, FileNotFoundError, ValueError, SandboxUnavailable) as exc:
        raise UserError(str(exc)) from None
    except PolicyError as exc:
        raise UserError(f"the policy cannot be used: {exc}") from None
    except SandboxError as exc:
        raise UserError(f"the sandbox failed: {exc}") from None
    responses = run.write_responses(out)
    not_served = f", {unservable} whose files cannot be served by name" if unservable else ""
    print(f"searched {searched} tasks ({skipped} done before{not_served}) -> {out}/trees, "
          f"{out}/responses.jsonl ({responses} responses)")
    return 0
