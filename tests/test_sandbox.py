"""Hostile notebooks stay inside the sandbox, each with a clear status, and the host is unaffected.

Each notebook runs in a fresh world: nothing one leaves behind (files, locked folders, a full
/tmp, SysV IPC, keys) reaches the next, its limits hold over its whole process tree, and one that
kills its sandbox gets a verdict while the next runs as usual.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from nbqa_builder.sandbox.backends import SandboxUnavailable
from nbqa_builder.sandbox.limits import Limits
from nbqa_builder.sandbox.runner import WarmWorker
from tests.sandbox_fixtures import interpreter_entries

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
PROJECT = Path(__file__).resolve().parents[1]
SMALL = Limits(timeout_s=4, total_timeout_s=20, memory_mb=512, max_processes=32, max_output_bytes=100_000,
               max_total_output_bytes=300_000, max_file_mb=10, tmp_mb=64, shm_mb=32)


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
    # stopped by the process limit, or by the memory of the whole tree, whichever comes first
    assert result.status in {"error", "timeout", "memory_limit"}
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
@pytest.mark.parametrize("attack", ["import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "!pkill -9 -f python"])
def test_a_notebook_that_attacks_its_worker_ends_alone(bwrap_worker, attack):
    # the job's parent is its own pid 1, and the worker is in no pid namespace the job can see
    result = run(bwrap_worker, f"{attack}\nimport time\ntime.sleep(1)\nprint('alive')")
    assert result.status in {"ok", "died"}, result.cells[0].message
    assert_still_works(bwrap_worker)


def test_a_worker_killed_during_a_notebook_is_a_verdict_and_is_replaced(any_worker):
    # what the kernel's OOM killer, or a notebook that got out, would do
    assert_still_works(any_worker)
    worker_pid = any_worker.channel.pid
    threading.Timer(1.0, os.kill, (worker_pid, signal.SIGKILL)).start()
    result = run(any_worker, "import time\ntime.sleep(3)", "print('never')")
    assert [cell.status for cell in result.cells] == ["sandbox_killed", "not_run"]
    assert "warm worker died during the notebook" in result.cells[0].message
    assert_still_works(any_worker)
    assert any_worker.channel.pid != worker_pid


@needs_bwrap
def test_a_locked_and_full_tmp_and_shm_do_not_reach_the_next_notebook(bwrap_worker):
    attacker = """
import os
for root in ('/tmp', '/dev/shm'):
    os.makedirs(f'{root}/locked/inner')
    open(f'{root}/locked/inner/kept', 'w').write('x')
    os.chmod(f'{root}/locked/inner', 0o555)
    os.chmod(f'{root}/locked', 0o555)
errors = []
for root in ('/tmp', '/dev/shm'):
    try:
        for i in range(1000):
            with open(f'{root}/fill-{i}', 'wb') as f:
                for _ in range(5):
                    f.write(bytes(2**20))
    except OSError as exc:
        errors.append(exc.strerror)
print(errors)
"""
    first = run(bwrap_worker, attacker)
    assert first.cells[0].outputs[0]["text"] == "['No space left on device', 'No space left on device']\n"
    second = run(bwrap_worker, "import os\nprint(os.listdir('/tmp'), os.listdir('/dev/shm'))\nopen('/tmp/x', 'wb').write(bytes(2**20))")
    assert second.status == "ok"
    assert second.cells[0].outputs[0]["text"] == f"{interpreter_entries('/tmp')} []\n"


SYSCALLS = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}


@needs_bwrap
@pytest.mark.skipif(platform.machine() not in SYSCALLS, reason=f"no syscall numbers for {platform.machine()}")
def test_sysv_ipc_and_keys_do_not_reach_the_next_notebook(bwrap_worker):
    numbers = SYSCALLS[platform.machine()]
    setup = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
KEY = 0x6E627161
USER_KEYRING = ctypes.c_long(-4)
"""
    plant = setup + f"""
print(libc.shmget(KEY, 4096, 0o1600) >= 0, libc.msgget(KEY, 0o1600) >= 0)
libc.syscall({numbers['add_key']}, b'user', b'nbqa-planted', b'secret', 6, USER_KEYRING)
"""
    look = setup + f"""
print(libc.shmget(KEY, 0, 0), libc.msgget(KEY, 0), libc.syscall({numbers['keyctl']}, 10, USER_KEYRING, b'user', b'nbqa-planted', 0))
"""
    first = run(bwrap_worker, plant)
    assert first.cells[0].outputs[0]["text"] == "True True\n"  # a notebook may use SysV IPC
    second = run(bwrap_worker, look)
    assert second.cells[0].outputs[0]["text"] == "-1 -1 -1\n"
    if bwrap_worker.uid is not None:  # the jobs' uid holds no key on the host either
        users = Path("/proc/key-users").read_text().splitlines()
        assert not any(line.split(":")[0].strip() == str(bwrap_worker.uid) for line in users)


@needs_bwrap
def test_dev_shm_is_capped(bwrap_worker):
    # 100 MB in files of 5 MB (one file may have 10 MB), into a /dev/shm of 32 MB
    result = run(bwrap_worker, "for i in range(20):\n    open(f'/dev/shm/part-{i}', 'wb').write(bytes(5 * 2**20))")
    assert result.status == "error"
    assert "No space left on device" in result.cells[0].outputs[-1]["evalue"]


CHILDREN_OF_300_MB = """
import os, time
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        block = b'x' * (300 * 2**20)   # each child alone is well under the 512 MB limit
        time.sleep(30)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""


@pytest.fixture(scope="module")
def watchdog_worker():
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    with WarmWorker("bwrap", SMALL, memory_control="watchdog") as worker:
        yield worker


@pytest.mark.parametrize("worker_kind", ["bwrap_worker", "process_worker", "watchdog_worker"])
def test_memory_is_bounded_over_the_whole_process_tree(request, worker_kind):
    # bwrap_worker and process_worker use a cgroup v2 where the machine allows it, else the
    # init's watch; watchdog_worker always the watch
    worker = request.getfixturevalue(worker_kind)
    result = run(worker, CHILDREN_OF_300_MB, "print('never')")
    assert [cell.status for cell in result.cells] == ["memory_limit", "not_run"], (worker.memory_control, result.cells[0].message)
    assert "together" in result.cells[0].message
    assert result.cells[0].time_s < SMALL.timeout_s
    assert_still_works(worker)


def test_a_notebooks_total_output_is_capped(any_worker):
    cell = "print('x' * 90_000)"  # under the 100 kB of one cell; 300 kB in all
    result = run(any_worker, *[cell] * 6)
    assert [c.status for c in result.cells] == ["ok", "ok", "ok", "output_limit", "not_run", "not_run"]
    assert "300000 bytes of output in all" in result.cells[3].message
    assert sum(len(text_of(c)) for c in result.cells) < 400_000


@needs_bwrap
def test_no_nested_user_namespaces_no_capabilities_and_a_seccomp_filter(bwrap_worker):
    result = run(
        bwrap_worker,
        "import subprocess\nprint(subprocess.run(['unshare', '-Ur', 'true']).returncode)",
        "print({k: v.strip() for k, v in (l.split(':') for l in open('/proc/self/status')) if k in ('CapEff', 'CapBnd', 'Seccomp')})",
    )
    assert result.status == "ok"
    assert result.cells[0].outputs[0]["text"] != "0\n"
    assert result.cells[1].outputs[0]["text"] == "{'CapEff': '0000000000000000', 'CapBnd': '0000000000000000', 'Seccomp': '2'}\n"


@pytest.mark.parametrize("backend", ["bwrap", "process"])
def test_the_first_notebook_of_a_worker_finds_its_folder_and_home_empty(backend):
    if backend == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    with WarmWorker(backend, SMALL) as worker:
        result = run(worker, "import os\nprint(sorted(os.listdir('.')), sorted(os.listdir(os.path.expanduser('~'))))")
    assert result.cells[0].outputs[0]["text"] == "[] []\n"


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


def test_a_branch_outlives_its_parent_and_ended_branches_leave_no_zombies(any_worker):
    # a search closes states in any order: a branch must go on when its parent is closed, and a
    # parent that loses many branches must not keep them as zombies (they count as processes)
    zombies = ("import os\n"
               "def zombie(pid):\n"
               "    with open(f'/proc/{pid}/stat') as f:\n"
               "        fields = f.read().rsplit(')', 1)[1].split()\n"
               "    return fields[0] == 'Z' and int(fields[1]) == os.getpid()\n"
               "print(sum(zombie(p) for p in os.listdir('/proc') if p.isdigit()))")
    with any_worker.job({}, "") as session:
        session.run_cell("x = 7")
        for _ in range(5):
            session.fork().kill()
        counts = []
        for _ in range(40):  # a killed branch takes a moment to end; the next request reaps it
            counts.append(session.run_cell(zombies).outputs[0]["text"])
            if counts[-1] == "0\n":
                break
            time.sleep(0.05)
        assert counts[-1] == "0\n", counts
        branch = session.fork()
        session.kill()
        assert branch.run_cell("print(x * 6)").outputs[0]["text"] == "42\n"


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


def test_a_job_folder_already_gone_leaves_the_folder_that_held_it_as_it_was(tmp_path):
    """Cleaning up after a notebook that removed its own folder once made `/tmp` root's alone (0700)."""
    from nbqa_builder.sandbox.runner import _remove_tree

    os.chmod(tmp_path, 0o1777)
    _remove_tree(tmp_path / "job-gone")
    locked = tmp_path / "job" / "locked"
    locked.mkdir(parents=True)
    (locked / "kept").write_text("x")
    os.chmod(locked, 0o555)
    _remove_tree(tmp_path / "job")
    assert not (tmp_path / "job").exists()
    assert oct(os.stat(tmp_path).st_mode & 0o7777) == oct(0o1777)
