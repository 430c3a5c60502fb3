"""Pushing a build to the Hub: one commit per push, no stale shards, resumable, token kept out."""

from __future__ import annotations

import re

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from nbqa_builder.publish.hub import PushError, push_dataset
from nbqa_builder.publish.shards import ShardWriter, read_rows
from tests.hub_standin import FolderHub, tree

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "demo.yaml"
FAKE_TOKEN = "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42"


def build(tmp_path: Path, name: str, drop_steps: tuple[str, ...] = (), **publish) -> Path:
    """A real build of the demo examples; without `verify`, every task lands in `sft`."""
    recipe = yaml.safe_load(DEMO.read_text())
    recipe["source"]["path"] = str(ROOT / "examples" / "repos")
    recipe["output"] = str(tmp_path / name)
    recipe["steps"] = [s for s in recipe["steps"] if next(iter(s)) not in drop_steps]
    if publish:
        recipe["publish"] = publish
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbqa_builder", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("builds")
    first, second = build(tmp_path, "first", drop_steps=("verify",)), build(tmp_path, "second")
    for recipe in (first, second):
        result = run_cli("run", str(recipe), "--no-progress")
        assert result.returncode == 0, result.stderr
    return tmp_path / "first" / "dataset", tmp_path / "second" / "dataset"


def test_republish_leaves_exactly_the_new_build(two_builds, tmp_path):
    first, second = two_builds
    [first_sft], [second_sft] = (list((build / "data" / "sft").glob("*.parquet")) for build in (first, second))
    # unverified, every task of the first build is sft; the second sends most to interactive
    assert read_rows([first_sft]) > read_rows([second_sft]) > 0 and first_sft.name != second_sft.name
    hub = FolderHub(tmp_path / "hub")
    push_dataset(first, "org/nbqa", client=hub)
    assert tree(hub.folder("org/nbqa")) == tree(first)
    report = push_dataset(second, "org/nbqa", client=hub)
    assert tree(hub.folder("org/nbqa")) == tree(second)  # the sft shards of the first build are gone
    assert [p for p in report.deleted if p.startswith("data/sft/train-00000-of-00001-")]
    assert len(hub.commits) == 2  # one commit per push: readers never see a mix


def test_a_changed_shard_count_leaves_no_stale_shards(tmp_path):
    schema = pa.schema([("x", pa.int64())])

    def dataset(folder: Path, rows: int) -> Path:
        (folder / "README.md").parent.mkdir(parents=True, exist_ok=True)
        (folder / "README.md").write_text(f"{rows} rows\n")
        writer = ShardWriter(folder / "data" / "sft", schema, max_rows_per_shard=2, rows_per_group=2)
        for x in range(rows):
            writer.write({"x": x})
        writer.close()
        return folder

    hub = FolderHub(tmp_path / "hub")
    push_dataset(dataset(tmp_path / "v1", 8), "org/x", client=hub)
    shards = [p for p in sorted(tree(hub.folder("org/x"))) if p != "README.md"]
    assert [re.sub(r"-[0-9a-f]{8}\.parquet$", "", p) for p in shards] == [f"data/sft/train-0000{i}-of-00004" for i in range(4)]
    push_dataset(dataset(tmp_path / "v2", 5), "org/x", client=hub)
    assert tree(hub.folder("org/x")) == tree(tmp_path / "v2")
    assert not [p for p in tree(hub.folder("org/x")) if "-of-00004" in p]


def test_files_of_other_owners_are_left_alone(two_builds, tmp_path):
    hub = FolderHub(tmp_path / "hub")
    hub.create_repo("org/nbqa", repo_type="dataset")
    (hub.folder("org/nbqa") / ".gitattributes").write_text("*.parquet filter=lfs\n")
    push_dataset(two_builds[1], "org/nbqa", client=hub)
    assert (hub.folder("org/nbqa") / ".gitattributes").read_text() == "*.parquet filter=lfs\n"


def test_an_interrupted_push_changes_nothing_and_resumes_sending_only_what_differs(two_builds, tmp_path):
    first, second = two_builds
    hub = FolderHub(tmp_path / "hub")
    push_dataset(first, "org/nbqa", client=hub)
    hub.fail_commits = 1
    with pytest.raises(PushError, match="run the same command again to resume"):
        push_dataset(second, "org/nbqa", client=hub)
    assert tree(hub.folder("org/nbqa")) == tree(first)  # all or nothing
    report = push_dataset(second, "org/nbqa", client=hub)
    assert tree(hub.folder("org/nbqa")) == tree(second)
    unchanged = {p for p, data in tree(second).items() if tree(first).get(p) == data}
    assert unchanged and not unchanged & set(report.uploaded)
    assert push_dataset(second, "org/nbqa", client=hub).uploaded == []  # a third push sends nothing


def test_push_refuses_a_folder_that_is_not_a_build(tmp_path):
    with pytest.raises(PushError, match="not a built dataset"):
        push_dataset(tmp_path, "org/nbqa", client=FolderHub(tmp_path / "hub"))


def test_push_command_error_is_one_line_without_the_token(two_builds):
    # offline, the real client fails at once: the message must be short and must not echo the token
    result = run_cli("push", str(two_builds[1]), "--repo", "org/nbqa",
                     env={"HF_TOKEN": FAKE_TOKEN, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: push to org/nbqa failed") and result.stderr.count("\n") == 1
    assert FAKE_TOKEN not in result.stdout + result.stderr


def test_recipe_publish_hub_pushes_after_the_build(tmp_path, monkeypatch, capsys, caplog):
    import logging

    import huggingface_hub

    from nbqa_builder.cli import main

    hub = FolderHub(tmp_path / "hub")
    tokens = []
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: tokens.append(token) or hub)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    caplog.set_level(logging.DEBUG)
    recipe = build(tmp_path, "published", hub="org/demo", private=True)
    assert main(["run", str(recipe), "--no-progress"]) == 0
    assert tokens == [FAKE_TOKEN] and hub.private["org/demo"] is True
    assert tree(hub.folder("org/demo")) == tree(tmp_path / "published" / "dataset")
    out = capsys.readouterr()
    assert "pushed to https://huggingface.co/datasets/org/demo" in out.out
    logged = out.out + out.err + caplog.text
    written = b"".join(p.read_bytes() for p in (tmp_path / "published").rglob("*") if p.is_file())
    assert FAKE_TOKEN not in logged and FAKE_TOKEN.encode() not in written


@pytest.mark.skipif(not (os.environ.get("NBQA_HUB_TEST_REPO") and os.environ.get("HF_TOKEN")),
                    reason="set NBQA_HUB_TEST_REPO=org/name and HF_TOKEN to test against the real Hub")
def test_real_hub_round_trip(two_builds):
    from huggingface_hub import HfApi

    repo = os.environ["NBQA_HUB_TEST_REPO"]
    first, second = two_builds
    push_dataset(first, repo, private=True, commit_message=f"nbqa_builder test {uuid.uuid4()}")
    push_dataset(second, repo, private=True)
    remote = {p for p in HfApi(token=os.environ["HF_TOKEN"]).list_repo_files(repo, repo_type="dataset")
              if p.startswith("data/") or p in ("README.md", "stats.json", "funnel.png")}
    assert remote == set(tree(second))
