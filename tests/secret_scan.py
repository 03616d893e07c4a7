"""Looking for plaintext secrets where they must never be: the store's files, logs, server
files and process arguments (imported as ``secret_scan`` by the API and end-to-end tests).

A secret is looked for as UTF-8 (SQLite's and the servers' text encoding, the logs') and as
UTF-16 in both byte orders, so a store or file in another encoding does not hide it. Every
test that uses this also plants a copy of something where a leak would be, and checks it is
found: a scan that cannot find anything proves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")
#: files larger than this are read in part (servers' preallocated files are mostly zeros)
MAX_FILE = 256 * 1024 * 1024


def forms(secret: str) -> list[bytes]:
    return [secret.encode(encoding) for encoding in ENCODINGS]


def found_in(secret: str, blob: bytes) -> bool:
    assert len(secret) >= 8, f"too short to look for without false alarms: {secret!r}"
    return any(form in blob for form in forms(secret))


def leaks(secrets: Mapping[str, str], sources: Mapping[str, bytes]) -> list[str]:
    """``"<secret name> in <source>"`` for every secret found in a source."""
    return [
        f"{name} in {where}"
        for name, secret in secrets.items()
        for where, blob in sources.items()
        if found_in(secret, blob)
    ]


def read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE)
    except OSError:  # gone meanwhile (a server rotating a file), or a socket
        return b""


def store_files(home: Path) -> dict[str, bytes]:
    """The SQLite store and its write-ahead log (recent commits live there until a
    checkpoint copies them into the main file)."""
    found = {}
    for name in ("moonbase.db", "moonbase.db-wal", "moonbase.db-journal"):
        path = home / name
        if path.exists():
            found[str(path)] = read(path)
    assert str(home / "moonbase.db") in found, f"no store in {home}"
    return found


def files_under(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` (servers' logs, configuration and data)."""
    found = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                found[str(path)] = read(path)
    return found


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (2nd field) is in parentheses and may hold spaces
    return int(stat.rpartition(")")[2].split()[1])


def descendants(root: int) -> set[int]:
    parents = {int(e): _ppid(int(e)) for e in os.listdir("/proc") if e.isdigit()}
    found, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def proc_files(pids: Iterable[int], name: str) -> dict[str, bytes]:
    """``/proc/<pid>/<name>`` (``cmdline``, ``environ``) of each live process."""
    found = {}
    for pid in sorted(set(pids)):
        path = Path(f"/proc/{pid}/{name}")
        blob = read(path)
        if blob:
            found[str(path)] = blob
    return found
