"""A value model: a causal LM with a value head, its training, and the scorer the search calls.

- **The model** (`ValueModel`): the LM's last hidden layer, mean-pooled under the attention mask,
  then dropout, a linear layer to 1 and tanh, as JUPITER's value model (NBQA.md); MSE against
  each node's Q. With LoRA (`peft`) only the adapters and the head learn.
- **Truncation keeps the end** of a long conversation, at training and at scoring alike
  (`encode`): the last steps say most about where a branch is going. JUPITER trains on the start
  of each prompt and scores its end; the two must not differ.
- **Text**: a conversation becomes the model's input with `value_data.value_prompt`, the same
  function that wrote the `prompt` column of the value data.
- **Checkpoints** are written with `save_pretrained` (the LM or its LoRA adapter, the tokenizer,
  `value_head.safetensors` and `value_head.json`) and read with `ValueModel.from_pretrained`;
  the training runs resume from them (runs.py).
- **The scorer** (`ValueScorer`, `load_scorer(path)`) implements the search's `ValueFunction`:
  batched, on the GPU when there is one, scores in [-1, 1].
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nbqa_builder.training import Conversation
from nbqa_builder.training.value_data import load_value_rows, value_prompt

HEAD_WEIGHTS = "value_head.safetensors"
HEAD_CONFIG = "value_head.json"
PROMPT_FORMAT = "role-blocks"  # value_data.value_prompt


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.truncation_side = "left"  # keep the end (see the module doc)
    return tokenizer


def encode(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """Token ids and attention masks of a batch, each text cut to its last `max_length` tokens."""
    tokenizer.truncation_side = "left"
    return tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")


class ValueHead(nn.Module):
    def __init__(self, hidden_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.normal_(self.linear.weight, std=0.01)  # start near 0: tanh is not saturated
        nn.init.zeros_(self.linear.bias)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(self.dropout(pooled))).squeeze(-1)


class ValueModel(nn.Module):
    """A causal LM (or a PeftModel around one) and a value head (see the module doc)."""

    def __init__(self, backbone: nn.Module, dropout: float = 0.1, max_length: int = 2048,
                 base_model: str | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        config = backbone.config.get_text_config() if hasattr(backbone.config, "get_text_config") else backbone.config
        self.head = ValueHead(config.hidden_size, dropout)
        self.dropout_p, self.max_length, self.base_model = dropout, max_length, base_model
        lm = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone
        # the LM's logits are not needed: compute them for the last position only where the model allows
        self._lm_kwargs = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(lm.forward).parameters else {}

    @property
    def is_lora(self) -> bool:
        return hasattr(self.backbone, "peft_config")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None):
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                            use_cache=False, **self._lm_kwargs)
        hidden = out.hidden_states[-1]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        values = self.head(pooled.float())
        loss = nn.functional.mse_loss(values, labels.to(values.dtype)) if labels is not None else None
        return {"loss": loss, "values": values}

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        self.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)

    # -- files -------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        from safetensors.torch import save_file

        os.makedirs(directory, exist_ok=True)
        self.backbone.save_pretrained(directory)  # a PeftModel writes its adapter only
        save_file({k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()},
                  os.path.join(directory, HEAD_WEIGHTS))
        config = {"dropout": self.dropout_p, "max_length": self.max_length, "lora": self.is_lora,
                  "base_model": self.base_model, "prompt_format": PROMPT_FORMAT, "truncation": "keep_end"}
        Path(directory, HEAD_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> "ValueModel":
        from transformers import AutoModelForCausalLM

        config = read_head_config(directory)
        if config["lora"]:
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(config["base_model"], dtype=dtype)
            backbone = PeftModel.from_pretrained(base, os.fspath(directory))
        else:
            backbone = AutoModelForCausalLM.from_pretrained(os.fspath(directory), dtype=dtype)
        model = cls(backbone, config["dropout"], config["max_length"], config["base_model"])
        model.load_head(directory)
        return model

    def load_head(self, directory: str | os.PathLike) -> None:
        from safetensors.torch import load_file

        self.head.load_state_dict(load_file(os.path.join(directory, HEAD_WEIGHTS)))

    def load_trained_weights(self, directory: str | os.PathLike) -> None:
        """Put the weights of a checkpoint of this model back in place (resuming a run)."""
        from safetensors.torch import load_file

        if self.is_lora:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(self.backbone, load_file(os.path.join(directory, "adapter_model.safetensors")))
        else:
            state = {}
            for name in sorted(os.listdir(directory)):
                if name.startswith("model") and name.endswith(".safetensors"):
                    state.update(load_file(os.path.join(directory, name)))
            missing, unexpected = self.backbone.load_state_dict(state, strict=False)
            if unexpected or [name for name in missing if "lm_head" not in name]:  # tied weights are not saved
                raise ValueError(f"{directory}: not a checkpoint of this model ({len(missing)} weights missing)")
        self.load_head(directory)


def read_head_config(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory, HEAD_CONFIG)
    if not path.is_file():
        raise ValueError(f"{directory}: not a value model (no {HEAD_CONFIG}; train one with train-value)")
    return json.loads(path.read_text(encoding="utf-8"))


class ValueScorer:
    """The search's value function over a trained value model: `score(conversations)`."""

    def __init__(self, path: str | os.PathLike, device: str | None = None, batch_size: int = 8,
                 max_length: int | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.bfloat16 if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else None
        self.model = ValueModel.from_pretrained(path, dtype=dtype).to(self.device).eval()
        self.tokenizer = load_tokenizer(os.fspath(path))
        self.batch_size = batch_size
        self.max_length = max_length or self.model.max_length

    @torch.inference_mode()
    def score(self, conversations: list[Conversation]) -> list[float]:
        texts = [value_prompt(conversation) for conversation in conversations]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        scores = [0.0] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            inputs = encode(self.tokenizer, [texts[i] for i in batch], self.max_length).to(self.device)
            values = self.model(inputs["input_ids"], inputs["attention_mask"])["values"]
            for i, value in zip(batch, values.float().cpu().tolist()):
                scores[i] = max(-1.0, min(1.0, value))
        return scores


def load_scorer(path: str | os.PathLike, **options: Any) -> ValueScorer:
    """The value function of a model written by `train-value` (what `search --value model:PATH` loads)."""
    return ValueScorer(path, **options)


# ---------------------------------------------------------------------------------------------
# training


class ValueCollator:
    """Rows of the value data -> a padded batch, cut as the scorer cuts (the end kept)."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = dict(encode(self.tokenizer, [row["prompt"] for row in rows], self.max_length))
        batch["labels"] = torch.tensor([float(row["value"]) for row in rows], dtype=torch.float32)
        return batch


def build_value_model(model: str, max_length: int, dropout: float = 0.1, lora: bool = False, lora_r: int = 8) -> ValueModel:
    """A fresh value head on a pretrained causal LM (a Hub name or a local folder)."""
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else None
    backbone = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
    base_model = os.path.abspath(model) if os.path.isdir(model) else model
    if lora:
        from peft import LoraConfig, get_peft_model

        # as JUPITER: rank 8, every linear projection of the LM
        backbone = get_peft_model(backbone, LoraConfig(r=lora_r, lora_alpha=4 * lora_r, lora_dropout=0.1,
                                                       target_modules="all-linear", task_type="CAUSAL_LM"))
    return ValueModel(backbone, dropout, max_length, base_model)


def train_value(model: str, data: str, out_dir: str, epochs: float = 3, learning_rate: float = 1e-4,
                batch_size: int = 4, grad_accum: int = 1, max_length: int = 2048, lora: bool = False, lora_r: int = 8,
                dropout: float = 0.1, save_steps: int = 200, logging_steps: int = 10, max_steps: int = -1,
                stop_after_steps: int | None = None, seed: int = 0, progress: bool = True):
    """Train (or resume training) a value model; returns (the trainer, runs.RunResult). The model
    is written to `out_dir` when the run has done all its steps."""
    from transformers import Trainer, TrainingArguments, set_seed
    from transformers.trainer import TRAINING_ARGS_NAME

    from nbqa_builder.training.runs import callbacks, common_arguments, train_resuming

    set_seed(seed)  # the head's initial weights
    rows = load_value_rows(data)
    tokenizer = load_tokenizer(model)
    value_model = build_value_model(model, max_length, dropout, lora, lora_r)

    class ValueTrainer(Trainer):
        """Checkpoints in the value model's own format, so that they load like the final model."""

        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            output_dir = output_dir or self.args.output_dir
            self.model.save_pretrained(output_dir)
            tokenizer.save_pretrained(output_dir)
            torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))

        def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
            (model or self.model).load_trained_weights(resume_from_checkpoint)

    args = TrainingArguments(**common_arguments(out_dir, epochs, learning_rate, batch_size, grad_accum, save_steps,
                                                logging_steps, max_steps, seed, progress),
                             remove_unused_columns=False, label_names=["labels"], weight_decay=0.01)
    trainer = ValueTrainer(model=value_model, args=args, train_dataset=rows, data_collator=ValueCollator(tokenizer, max_length),
                           callbacks=callbacks(out_dir, stop_after_steps))
    result = train_resuming(trainer, out_dir)
    if result.finished:
        trainer.save_model(out_dir)
    return trainer, result
