"""The bwrap sandbox starts wherever Python lives, and runs for a normal user as it does for root.

Both run the sandbox from a separate interpreter process, as a user would: from a virtual
environment made in /tmp or under /work (where the sandbox mounts each job's scratch and folder),
and as an unprivileged user (bwrap's --unshare-user branch), which the tests reach from root by
making the interpreter readable in a private mount namespace and switching to `nobody`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from nbqa_builder.sandbox.backends import python_paths
from tests.sandbox_fixtures import interpreter_entries

PROJECT = Path(__file__).resolve().parents[1]
NOBODY = 65534
pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

# Run by the interpreter under test: a few notebooks, and what each showed, as one JSON line.
CHECKS = r"""
import json, os, signal, sys, threading
from nbqa_builder.sandbox import Limits, WarmWorker

limits = Limits(timeout_s=20, total_timeout_s=60, memory_mb=512, tmp_mb=64, shm_mb=32)
report = {}
with WarmWorker("bwrap", limits) as worker:
    def run(*cells):
        result = worker.run_notebook(list(cells), {}, "")
        return [result.status, "".join(o.get("text", "") for c in result.cells for o in c.outputs)]
    report["python"] = run("import sys, pandas, sklearn\nprint(sys.prefix)")
    if "--hostile" in sys.argv:
        report["mapped_ids"] = run("print(open('/proc/self/uid_map').read().split()[2])")
        report["network"] = run("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\nexcept OSError as exc:\n    print(type(exc).__name__)")
        report["nested_userns"] = run("import subprocess\nprint(subprocess.run(['unshare', '-Ur', 'true']).returncode)")
        run("open('/tmp/left-behind', 'w').write('x')")
        report["next_tmp"] = run("import os\nprint(os.listdir('/tmp'))")
        report["tree_memory"] = run(
            "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        block = b'x' * (300 * 2**20)\n"
            "        time.sleep(30)\n        os._exit(0)\ntime.sleep(30)"
        )
        threading.Timer(1.0, os.kill, (worker.channel.pid, signal.SIGKILL)).start()
        report["worker_killed"] = run("import time\ntime.sleep(5)")
        report["after"] = run("print(6 * 7)")
print(json.dumps(report))
"""


def run_checks(python: str, *args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None) -> dict:
    done = subprocess.run([*(prefix or []), python, "-c", CHECKS, *args], capture_output=True, text=True,
                          env=env or {**os.environ, "PYTHONPATH": str(PROJECT)}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def work_folder() -> Path:
    """A new folder under /work (made, as root, where there is none: CI machines)."""
    work = Path("/work")
    if not work.is_dir():
        if os.geteuid() != 0:
            pytest.skip("no /work folder, and only root may make one")
        work.mkdir()
    return Path(tempfile.mkdtemp(prefix="nbqa-venv-", dir=work))


def venv_with_the_stack(venv: Path) -> Path:
    """A virtual environment at `venv` that imports what the Python running the tests imports.

    --system-site-packages gives it its base Python's packages; when the tests run from a venv
    (the README's), the analysis stack is in that venv's own site-packages instead, which becomes
    the new one's (a link, so the sandbox binds the real folder: a .pth file adding it would name
    a folder that the sandbox does not bind)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    if sys.prefix != sys.base_prefix:
        asked = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True)
        own = Path(asked.stdout.strip())
        own.rmdir()  # empty: made --without-pip
        own.symlink_to(sysconfig.get_path("purelib"), target_is_directory=True)
    return venv


@pytest.mark.parametrize("place", ["/tmp", "/work"])
def test_the_sandbox_runs_from_a_venv_in(place):
    made_work = place == "/work" and not Path("/work").exists()
    base = work_folder() if place == "/work" else Path(tempfile.mkdtemp(prefix="nbqa-venv-", dir="/tmp"))
    try:
        venv = venv_with_the_stack(base / "venv")
        report = run_checks(str(venv / "bin" / "python"))
        assert report["python"] == ["ok", f"{venv}\n"]
    finally:
        shutil.rmtree(base)
        if made_work:
            os.rmdir("/work")


def unreadable_ancestors(paths: list[str], uid: int) -> dict[str, list[str]]:
    """For each folder that `uid` may not pass through (a 0700 home), the paths under it."""
    blocked: dict[str, list[str]] = {}
    for path in paths:
        for ancestor in reversed(Path(path).parents):
            info = ancestor.stat()
            if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
                blocked.setdefault(str(ancestor), []).append(path)
                break
    return blocked


def as_nobody(home: Path, package: Path) -> tuple[list[str], dict[str, str]]:
    """The command prefix that runs the rest as `nobody`, in a mount namespace of its own where
    each folder it could not pass through on the way to the interpreter is a 0755 tmpfs holding
    only the interpreter's folders, bound back at their own paths."""
    lines = ["set -e"]
    for index, (ancestor, paths) in enumerate(unreadable_ancestors(python_paths(), NOBODY).items()):
        stage = home / f".stage-{index}"
        lines += [f"mkdir -p '{stage}'", f"mount --bind '{ancestor}' '{stage}'",
                  f"mount -t tmpfs -o mode=0755 tmpfs '{ancestor}'"]
        for path in paths:
            inner = os.path.relpath(path, ancestor)
            lines += [f"mkdir -p '{path}'", f"mount --bind '{stage}/{inner}' '{path}'"]
    lines.append(f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "$@"')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home), "PYTHONPATH": str(package)}
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines), "sh"], env


def test_the_sandbox_for_a_normal_user_contains_the_hostile_set():
    if os.geteuid() != 0:  # the tests already run as one
        report = run_checks(sys.executable, "--hostile")
    else:
        if not (shutil.which("unshare") and shutil.which("setpriv")):
            pytest.skip("util-linux's unshare and setpriv are needed to run as another user")
        probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                "bwrap", "--unshare-user", "--ro-bind", "/", "/", "true"], capture_output=True, text=True)
        if probe.returncode != 0:  # e.g. user.max_user_namespaces=0, or Ubuntu's AppArmor restriction
            pytest.skip(f"this machine lets no unprivileged user make a user namespace: {probe.stderr.strip()}")
        home = Path(tempfile.mkdtemp(prefix="nbqa-nobody-", dir="/tmp"))
        try:
            os.chmod(home, 0o755)
            package = home / "src"
            shutil.copytree(PROJECT / "nbqa_builder", package / "nbqa_builder")  # the checkout may be in /root
            for folder, _, _ in os.walk(home):
                os.chmod(folder, 0o755)
            os.chown(home, NOBODY, NOBODY)
            prefix, env = as_nobody(home, package)
            report = run_checks(sys.executable, "--hostile", env=env, prefix=prefix)
        finally:
            shutil.rmtree(home)
    assert report["python"][0] == "ok"
    assert report["mapped_ids"] == ["ok", "1\n"]  # in a user namespace of its own (as root: all ids)
    assert report["network"] == ["ok", "OSError\n"]
    assert report["nested_userns"][0] == "ok" and report["nested_userns"][1] != "0\n"
    assert report["next_tmp"] == ["ok", f"{interpreter_entries('/tmp')}\n"]
    assert report["tree_memory"][0] == "memory_limit"
    assert report["worker_killed"][0] == "sandbox_killed"
    assert report["after"] == ["ok", "42\n"]
