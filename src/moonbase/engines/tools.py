"""Client tools (pg_dump, pg_restore, pg_basebackup, mariadb-dump, mariadb) run to completion.

:func:`moonbase.engines.process.run` sends a tool's output to a log; these tools *produce*
output we need (a dump, a table of contents), or read a script from stdin, so they get their
own runner. The same rules hold: an argument list, never a shell; the scrubbed environment of
:func:`~moonbase.engines.process.clean_env` (so no ``PGPASSWORD``/``MYSQL_PWD``, no
``~/.pgpass`` or ``~/.my.cnf`` of ours is ever read); run as the server account when Moonbase
runs as root, so a tool can reach nothing the server account could not. Secrets never appear
in arguments: every tool here connects over a server's private socket, where the internal
account is trusted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from moonbase.engines.base import EngineError, RunAs
from moonbase.engines.process import clean_env

_ERROR_CHARS = 1500  # how much of a failing tool's stderr an error message carries


def _identity(run_as: RunAs | None) -> tuple[int | None, int | None, list[int] | None]:
    """(user, group, extra_groups) for subprocess: ``extra_groups=[]`` drops root's groups."""
    if run_as is None:
        return None, None, None
    return run_as.uid, run_as.gid, []


def run_tool(
    argv: Sequence[str | Path],
    *,
    run_as: RunAs | None,
    cwd: Path,
    timeout: float,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> bytes:
    """Run ``argv``, feeding ``stdin``; return its stdout. A non-zero exit raises EngineError
    with the end of stderr (tools report there; they never print secrets we did not give
    them, and we give them none)."""
    args = [str(a) for a in argv]
    name = Path(args[0]).name
    user, group, extra_groups = _identity(run_as)
    try:
        result = subprocess.run(  # noqa: S603 - argument list, no shell
            args,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            cwd=str(cwd),
            env=env if env is not None else clean_env(),
            timeout=timeout,
            check=False,
            user=user,
            group=group,
            extra_groups=extra_groups,
        )
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"{name} timed out after {timeout:.0f}s") from exc
    except OSError as exc:
        raise EngineError(f"cannot run {args[0]}: {exc}", permanent=True) from exc
    if result.returncode != 0:
        err = result.stderr.decode("utf-8", "replace").strip()
        raise EngineError(f"{name} exited with {result.returncode}: {err[-_ERROR_CHARS:]}")
    return result.stdout
