"""Supervised fine-tuning of a policy on the `messages` export: a thin layer over TRL's SFTTrainer.

TRL does the work (chat template, tokenization, loss masking, LoRA through `peft`, the training
loop); this module reads the export, checks that the tokenizer can render chats, and gives the
run what every run of ours has (runs.py): resume from the last checkpoint, losses on file,
`--stop-after-steps`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def load_chats(data: str | os.PathLike):
    """The `messages` column of an `export sft --format messages` file (JSONL, or a JSON array)."""
    from datasets import load_dataset

    from nbqa_builder.training import quiet_load

    path = Path(data)
    if not path.is_file():
        raise ValueError(f"{data}: no such file (write one with `export sft --format messages`)")
    chats = quiet_load(load_dataset, "json", data_files=str(path), split="train")
    if "messages" not in chats.column_names:
        raise ValueError(f"{data}: not a messages export (no `messages` column; `export sft --format messages` writes one)")
    return chats.select_columns(["messages"])


def train_sft(model: str, data: str, out_dir: str, epochs: float = 3, learning_rate: float = 2e-5,
              batch_size: int = 1, grad_accum: int = 8, max_length: int = 8192, lora: bool = False, lora_r: int = 8,
              assistant_only_loss: bool = False, chat_template: str | None = None, save_steps: int = 200,
              logging_steps: int = 10, max_steps: int = -1, stop_after_steps: int | None = None, seed: int = 0,
              gradient_checkpointing: bool = False, progress: bool = True) -> tuple[Any, Any]:
    """Fine-tune (or resume fine-tuning) `model` on the chats; returns (the trainer,
    runs.RunResult). The model (or its LoRA adapter) and tokenizer are written to `out_dir` when
    the run has done all its steps."""
    chats = load_chats(data)  # before the heavy imports: a wrong file is told at once

    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from nbqa_builder.training.runs import callbacks, common_arguments, train_resuming

    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if chat_template is None and not tokenizer.chat_template:
        raise ValueError(f"{model}: its tokenizer has no chat template; give one with --chat-template FILE.jinja")
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=lora_r, lora_alpha=4 * lora_r, lora_dropout=0.05, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    args = SFTConfig(**common_arguments(out_dir, epochs, learning_rate, batch_size, grad_accum, save_steps,
                                        logging_steps, max_steps, seed, progress),
                     max_length=max_length, assistant_only_loss=assistant_only_loss, chat_template_path=chat_template,
                     gradient_checkpointing=gradient_checkpointing)
    trainer = SFTTrainer(model=model, args=args, train_dataset=chats, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks(out_dir, stop_after_steps))
    result = train_resuming(trainer, out_dir)
    if result.finished:
        trainer.save_model(out_dir)
    return trainer, result
