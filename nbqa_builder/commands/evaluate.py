"""`evaluate`: score responses against DABench labels or our own task shards."""

from __future__ import annotations

import argparse
import json
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("what to score against (questions + labels, or tasks)")
    source.add_argument("--questions", metavar="Q.jsonl", help="DABench questions (id, concepts, level, ...)")
    source.add_argument("--labels", metavar="L.jsonl", help='DABench labels: {"id", "common_answers": [[name, value]]}')
    source.add_argument("--tasks", metavar="DATASET_DIR", help="a dataset folder with data/<config>/*.parquet")
    source.add_argument("--config", default="all", help="config of --tasks to score (default: all)")
    parser.add_argument("--responses", required=True, metavar="R.jsonl", help='{"id", "response"} per line')
    parser.add_argument(
        "--mode",
        choices=["strict", "lenient"],
        default="strict",
        help="strict: the official DABench scorer; lenient: JUPITER's checker (default: strict)",
    )
    parser.add_argument(
        "--unanswered",
        choices=["skip", "wrong"],
        default="skip",
        help="leave unanswered questions out (official) or count them wrong (JUPITER) (default: skip)",
    )
    parser.add_argument("--per-question", metavar="OUT.jsonl", help='write {"id", "correct", "sub"} per scored question')
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder import evaluate
    from nbqa_builder.cli import UserError

    if args.tasks and (args.questions or args.labels):
        raise UserError("give either --tasks or --questions with --labels, not both")
    if not args.tasks and not (args.questions and args.labels):
        raise UserError("give --questions and --labels (DABench files), or --tasks DATASET_DIR")
    try:
        if args.tasks:
            questions, notes = evaluate.load_task_questions(args.tasks, args.config)
        else:
            questions, notes = evaluate.load_dabench_questions(args.questions, args.labels)
        responses, response_notes = evaluate.load_responses(args.responses)
    except evaluate.EvaluationInputError as exc:
        raise UserError(str(exc)) from None
    notes.update(response_notes)
    known = {q.key for q in questions}
    unmatched = sum(1 for key in responses if key not in known)
    if unmatched:
        notes["responses whose id has no label (ignored)"] += unmatched

    results = evaluate.score_questions(questions, responses, args.mode)
    summary = evaluate.summarize(results, args.mode, args.unanswered)
    if args.per_question:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(args.per_question)), exist_ok=True)
            with open(args.per_question, "w", encoding="utf-8") as out:
                for row in evaluate.per_question_rows(results, args.unanswered):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise UserError(f"{args.per_question}: cannot write: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps({**summary, "notes": dict(notes)}, indent=2, ensure_ascii=False))
    else:
        print(evaluate.format_table(summary, notes))
    return 0
