"""What the value and SFT trainers share: arguments, resuming, losses on file, stopping in slices.

- A run writes checkpoints `OUT/checkpoint-<step>/` and, when it ends, the model in `OUT`. Run the
  same command again and it resumes from the last checkpoint (model, optimizer, scheduler, data
  order and random state), so a killed run loses at most `save_steps` steps.
- `--stop-after-steps N` ends a run at step N with a checkpoint, for machines lent by the hour:
  the next run goes on from there, and the result is that of one run.
- Every logged loss is appended to `OUT/losses.jsonl` (`step`, `epoch`, `loss`, `learning_rate`)
  and shown beside the progress bar.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

LOSSES_FILE = "losses.jsonl"


def bf16_available() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def common_arguments(out_dir: str, epochs: float, learning_rate: float, batch_size: int, grad_accum: int,
                     save_steps: int, logging_steps: int, max_steps: int, seed: int, progress: bool) -> dict[str, Any]:
    """TrainingArguments fields both trainers set the same way (SFTConfig takes them too)."""
    return {
        "output_dir": out_dir, "num_train_epochs": epochs, "learning_rate": learning_rate,
        "per_device_train_batch_size": batch_size, "gradient_accumulation_steps": grad_accum,
        "save_strategy": "steps", "save_steps": save_steps, "save_total_limit": 2,
        "logging_strategy": "steps", "logging_steps": logging_steps, "max_steps": max_steps, "seed": seed,
        "data_seed": seed, "bf16": bf16_available(), "report_to": "none", "disable_tqdm": not progress,
        "dataloader_pin_memory": torch.cuda.is_available(),
    }


class LossLog(TrainerCallback):
    """Appends each logged training loss to a JSONL file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs and "loss" in logs:
            entry = {"step": state.global_step, "epoch": state.epoch, "loss": logs["loss"],
                     "learning_rate": logs.get("learning_rate")}
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")


class StopAfter(TrainerCallback):
    """Ends the run at a step, saving a checkpoint there."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.steps:
            control.should_save = True
            control.should_training_stop = True
        return control


@dataclass
class RunResult:
    steps: int  # optimizer steps done, resumed ones included
    max_steps: int
    resumed_from: str | None

    @property
    def finished(self) -> bool:
        return self.steps >= self.max_steps


def callbacks(out_dir: str, stop_after_steps: int | None) -> list[TrainerCallback]:
    found = [LossLog(Path(out_dir, LOSSES_FILE))]
    if stop_after_steps:
        found.append(StopAfter(stop_after_steps))
    return found


def train_resuming(trainer: Any, out_dir: str) -> RunResult:
    """`trainer.train()`, from the last checkpoint in `out_dir` if there is one. The losses
    logged after that checkpoint by the run that wrote it are dropped from the losses file: they
    are logged again."""
    checkpoint = get_last_checkpoint(out_dir) if os.path.isdir(out_dir) else None
    if checkpoint is not None:
        print(f"resuming from {checkpoint}", flush=True)
        step = int(checkpoint.rsplit("-", 1)[-1])
        losses = Path(out_dir, LOSSES_FILE)
        if losses.exists():
            kept = [line for line in losses.read_text().splitlines() if json.loads(line)["step"] <= step]
            losses.write_text("".join(line + "\n" for line in kept))
    trainer.train(resume_from_checkpoint=checkpoint)
    return RunResult(trainer.state.global_step, trainer.state.max_steps, checkpoint)
