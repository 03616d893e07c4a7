"""PostgreSQL streaming replicas: slots on the primary, status, and seeding from a live primary.

A replica made from the template (a copy of the same cold cluster as its primary) is a valid
base backup only while the primary still has every WAL segment written since that template:
fine for the replicas created with a branch, not for one added after the primary has
checkpointed and recycled WAL for a while. ``seed_replica`` covers that case with
``pg_basebackup`` from the primary's private socket (as ``moonbase_admin``, a trusted
replication connection, so no password is involved) while the primary keeps running:

* the replica's permanent slot is created first and the backup streams its WAL through it
  (``-X stream -S replica_<id>``), so everything from the backup's start point onwards stays
  on the primary until the replica has received it, however long it takes to start;
* ``-c fast`` asks for an immediate checkpoint instead of waiting for the next one;
* the backup is written beside the destination and renamed into place, the same commit point
  as a template copy: ``replica.root`` either does not exist or is a complete backup. It runs
  with ``--no-sync`` followed by one ``sync()``, which is as durable (everything is on disk
  before the rename) and cheaper on this kind of disk than an fsync per file;
* the result has the layout of a template copy (``data/``, ``run/``, ``postgresql.log``), and
  ``configure`` then turns it into a standby (``standby.signal``, ``primary_conninfo``, its
  own pg_hba rules: the primary's ``moonbase.conf`` and pg_hba.conf came along in the copy
  and are rewritten).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING

import psycopg
import psycopg.errors

from moonbase.engines.base import EngineError, ReplicaStatus, ServerSpec
from moonbase.engines.postgresql_roles import ADMIN_ROLE
from moonbase.engines.process import check_traversable, log_tail, make_dir, run

if TYPE_CHECKING:
    from moonbase.engines.postgresql import PostgreSQLEngine

_BACKUP_TIMEOUT = 3600.0


def slot_name(server_id: int) -> str:
    return f"replica_{server_id}"


def primary_of(spec: ServerSpec) -> ServerSpec:
    if spec.primary is None:
        raise EngineError("a replica spec needs its primary", permanent=True)
    return spec.primary


def ensure_slot(engine: PostgreSQLEngine, primary: ServerSpec, server_id: int) -> None:
    name = slot_name(server_id)
    with engine.admin_connection(primary) as conn:
        if (
            conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (name,)
            ).fetchone()
            is None
        ):
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (name,))


def forget(engine: PostgreSQLEngine, spec: ServerSpec) -> None:
    primary = primary_of(spec)
    if engine.running_pid(primary) is None:
        raise EngineError("the primary is not running; cannot drop the replica's slot")
    with engine.admin_connection(primary) as conn:
        row = conn.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s",
            (slot_name(spec.server_id),),
        ).fetchone()
        if row is None:
            return
        if row[0]:
            raise EngineError(f"replica {spec.server_id} is still streaming; stop it first")
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot_name(spec.server_id),))


def status(engine: PostgreSQLEngine, spec: ServerSpec) -> ReplicaStatus:
    if engine.running_pid(spec) is None:
        return ReplicaStatus(False, "replica is not running")
    with engine.admin_connection(spec) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver), "
            "pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text"
        ).fetchone()
    assert row is not None
    in_recovery, receiver, received, replayed = row
    if not in_recovery:
        return ReplicaStatus(False, "server is not in recovery (not a replica)")
    if receiver == "streaming":
        return ReplicaStatus(True, f"streaming, received {received}, replayed {replayed}")
    primary = primary_of(spec)
    if engine.running_pid(primary) is None:
        return ReplicaStatus(False, "waiting for the primary to start")
    ensure_slot(engine, primary, spec.server_id)
    return ReplicaStatus(
        False,
        f"wal receiver {receiver or 'not started'}: {log_tail(engine.log_file(spec.root), 2)}",
    )


def seed(engine: PostgreSQLEngine, primary: ServerSpec, replica: ServerSpec) -> None:
    if replica.root.exists():
        return  # renamed into place only when complete
    if engine.running_pid(primary) is None:
        raise EngineError("the primary is not running; cannot copy it")
    check_traversable(replica.root.parent, engine.run_as)
    ensure_slot(engine, primary, replica.server_id)
    tmp = replica.root.with_name(f".{replica.root.name}.seeding")
    if tmp.exists():
        shutil.rmtree(tmp)
    make_dir(tmp, engine.run_as)
    make_dir(engine.socket_dir(tmp), engine.run_as)
    run(
        [
            engine.bin_dir / "pg_basebackup",
            f"--host={engine.socket_dir(primary.root)}",
            f"--port={primary.port}",
            f"--username={ADMIN_ROLE}",
            "--no-password",
            f"--pgdata={engine.data_dir(tmp)}",
            "--wal-method=stream",
            f"--slot={slot_name(replica.server_id)}",
            "--checkpoint=fast",
            "--no-sync",
        ],
        run_as=engine.run_as,
        log_file=engine.log_file(tmp),
        cwd=tmp,
        timeout=_BACKUP_TIMEOUT,
    )
    os.sync()  # instead of pg_basebackup's fsync per file: all of it is on disk before...
    os.replace(tmp, replica.root)  # ...the rename that says "complete"
