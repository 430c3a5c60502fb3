"""`train-value` and the value scorer, on a tiny randomly initialised LM (no download, CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the [train] extra")  # CI installs it: .ci/run

from nbqa_builder.training.value_data import value_prompt, write_value_data  # noqa: E402
from tests.test_training_value_data import HEADER, NODES, write_tree  # noqa: E402
from tests.tiny_models import tiny_causal_lm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def conversation(i: int, good: bool) -> list[dict[str, str]]:
    word = "right" if good else "wrong"
    return [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"Question: what is q{i}?"},
            {"role": "assistant", "content": f"Thought: look.\nAction:\n```python\nprint(q{i})\n```"},
            {"role": "user", "content": "Observation:\n" + " ".join([word] * 12)}]


TOY = [(conversation(i, i % 2 == 0), 0.8 if i % 2 == 0 else -0.8) for i in range(8)]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("value")
    toy = folder / "toy.jsonl"  # JUPITER's value data format: prompt and value
    toy.write_text("".join(json.dumps({"prompt": value_prompt(c), "value": v}) + "\n" for c, v in TOY))
    write_tree(folder / "trees" / "t1.jsonl", HEADER, NODES)
    write_value_data([str(folder / "trees")], folder / "values")
    import pyarrow.parquet as pq

    tree_prompts = [row["prompt"] for row in pq.read_table(folder / "values" / "data").to_pylist()]
    model = tiny_causal_lm(folder / "model", [value_prompt(c) for c, _ in TOY] + tree_prompts)
    return {"toy": toy, "values": folder / "values", "model": model}


def scores_in_memory(model, tokenizer, conversations, max_length):
    import torch

    from nbqa_builder.training.value import encode

    model.eval()
    with torch.inference_mode():
        batch = encode(tokenizer, [value_prompt(c) for c in conversations], max_length)
        return model(batch["input_ids"], batch["attention_mask"])["values"].tolist()


def losses(out: Path) -> list[tuple[int, float]]:
    return [(entry["step"], entry["loss"]) for entry in map(json.loads, (out / "losses.jsonl").read_text().splitlines())]


def test_the_value_model_learns_a_toy_set_and_scores_the_same_after_a_reload(files, tmp_path):
    from nbqa_builder.training.value import load_scorer, train_value

    out = tmp_path / "run"
    # 32 tokens: the end of each conversation, where the observation says how the branch goes
    trainer, result = train_value(str(files["model"]), str(files["toy"]), str(out), learning_rate=1e-2, batch_size=4,
                                  max_length=32, max_steps=30, save_steps=100, logging_steps=1, progress=False)
    assert result.finished and result.steps == 30
    logged = [loss for _, loss in losses(out)]
    assert len(logged) == 30
    assert sum(logged[-5:]) / 5 < 0.5 * sum(logged[:5]) / 5  # MSE falls on a set it can learn

    conversations = [c for c, _ in TOY]
    scorer = load_scorer(out, batch_size=3)
    scores = scorer.score(conversations)
    assert scores == pytest.approx(scores_in_memory(trainer.model, scorer.tokenizer, conversations, 32), abs=1e-6)
    assert all(-1 <= s <= 1 for s in scores)
    good, bad = scores[0::2], scores[1::2]
    assert min(good) > max(bad)  # it learned which branches go right
    from nbqa_builder.search.value import load_value

    # what `search --value model:OUT` scores its states with
    assert load_value(f"model:{out}").score(conversations) == pytest.approx(scores, abs=1e-6)
    assert (out / "value_head.safetensors").exists() and (out / "model.safetensors").exists()


def test_truncation_keeps_the_end_of_the_conversation(files, tmp_path):
    from nbqa_builder.training.value import encode, load_tokenizer

    tokenizer = load_tokenizer(str(files["model"]))
    text = value_prompt(TOY[0][0])
    ids = encode(tokenizer, [text], 16)["input_ids"][0].tolist()
    assert len(ids) == 16 and text.endswith(tokenizer.decode(ids[-8:]))
    # two conversations that differ only before their last 16 tokens look the same to the model
    from nbqa_builder.training.value import train_value

    out = tmp_path / "short"
    train_value(str(files["model"]), str(files["toy"]), str(out), max_length=16, max_steps=1, save_steps=100,
                progress=False)
    from nbqa_builder.training.value import load_scorer

    scorer = load_scorer(out)
    early = [dict(turn) for turn in TOY[0][0]]
    early[1]["content"] = "Question: something else entirely, and much longer than before?"
    assert scorer.score([TOY[0][0]]) == pytest.approx(scorer.score([early]), abs=1e-6)
    assert scorer.score([TOY[0][0]]) != pytest.approx(scorer.score([TOY[1][0]]), abs=1e-6)


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_a_run_stopped_after_n_steps_resumes_from_its_checkpoint(files, tmp_path):
    common = ("train-value", "--model", files["model"], "--data", files["values"], "--max-length", 96, "--lr", 1e-3,
              "--batch-size", 2, "--max-steps", 6, "--save-steps", 2, "--logging-steps", 1, "--no-progress",
              "--out", tmp_path / "run")
    first = run_cli(*common, "--stop-after-steps", 3)
    assert first.returncode == 0, first.stderr
    assert "stopped after step 3 of 6; run the same command again" in first.stdout
    assert (tmp_path / "run" / "checkpoint-3").is_dir() and not (tmp_path / "run" / "value_head.json").exists()

    second = run_cli(*common)
    assert second.returncode == 0, second.stderr
    assert f"resuming from {tmp_path / 'run' / 'checkpoint-3'}" in second.stdout
    assert "trained 6 steps" in second.stdout
    resumed = losses(tmp_path / "run")
    assert [step for step, _ in resumed] == [1, 2, 3, 4, 5, 6]

    # the same as one run without a stop
    from nbqa_builder.training.value import load_scorer, train_value

    train_value(str(files["model"]), str(files["values"]), str(tmp_path / "whole"), learning_rate=1e-3, batch_size=2,
                max_length=96, max_steps=6, save_steps=2, logging_steps=1, progress=False)
    assert [loss for _, loss in resumed] == pytest.approx([loss for _, loss in losses(tmp_path / "whole")], rel=1e-4)
    conversations = [c for c, _ in TOY]
    assert load_scorer(tmp_path / "run").score(conversations) == pytest.approx(
        load_scorer(tmp_path / "whole").score(conversations), abs=1e-5)


def test_lora_trains_adapters_and_the_head_and_reloads_the_same(files, tmp_path):
    from nbqa_builder.training.value import load_scorer, train_value

    out = tmp_path / "lora"
    trainer, _ = train_value(str(files["model"]), str(files["toy"]), str(out), learning_rate=3e-3, batch_size=4,
                             max_length=64, max_steps=3, save_steps=100, lora=True, progress=False)
    assert (out / "adapter_model.safetensors").exists() and not (out / "model.safetensors").exists()
    conversations = [c for c, _ in TOY]
    scorer = load_scorer(out)
    trained = scores_in_memory(trainer.model, scorer.tokenizer, conversations, 64)
    assert scorer.score(conversations) == pytest.approx(trained, abs=1e-6)
    # what a resumed run does with a checkpoint: the adapter and the head back in a fresh model
    from nbqa_builder.training.value import build_value_model

    fresh = build_value_model(str(files["model"]), 64, lora=True)
    assert scores_in_memory(fresh, scorer.tokenizer, conversations, 64) != pytest.approx(trained, abs=1e-6)
    fresh.load_trained_weights(out)
    assert scores_in_memory(fresh, scorer.tokenizer, conversations, 64) == pytest.approx(trained, abs=1e-6)


def test_bad_data_is_one_line_exit_2(files, tmp_path):
    from nbqa_builder.training.value_data import load_value_rows

    (tmp_path / "x.jsonl").write_text(json.dumps({"text": "no prompt"}) + "\n")
    done = run_cli("train-value", "--model", files["model"], "--data", tmp_path / "x.jsonl", "--out", tmp_path / "out")
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "needs the columns prompt and value (missing: prompt, value)" in done.stderr
    for data, problem in ((tmp_path / "missing", "no such file or folder"), (tmp_path, "no Parquet files")):
        with pytest.raises(ValueError, match=problem):
            load_value_rows(data)


def test_nothing_heavy_is_imported_by_the_package_or_the_other_commands():
    code = ("import sys, nbqa_builder, nbqa_builder.cli as cli, nbqa_builder.training, nbqa_builder.training.value_data, "
            "nbqa_builder.turns, nbqa_builder.publish.chat, nbqa_builder.publish.steps\ncli.build_parser()\n"
            "print([m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr
