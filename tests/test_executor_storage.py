"""Where a cluster run keeps `_work/`: a storage URL opened through pyarrow.fs, or fsspec for a
scheme pyarrow does not know; a task's mirror uploads its part whole, its done marker last; a URL
that nothing opens is a recipe error before any work."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from nbqa_builder.executors.storage import StorageError, WorkStore, part_outputs
from tests.test_pipeline import demo_recipe, run_cli


def storage_urls(tmp_path: Path) -> list[str]:
    # file:// goes through pyarrow's own file system; memory:// only fsspec knows
    return [(tmp_path / "store").as_uri(), f"memory://nbqa-test-{uuid.uuid4().hex}/work"]


@pytest.mark.parametrize("kind", ["pyarrow", "fsspec"])
def test_a_part_written_in_a_tasks_mirror_reaches_the_store_whole(tmp_path: Path, kind: str):
    url = storage_urls(tmp_path)[kind == "fsspec"]
    store = WorkStore(tmp_path / "out" / "_work", url)
    assert not store.shared
    store.write_bytes("plan.json", b'{"parts": 1}')
    store.write_bytes("stage-0/reduce.json", b'{"drops": {}}')
    # a task of stage 1 on some node: fetches its inputs into its mirror, writes its part there
    folder = store.task_folder("run-key")
    store.fetch(folder, "stage-0/reduce.json", keep=True)
    assert (folder / "stage-0" / "reduce.json").read_bytes() == b'{"drops": {}}'
    (folder / "stage-1").mkdir(parents=True, exist_ok=True)
    outputs = part_outputs(1, 3)
    assert outputs[-1] == "stage-1/part-00003.json"  # the done marker is uploaded last
    for index, relative in enumerate(outputs):
        (folder / relative).write_bytes(bytes([index]) * 1000)
    store.publish(folder, outputs)
    assert store.names("stage-1") == {"part-00003.pkl", "part-00003.keys.pkl", "part-00003.json"}
    assert [store.read_bytes(r) for r in outputs] == [bytes([i]) * 1000 for i in range(3)]
    assert not any((folder / r).exists() for r in outputs)  # the mirror lets go of what it uploaded
    assert store.exists("plan.json") and not store.exists("stage-2/part-00000.json")
    assert store.names("stage-9") == set()
    # a store travels to the tasks pickled, and opens its file system there again
    import pickle

    again = pickle.loads(pickle.dumps(store))
    assert again.read_bytes("plan.json") == b'{"parts": 1}'
    store.remove_all()
    assert not store.exists("plan.json") and store.names("stage-1") == set()


def test_without_storage_tasks_work_in_the_output_folder_itself(tmp_path: Path):
    work = tmp_path / "out" / "_work"
    store = WorkStore(work)
    assert store.shared and store.task_folder("run-key") == work
    store.write_bytes("stage-0/part-00000.json", b"{}")
    assert (work / "stage-0" / "part-00000.json").read_bytes() == b"{}"
    assert not list(work.rglob("*.tmp"))


def test_a_storage_url_nothing_opens_is_a_clear_error(tmp_path: Path):
    with pytest.raises(StorageError, match="nosuchfs"):
        WorkStore(tmp_path, "nosuchfs://bucket/work").fs  # noqa: B018


def test_a_ray_run_with_such_storage_stops_before_any_work(tmp_path: Path):
    pytest.importorskip("ray", reason="the Ray executor's tests need Ray: pip install '.[ray]'")
    recipe = demo_recipe(tmp_path, executor={"kind": "ray", "address": "local", "storage": "nosuchfs://bucket/work"})
    result = run_cli("run", str(recipe), "--no-progress")
    assert result.returncode == 2, result.stderr
    assert "executor.storage nosuchfs://bucket/work" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback
    assert not (tmp_path / "out" / "_work").exists()
