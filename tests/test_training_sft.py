"""`train-sft`: TRL's SFTTrainer on the `messages` export, with a tiny randomly initialised LM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="the [train] extra")  # CI installs it: .ci/run

from tests.test_export_sft import solved  # noqa: E402
from tests.dataset_fixtures import write_dataset  # noqa: E402
from tests.tiny_models import CHAT_TEMPLATE, tiny_causal_lm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SALES = b"day,price\n1,4.0\n2,6.0\n"


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sft")
    dataset = write_dataset(str(folder / "ds"), {"interactive": [solved("t1", False), solved("t2", False)]},
                            {"../data/sales.csv": SALES})
    done = run_cli("export", "sft", dataset, "--to", folder / "chats.jsonl", "--sandbox", "off")
    assert done.returncode == 0, done.stderr
    chats = [json.loads(line)["messages"] for line in (folder / "chats.jsonl").read_text().splitlines()]
    from jinja2 import Template

    rendered = [Template(CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", ""))
                .render(messages=chat) for chat in chats]
    return {"chats": folder / "chats.jsonl", "model": tiny_causal_lm(folder / "model", rendered, vocab_size=800)}


def losses(out: Path) -> list[tuple[int, float]]:
    return [(entry["step"], entry["loss"]) for entry in map(json.loads, (out / "losses.jsonl").read_text().splitlines())]


def logits_of(model, tokenizer, chats_file: Path):
    import torch

    chat = json.loads(chats_file.read_text().splitlines()[0])["messages"]
    ids = tokenizer.apply_chat_template(chat, return_tensors="pt", return_dict=True)["input_ids"][:, :256]
    model.eval()
    with torch.inference_mode():
        return model(input_ids=ids.to(model.device)).logits.float().cpu()


def test_sft_loss_falls_and_the_saved_model_gives_the_same_logits(files, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from nbqa_builder.training.sft import train_sft

    out = tmp_path / "run"
    trainer, result = train_sft(str(files["model"]), str(files["chats"]), str(out), learning_rate=1e-2, batch_size=2,
                                grad_accum=1, max_length=512, max_steps=15, save_steps=100, logging_steps=1,
                                progress=False)
    assert result.finished and result.steps == 15
    logged = [loss for _, loss in losses(out)]
    assert len(logged) == 15
    assert sum(logged[-3:]) < 0.75 * sum(logged[:3])  # the two chats are being learned (2 nats in 15 steps)

    reloaded = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template
    assert torch.allclose(logits_of(trainer.model, tokenizer, files["chats"]),
                          logits_of(reloaded, tokenizer, files["chats"]), atol=1e-5)


def test_a_stopped_sft_run_resumes_from_its_checkpoint(files, tmp_path, capsys):
    from nbqa_builder.training.sft import train_sft

    out = tmp_path / "run"
    run = dict(learning_rate=1e-3, batch_size=1, grad_accum=1, max_length=256, max_steps=4, save_steps=2,
               logging_steps=1, progress=False)
    _, first = train_sft(str(files["model"]), str(files["chats"]), str(out), stop_after_steps=2, **run)
    assert not first.finished and first.steps == 2 and (out / "checkpoint-2").is_dir()
    assert not (out / "model.safetensors").exists()
    _, second = train_sft(str(files["model"]), str(files["chats"]), str(out), **run)
    assert second.finished and second.steps == 4 and second.resumed_from == str(out / "checkpoint-2")
    assert f"resuming from {out / 'checkpoint-2'}" in capsys.readouterr().out
    assert [step for step, _ in losses(out)] == [1, 2, 3, 4]
    assert (out / "model.safetensors").exists()


def test_lora_on_assistant_turns_only_saves_an_adapter_that_reloads(files, tmp_path):
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    from nbqa_builder.training.sft import train_sft

    out = tmp_path / "lora"
    trainer, _ = train_sft(str(files["model"]), str(files["chats"]), str(out), learning_rate=5e-3, batch_size=1,
                           grad_accum=1, max_length=256, max_steps=2, save_steps=100, lora=True,
                           assistant_only_loss=True, progress=False)
    assert (out / "adapter_model.safetensors").exists() and not (out / "model.safetensors").exists()
    tokenizer = AutoTokenizer.from_pretrained(out)
    reloaded = AutoPeftModelForCausalLM.from_pretrained(out)
    assert torch.allclose(logits_of(trainer.model, tokenizer, files["chats"]),
                          logits_of(reloaded, tokenizer, files["chats"]), atol=1e-5)


def test_what_cannot_be_trained_on_is_one_line_exit_2(files, tmp_path):
    (tmp_path / "alpaca.jsonl").write_text(json.dumps({"instruction": "x", "output": "y"}) + "\n")
    done = run_cli("train-sft", "--model", files["model"], "--data", tmp_path / "alpaca.jsonl", "--out", tmp_path / "o")
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "not a messages export" in done.stderr
