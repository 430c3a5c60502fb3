"""`train-sft --model NAME_OR_PATH --data EXPORT --out DIR`: fine-tune a policy on a `messages`
export with TRL's SFTTrainer (training/sft.py; extra [train]). Run it again to resume."""

from __future__ import annotations

import argparse

from nbqa_builder.commands.train_value import add_run_arguments, run_training


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="EXPORT",
                        help="chats written by `export sft --format messages` (JSONL or JSON)")
    add_run_arguments(parser, learning_rate=2e-5, batch_size=1, grad_accum=8, max_length=8192)
    parser.add_argument("--assistant-only-loss", action="store_true",
                        help="learn only the assistant turns, not the prompts and observations (the chat template "
                             "must mark them with {%% generation %%})")
    parser.add_argument("--chat-template", metavar="FILE",
                        help="a Jinja chat template for a tokenizer that has none (or to replace its own)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute activations in the backward pass: less memory, more time")


def main(args: argparse.Namespace) -> int:
    from nbqa_builder.cli import UserError

    try:
        from nbqa_builder.training.sft import train_sft
    except ImportError as exc:
        raise UserError(f"train-sft needs the training extra: pip install 'nbqa_builder[train]' ({exc})") from None
    return run_training(train_sft, args, assistant_only_loss=args.assistant_only_loss,
                        chat_template=args.chat_template, gradient_checkpointing=args.gradient_checkpointing)
