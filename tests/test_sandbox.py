"""Hostile notebooks stay inside the sandbox, each with a clear status, and the host is unaffected."""

from __future__ import annotations

import shutil
import socket
import threading
import uuid
from pathlib import Path

import psutil
import pytest

from nbqa_builder.sandbox.backends import SandboxUnavailable
from nbqa_builder.sandbox.limits import Limits
from nbqa_builder.sandbox.runner import WarmWorker

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
PROJECT = Path(__file__).resolve().parents[1]
SMALL = Limits(timeout_s=4, total_timeout_s=20, memory_mb=512, max_processes=32, max_output_bytes=100_000, max_file_mb=10)


@pytest.fixture(scope="module")
def bwrap_worker():
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    with WarmWorker("bwrap", SMALL) as worker:
        yield worker


@pytest.fixture(scope="module")
def process_worker():
    with WarmWorker("process", SMALL) as worker:
        yield worker


@pytest.fixture(params=["bwrap", "process"])
def any_worker(request):
    return request.getfixturevalue(f"{request.param}_worker")


def run(worker, *cells, files=None, cwd=""):
    return worker.run_notebook(list(cells), files or {}, cwd)


def text_of(cell_run) -> str:
    return repr(cell_run.outputs)


def assert_still_works(worker):
    after = run(worker, "print(6 * 7)")
    assert after.status == "ok" and after.cells[0].outputs[0]["text"] == "42\n"


@needs_bwrap
def test_no_network_to_an_outside_address(bwrap_worker):
    result = run(bwrap_worker, "import socket\nsocket.create_connection(('93.184.216.34', 80), timeout=2)")
    assert result.status == "error"
    assert result.cells[0].outputs[-1]["ename"] in {"OSError", "ConnectionRefusedError", "TimeoutError", "gaierror"}


@needs_bwrap
def test_no_network_to_a_service_on_the_hosts_loopback(bwrap_worker):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []

    def accept():
        server.settimeout(3)
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    result = run(bwrap_worker, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
    thread.join()
    server.close()
    assert result.status == "error"
    assert result.cells[0].outputs[-1]["ename"] in {"ConnectionRefusedError", "OSError"}
    assert accepted == []


@needs_bwrap
def test_secret_files_of_the_host_are_invisible(bwrap_worker):
    marker = Path.home() / f".nbqa-sandbox-test-{uuid.uuid4().hex}"
    marker.write_text("home-secret-5f2a")
    try:
        for path in ("/etc/shadow", str(marker), str(PROJECT / ".git" / "HEAD"), str(PROJECT / "pyproject.toml")):
            result = run(bwrap_worker, f"print(open({path!r}).read())")
            assert result.status == "error", path
            assert result.cells[0].outputs[-1]["ename"] in {"FileNotFoundError", "PermissionError", "NotADirectoryError"}
        listing = run(bwrap_worker, f"import os\nprint(os.listdir({str(Path.home())!r}))")
        assert marker.name not in text_of(listing.cells[0])
    finally:
        marker.unlink()


@needs_bwrap
def test_files_of_an_earlier_job_are_gone(bwrap_worker, tmp_path):
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n")
    first = run(bwrap_worker, "open('/tmp/left-behind', 'w').write('secret')\nprint(open('data/a.csv').read())", files={"data/a.csv": data})
    assert first.status == "ok" and first.cells[0].outputs[0]["text"] == "x\n1\n\n"
    second = run(bwrap_worker, "import os\nprint(os.path.exists('/tmp/left-behind'), sorted(os.listdir('/work')))")
    assert second.cells[0].outputs[0]["text"] == "False []\n"


def test_tokens_of_the_parent_environment_never_reach_the_notebook(monkeypatch, tmp_path):
    secrets = {"GITHUB_TOKEN": "ghp_plantedsecret1", "OPENAI_API_KEY": "sk-plantedsecret2", "HF_TOKEN": "hf_plantedsecret3"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    backend = "bwrap" if shutil.which("bwrap") else "process"
    with WarmWorker(backend, SMALL) as worker:
        result = run(
            worker,
            "import os\nprint(dict(os.environ))\nprint(os.environ.get('GITHUB_TOKEN'), os.environ.get('HF_TOKEN'))",
            "print(open('/proc/self/environ', 'rb').read())",
        )
    assert result.status == "ok"
    for value in secrets.values():
        assert value not in text_of(result.cells[0]) + text_of(result.cells[1])
    assert "None None" in text_of(result.cells[0])


@needs_bwrap
def test_a_fork_bomb_is_contained(bwrap_worker):
    result = run(bwrap_worker, "import os\nwhile True:\n    os.fork()")
    assert result.status in {"error", "timeout"}
    # no process of the sandbox user outlives the job
    leftovers = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == bwrap_worker.uid]
    worker_pid_count = 2  # bwrap's init and the warm worker itself
    assert len(leftovers) <= worker_pid_count
    assert_still_works(bwrap_worker)


def test_allocating_50_gb_is_a_memory_error(any_worker):
    result = run(any_worker, "x = bytearray(50 * 2**30)")
    assert result.status == "error"
    assert result.cells[0].outputs[-1]["ename"] == "MemoryError"
    assert_still_works(any_worker)


def test_an_endless_loop_times_out(any_worker):
    result = run(any_worker, "while True:\n    pass", "print('never')")
    assert [cell.status for cell in result.cells] == ["timeout", "not_run"]
    assert "longer than 4 s" in result.cells[0].message
    assert_still_works(any_worker)


def test_printing_a_gigabyte_hits_the_output_limit(any_worker):
    result = run(any_worker, "line = 'x' * 1023\nfor _ in range(2**20):\n    print(line)")
    assert result.status == "output_limit"
    assert len(text_of(result.cells[0])) < 3 * SMALL.max_output_bytes
    assert_still_works(any_worker)


def test_writing_a_10_gb_file_stops_at_the_file_size_limit(any_worker):
    result = run(any_worker, "block = bytes(2**20)\nwith open('big.bin', 'wb') as f:\n    for _ in range(10 * 1024):\n        f.write(block)")
    assert result.status == "error"
    assert "File too large" in result.cells[0].outputs[-1]["evalue"]
    assert_still_works(any_worker)


@needs_bwrap
def test_killing_its_parent_ends_only_that_notebook(bwrap_worker):
    result = run(bwrap_worker, "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(2)")
    assert result.status == "died"
    assert "ended" in result.cells[0].message
    assert_still_works(bwrap_worker)  # a fresh warm worker took over


def test_asking_for_bwrap_without_bubblewrap_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to find
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        WarmWorker("bwrap", SMALL)


def test_forked_sessions_continue_from_the_same_state_independently(any_worker):
    with any_worker.job({}, "") as session:
        session.run_cell("import pandas as pd\nframe = pd.DataFrame({'a': [1, 2, 3]})")
        branch = session.fork()
        assert branch.run_cell("frame['a'] = frame['a'] * 10\nint(frame['a'].sum())").outputs[0]["data"]["text/plain"] == "60"
        assert session.run_cell("int(frame['a'].sum())").outputs[0]["data"]["text/plain"] == "6"


def test_outputs_are_nbformat_outputs(any_worker):
    result = run(
        any_worker,
        "import pandas as pd\npd.DataFrame({'a': [1, 2]})",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2]);",
        "import sys\nprint('out')\nprint('err', file=sys.stderr)",
        "{}['missing']",
    )
    frame, figure, streams, error = result.cells
    assert "<table" in frame.outputs[0]["data"]["text/html"]
    assert figure.outputs[0]["output_type"] == "display_data" and "image/png" in figure.outputs[0]["data"]
    assert [(o["name"], o["text"]) for o in streams.outputs] == [("stdout", "out\n"), ("stderr", "err\n")]
    assert error.status == "error" and error.outputs[0]["ename"] == "KeyError"


def test_each_run_draws_fresh_random_numbers(any_worker):
    code = "import random, numpy as np\nprint(random.random(), np.random.rand())"
    first, second = run(any_worker, code), run(any_worker, code)
    assert text_of(first.cells[0]) != text_of(second.cells[0])
