"""`train-value --model NAME_OR_PATH --data DIR --out DIR`: a value model on value targets
(training/value.py; extra [train]). Run it again to resume from the last checkpoint."""

from __future__ import annotations

import argparse


def add_run_arguments(parser: argparse.ArgumentParser, learning_rate: float, batch_size: int, grad_accum: int,
                      max_length: int) -> None:
    """The arguments of a training run, shared with train-sft."""
    parser.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                        help="the causal LM to start from: a Hugging Face Hub name or a local folder")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="checkpoints (DIR/checkpoint-N), losses.jsonl, and the model when the run ends; "
                             "a second run resumes from the last checkpoint")
    parser.add_argument("--epochs", type=float, default=3, help="passes over the data (default 3)")
    parser.add_argument("--lr", type=float, default=learning_rate, help=f"learning rate (default {learning_rate:g})")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"per device (default {batch_size})")
    parser.add_argument("--grad-accum", type=int, default=grad_accum,
                        help=f"batches per optimizer step (default {grad_accum})")
    parser.add_argument("--max-length", type=int, default=max_length, help=f"tokens per example (default {max_length})")
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters on every linear layer, not the whole LM")
    parser.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default 8, as JUPITER)")
    parser.add_argument("--max-steps", type=int, default=-1, help="optimizer steps in all, overriding --epochs")
    parser.add_argument("--stop-after-steps", type=int, metavar="N",
                        help="stop at step N with a checkpoint; the next run goes on from there")
    parser.add_argument("--save-steps", type=int, default=200, help="a checkpoint every N steps (default 200)")
    parser.add_argument("--logging-steps", type=int, default=10, help="log the loss every N steps (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the head, the data order and dropout (default 0)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar: losses are printed as lines")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="value targets: a folder written by value-data, or a Parquet/JSONL file with prompt and value")
    add_run_arguments(parser, learning_rate=1e-4, batch_size=4, grad_accum=1, max_length=2048)
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout before the value head (default 0.1)")


def run_training(train, args: argparse.Namespace, **options) -> int:
    """Call a trainer with the run arguments; the errors a user can fix are one line."""
    from nbqa_builder.cli import UserError

    try:
        _, result = train(args.model, args.data, args.out, epochs=args.epochs, learning_rate=args.lr,
                          batch_size=args.batch_size, grad_accum=args.grad_accum, max_length=args.max_length,
                          lora=args.lora, lora_r=args.lora_r, save_steps=args.save_steps,
                          logging_steps=args.logging_steps, max_steps=args.max_steps,
                          stop_after_steps=args.stop_after_steps, seed=args.seed, progress=args.progress, **options)
    except (ValueError, OSError) as exc:  # a missing model, bad data, a template missing
        raise UserError(" ".join(str(exc).split())[:500]) from None
    if result.finished:
        print(f"trained {result.steps} steps; the model is in {args.out}")
    else:
        print(f"stopped after step {result.steps} of {result.max_steps}; run the same command again to go on")
    return 0


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError

    from nbqa_builder.training.value_data import load_value_rows

    try:
        load_value_rows(args.data)  # a wrong --data is told before torch is loaded
        from nbqa_builder.training.value import train_value
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except ImportError as exc:
        raise UserError(f"train-value needs the training extra: pip install 'nbqa_builder[train]' ({exc})") from None
    return run_training(train_value, args, dropout=args.dropout)
