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

from collections.abc import Sequence
from pathlib import Path

from moonbase.engines.base import EngineError, RunAs
from moonbase.engines.process import complete

_ERROR_CHARS = 1500  # how much of a failing tool's stderr an error message carries


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
    result = complete(
        args, run_as=run_as, cwd=cwd, timeout=timeout, env=env,
        input=stdin if stdin is not None else b"", capture_output=True,
    )  # fmt: skip
    if result.returncode != 0:
        err = result.stderr.decode("utf-8", "replace").strip()
        raise EngineError(f"{name} exited with {result.returncode}: {err[-_ERROR_CHARS:]}")
    return result.stdout
