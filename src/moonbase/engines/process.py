"""Server processes: spawn detached, adopt after a restart, stop with escalation.

Servers must outlive Moonbase (an upgrade or crash of the manager must not take databases
down), so they are started in their own session and found again later through their pid file.
A pid file alone is not proof: after a reboot or a crash the pid may belong to an unrelated
process, so a pid is trusted only when ``/proc/<pid>/cmdline`` names the server's folder
(patroni checks the start time for the same reason).

Children we spawned ourselves stay zombies until we wait for them, and a zombie still has a
``/proc`` entry, so the ``Popen`` objects are kept in a registry and polled; a process in state
``Z``/``X`` never counts as alive.

Nothing here ever runs a shell, and the environment handed to servers is rebuilt from scratch so
that nothing of ours (tokens, ``PGPASSWORD``, ``MYSQL_PWD``...) leaks into a server.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moonbase.engines.base import EngineError, RunAs

log = logging.getLogger(__name__)

_SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for server processes: a fixed PATH and a UTF-8 C locale."""
    env = {"PATH": _SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/nonexistent"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    if extra:
        env.update(extra)
    return env


def _identity(run_as: RunAs | None) -> tuple[int | None, int | None, list[int] | None]:
    """(user, group, extra_groups) for Popen: switch to ``run_as``; ``extra_groups=[]`` drops
    root's supplementary groups, which would otherwise be inherited."""
    if run_as is None:
        return None, None, None
    return run_as.uid, run_as.gid, []


def spawn(
    argv: Sequence[str | Path],
    *,
    run_as: RunAs | None,
    log_file: Path | None,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> int:
    """Start ``argv`` detached (own session, no controlling terminal, stdin closed) and return
    its pid. stdout/stderr go to ``log_file`` (appended) or nowhere."""
    args = [str(a) for a in argv]
    user, group, extra_groups = _identity(run_as)
    if log_file is not None:
        own_log(log_file, run_as)
    out = open(log_file, "ab") if log_file is not None else None  # noqa: SIM115
    try:
        proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=out if out is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if out is not None else subprocess.DEVNULL,
            cwd=str(cwd),
            env=env if env is not None else clean_env(),
            start_new_session=True,
            close_fds=True,
            user=user,
            group=group,
            extra_groups=extra_groups,
        )
    except OSError as exc:
        raise EngineError(f"cannot start {args[0]}: {exc}", permanent=True) from exc
    finally:
        if out is not None:
            out.close()
    with _children_lock:
        for pid, child in list(_children.items()):  # reap servers that exited meanwhile
            if child.poll() is not None:
                del _children[pid]
        _children[proc.pid] = proc
    return proc.pid


def complete(
    args: list[str],
    *,
    run_as: RunAs | None,
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    **io: Any,
) -> subprocess.CompletedProcess[bytes]:
    """Run a short tool to completion as the server account (when given), in the scrubbed
    environment; a timeout or a tool that cannot start becomes an EngineError. ``io`` holds
    subprocess's stdin/stdout/stderr/input/capture_output arguments."""
    user, group, extra_groups = _identity(run_as)
    try:
        return subprocess.run(  # noqa: S603 - argument list, no shell
            args,
            cwd=str(cwd),
            env=env if env is not None else clean_env(),
            timeout=timeout,
            check=False,
            user=user,
            group=group,
            extra_groups=extra_groups,
            **io,
        )
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"{Path(args[0]).name} timed out after {timeout:.0f}s") from exc
    except OSError as exc:
        raise EngineError(f"cannot run {args[0]}: {exc}", permanent=True) from exc


def run(
    argv: Sequence[str | Path],
    *,
    run_as: RunAs | None,
    log_file: Path,
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> None:
    """Run a short tool (initdb, install-db) to completion, output appended to ``log_file``;
    raise EngineError carrying the tail of that log when it fails."""
    args = [str(a) for a in argv]
    own_log(log_file, run_as)
    with open(log_file, "ab") as out:
        result = complete(
            args, run_as=run_as, cwd=cwd, timeout=timeout, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    if result.returncode != 0:
        raise EngineError(
            f"{Path(args[0]).name} exited with {result.returncode}: {log_tail(log_file)}"
        )


def own_log(path: Path, run_as: RunAs | None) -> None:
    """Create the log owned by the server account: we hand the server an open descriptor, but
    some servers (MariaDB's ``log-error``) also open the file themselves."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        if run_as is not None:
            os.fchown(fd, run_as.uid, run_as.gid)
    finally:
        os.close(fd)


def log_tail(path: Path, lines: int = 8) -> str:
    """The last lines of a server log, for error messages (logs never contain passwords: only
    verifiers ever reach a server)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def _proc_state(pid: int) -> str | None:
    """Single-letter state from /proc/<pid>/stat, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return "?"
    # the command name is in parentheses and may itself contain spaces or parentheses
    return data[data.rfind(")") + 2 : data.rfind(")") + 3] or None


def is_alive(pid: int) -> bool:
    """True if ``pid`` is a live process (reaping it first if it is our exited child)."""
    with _children_lock:
        proc = _children.get(pid)
        if proc is not None and proc.poll() is not None:
            del _children[pid]
            return False
    return _proc_state(pid) not in (None, "Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    return [part.decode("utf-8", "surrogateescape") for part in raw.split(b"\0") if part]


def serves(pid: int, folder: Path) -> bool:
    """Whether ``pid`` is alive and one of its arguments names ``folder`` or something inside
    it (``-D /x/data``, ``--datadir=/x/data``, ``--defaults-file=/x/my.cnf``)."""
    if not is_alive(pid):
        return False
    marker = str(folder).rstrip("/")
    for arg in cmdline(pid):
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if value == marker or value.startswith(marker + "/"):
            return True
    return False


def pid_serving(pidfile: Path, marker: Path) -> int | None:
    """The pid named on the first line of ``pidfile`` if that process serves ``marker``."""
    try:
        first = pidfile.read_text(encoding="ascii", errors="replace").split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    if pid <= 1:
        return None
    return pid if serves(pid, marker) else None


def spawned_pid_serving(marker: Path) -> int | None:
    """A live child spawned by this process that serves ``marker`` (covers the moments before a
    freshly started server has written its pid file)."""
    with _children_lock:
        pids = list(_children)
    for pid in pids:
        if serves(pid, marker):
            return pid
    return None


def pids_under(folder: Path) -> list[int]:
    """Every live process whose command line names ``folder`` or a path inside it."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and serves(int(entry), folder):
            found.append(int(entry))
    return sorted(found)


def _wait_gone(pid: int, deadline: float) -> bool:
    delay = 0.002
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return not is_alive(pid)


def stop(pid: int, first_signal: signal.Signals, timeout: float) -> None:
    """Send ``first_signal`` and wait up to ``timeout``; then SIGKILL the whole process group
    (the server was started as a session leader, so its group holds all its workers)."""
    if not is_alive(pid):
        return
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        os.kill(pid, first_signal)
    except ProcessLookupError:
        return
    if _wait_gone(pid, time.monotonic() + timeout):
        return
    log.warning(
        "pid %d ignored %s for %.1fs, killing its process group", pid, first_signal.name, timeout
    )
    try:
        if pgid == pid:
            os.killpg(pgid, signal.SIGKILL)
        else:  # not a group leader (started by someone else): never kill a foreign group
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if not _wait_gone(pid, time.monotonic() + 5.0):
        raise EngineError(f"pid {pid} survived SIGKILL")


def kill_all_under(folder: Path, timeout: float = 5.0) -> list[int]:
    """Stop (SIGTERM, then SIGKILL) every process that serves ``folder``: the last resort before
    a folder is deleted, and the test suite's janitor. Returns the pids found."""
    pids = pids_under(folder)
    for pid in pids:
        stop(pid, signal.SIGTERM, timeout)
    return pids


# --- the unprivileged account -----------------------------------------------------------------


def ensure_run_as_user(name: str = "moonbase") -> RunAs | None:
    """When running as root, the account servers run as (created as a system user if missing):
    PostgreSQL refuses to run as root and MariaDB should not. Not root: None (servers run as
    whoever runs Moonbase)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd", path=_SAFE_PATH)
        if useradd is None:
            raise EngineError(
                f"useradd not found: create a system user {name!r} for the database servers",
                permanent=True,
            ) from None
        subprocess.run(  # noqa: S603 - argument list, no shell
            [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=False,
            capture_output=True,
            env=clean_env(),
        )
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise EngineError(f"could not create system user {name!r}", permanent=True) from None
    return RunAs(user=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def _can_search(st: os.stat_result, run_as: RunAs) -> bool:
    if st.st_uid == run_as.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == run_as.gid or st.st_gid in _groups_of(run_as):
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _groups_of(run_as: RunAs) -> set[int]:
    return {g.gr_gid for g in grp.getgrall() if run_as.user in g.gr_mem}


def check_traversable(folder: Path, run_as: RunAs | None) -> None:
    """Raise a permanent EngineError naming the first ancestor of ``folder`` (itself included)
    that ``run_as`` cannot enter. The classic trap is a data directory or venv under root's
    0700 home: everything works until the server, running unprivileged, cannot reach it."""
    if run_as is None:
        return
    path = Path(os.path.abspath(folder))
    for candidate in [*reversed(path.parents), path]:
        try:
            st = candidate.stat()
        except FileNotFoundError:
            return  # the rest does not exist yet; whoever creates it sets its mode
        if not _can_search(st, run_as):
            owner = _owner_name(st.st_uid)
            raise EngineError(
                f"database servers run as {run_as.user!r}, which cannot enter {candidate} "
                f"(mode {stat.S_IMODE(st.st_mode):04o}, owner {owner}); choose a data directory "
                f"outside it (e.g. /var/lib/moonbase) or run: chmod o+x {candidate}",
                permanent=True,
            )


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def make_dir(path: Path, run_as: RunAs | None, mode: int = 0o700) -> None:
    """mkdir -p the last component with ``mode`` and owned by ``run_as`` (idempotent)."""
    path.mkdir(mode=mode, parents=False, exist_ok=True)
    os.chmod(path, mode)
    if run_as is not None:
        os.chown(path, run_as.uid, run_as.gid)


def write_file(path: Path, content: str | bytes, run_as: RunAs | None, mode: int = 0o600) -> None:
    """Atomically replace ``path`` (temp file + rename) owned by ``run_as``, so a server never
    reads half a config file. Text is written as UTF-8."""
    tmp = path.with_name(f".{path.name}.tmp")
    data = content.encode("utf-8") if isinstance(content, str) else content
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    if run_as is not None:
        os.chown(tmp, run_as.uid, run_as.gid)
    os.replace(tmp, path)


def copy_tree(src: Path, dest: Path) -> None:
    """Copy a stopped server folder to ``dest`` atomically (copy beside it, sync, rename),
    keeping modes and ownership; a leftover partial copy from a crash is discarded first. If
    ``dest`` already exists the copy has happened (rename is atomic) and this is a no-op."""
    if dest.exists():
        return
    tmp = dest.with_name(f".{dest.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    cp = shutil.which("cp", path=_SAFE_PATH)
    if cp is None:
        raise EngineError("cp not found", permanent=True)
    # cp -a keeps owner, group and modes (shutil.copytree keeps no ownership)
    result = subprocess.run(
        [cp, "-a", "--", str(src), str(tmp)],  # noqa: S603
        capture_output=True,
        env=clean_env(),
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        err = result.stderr.decode("utf-8", "replace").strip()
        raise EngineError(f"copying {src} to {dest} failed: {err}")
    # Servers do not fsync files they never modify, and a clean-shutdown copy gets no crash
    # recovery: without this a power cut soon after could leave a half-written data dir behind
    # a "dest exists" that claims the copy is complete. (~25 ms on this kind of machine.)
    os.sync()
    os.replace(tmp, dest)
