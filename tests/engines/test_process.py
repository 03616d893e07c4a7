"""Spawning, adopting and stopping processes; the unprivileged account."""

from __future__ import annotations

import os
import pwd
import signal
import sys
import time
from pathlib import Path

import pytest

from moonbase.engines.base import EngineError, RunAs
from moonbase.engines.process import (
    check_traversable,
    clean_env,
    ensure_run_as_user,
    is_alive,
    kill_all_under,
    pid_serving,
    pids_under,
    spawn,
    stop,
)


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(entry))
    return found


def test_exited_child_is_not_alive(test_dir: Path):
    pid = spawn(["/bin/true"], run_as=None, log_file=None, cwd=test_dir)
    deadline = time.monotonic() + 5
    while is_alive(pid):
        assert time.monotonic() < deadline, "a zombie counted as alive"
        time.sleep(0.01)


def test_pid_file_trusted_only_for_its_folder(test_dir: Path):
    served = test_dir / "server"
    served.mkdir()
    pid = spawn(
        [sys.executable, "-c", "import time; time.sleep(30)", str(served / "data")],
        run_as=None,
        log_file=None,
        cwd=test_dir,
    )
    try:
        pidfile = test_dir / "pid"
        pidfile.write_text(f"{pid}\n")
        assert pid_serving(pidfile, served) == pid
        assert pid_serving(pidfile, served / "data") == pid
        assert pid_serving(pidfile, test_dir / "serv") is None  # a prefix is not the folder
        assert pid_serving(pidfile, test_dir / "other") is None
        pidfile.write_text("garbage\n")
        assert pid_serving(pidfile, served) is None
        assert pid_serving(test_dir / "missing", served) is None
        assert pids_under(served) == [pid]
    finally:
        stop(pid, signal.SIGTERM, 5.0)
    assert not is_alive(pid)
    assert pids_under(served) == []


def test_stop_escalates_to_killing_the_group(test_dir: Path):
    # a "server" that ignores SIGTERM and has a worker in its process group
    script = (
        "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "subprocess.Popen(['sleep', '60']); time.sleep(60)"
    )
    pid = spawn(
        [sys.executable, "-c", script, str(test_dir)], run_as=None, log_file=None, cwd=test_dir
    )
    deadline = time.monotonic() + 5
    while len(_group_members(pid)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    stop(pid, signal.SIGTERM, 0.3)
    assert time.monotonic() - started < 3
    assert not is_alive(pid)
    deadline = time.monotonic() + 5
    while _group_members(pid):
        assert time.monotonic() < deadline, "a worker survived"
        time.sleep(0.01)
    stop(pid, signal.SIGTERM, 0.3)  # already gone: no-op


def test_kill_all_under_and_logs(test_dir: Path):
    log = test_dir / "out.log"
    script = "import time; print('started', flush=True); time.sleep(60)"
    pid = spawn(
        [sys.executable, "-c", script, str(test_dir / "x")], run_as=None, log_file=log, cwd=test_dir
    )
    deadline = time.monotonic() + 5
    while "started" not in log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert kill_all_under(test_dir) == [pid]
    assert pids_under(test_dir) == []


def test_environment_is_scrubbed(test_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PGPASSWORD", "leak")
    monkeypatch.setenv("MOONBASE_TOKEN", "leak")
    assert "PGPASSWORD" not in clean_env() and "MOONBASE_TOKEN" not in clean_env()
    out = test_dir / "env.log"
    pid = spawn(["/usr/bin/env"], run_as=None, log_file=out, cwd=test_dir)
    while is_alive(pid):
        time.sleep(0.01)
    assert "leak" not in out.read_text()
    assert "PATH=" in out.read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_run_as_user_exists_and_servers_drop_root(test_dir: Path, run_as: RunAs | None):
    assert run_as is not None
    assert ensure_run_as_user(run_as.user) == run_as  # idempotent
    entry = pwd.getpwnam(run_as.user)
    assert entry.pw_shell == "/usr/sbin/nologin" and entry.pw_dir == "/nonexistent"
    out = test_dir / "id.log"
    pid = spawn(["/usr/bin/id"], run_as=run_as, log_file=out, cwd=test_dir)
    while is_alive(pid):
        time.sleep(0.01)
    text = out.read_text()
    assert f"uid={run_as.uid}(" in text and f"groups={run_as.gid}(" in text
    assert "(root)" not in text


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_traversable_check_names_the_blocking_folder(test_dir: Path, run_as: RunAs | None):
    assert run_as is not None
    check_traversable(test_dir / "not" / "there", run_as)
    private = test_dir / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    with pytest.raises(EngineError) as err:
        check_traversable(private / "data", run_as)
    assert err.value.permanent
    assert str(private) in str(err.value) and "chmod o+x" in str(err.value)
    os.chown(private, run_as.uid, run_as.gid)
    check_traversable(private / "data", run_as)  # owned by the server account: fine
