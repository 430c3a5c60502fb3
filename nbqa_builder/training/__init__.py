"""Training on NbQA exports and search trees: value targets, a value model, SFT (extra `[train]`).

- `value_data.py`: value targets from the search's tree files (`python -m nbqa_builder
  value-data TREES... --out DIR`); no heavy dependency.
- `value.py`: a causal LM with a value head (mean-pooled last hidden layer, dropout, linear to 1,
  tanh; MSE), its trainer (`train-value`) and `ValueScorer`, the value function the search calls.
- `sft.py`: `train-sft`, a thin layer over TRL's SFTTrainer on the `messages` export.
- `runs.py`: what both trainers share: resuming from the last checkpoint, losses logged to a file.

Only `value.py`, `sft.py` and `runs.py` import torch, transformers, peft or trl, and nothing
imports them but the commands that train or score.
"""

from __future__ import annotations

from typing import Any, Protocol

Conversation = list[dict[str, str]]


class ValueFunction(Protocol):
    """What the search calls: each conversation is the chat messages ({"role", "content"}) from the
    system turn to a node, in the export's turn format; scores lie in [-1, 1]."""

    def score(self, conversations: list[Conversation]) -> list[float]: ...


def quiet_load(load: Any, *args: Any, **kwargs: Any) -> Any:
    """`load(...)` without the progress bars of `datasets` (reading a small file is not news)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return load(*args, **kwargs)
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
