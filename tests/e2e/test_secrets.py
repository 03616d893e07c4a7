"""No plaintext credential on a real installation: not in Moonbase's log, not in the store,
not in any file of any server (logs, configuration, data), not in any process's arguments.

The credentials are used against their servers first, so the servers have seen each login.
Rows written through them are the control: they must be found in the servers' files, as the
servers' command lines must name the installation, or the search proves nothing.
"""

from __future__ import annotations

import psycopg
import pymysql
from secret_scan import descendants, files_under, found_in, leaks, proc_files, store_files

from moonbase.engines import process

from harness import Moonbase
from helpers import ADMIN_SECRET

PLANTED_PG = "canary-row-in-postgresql-5d1e"
PLANTED_MY = "canary-row-in-mariadb-93ab7c"
PLANTED_LOG = "canary-statement-in-a-log-41c0"


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _service_token(mb: Moonbase) -> str | None:
    """A service token made through the API and used once (if the endpoint is there)."""
    made = mb.http.post("/organizations/acme/service-tokens", json={"name": "ci"})
    if made.status_code == 404:
        return None
    assert made.status_code == 200, made.text
    token = made.json()
    granted = mb.http.post(f"/organizations/acme/service-tokens/{token['id']}/access",
                           json={"access": ["read_organization"]})  # fmt: skip
    assert granted.status_code == 200, granted.text
    used = mb.http.get("/organizations/acme",
                       headers={"Authorization": f"{token['id']}:{token['token']}"})  # fmt: skip
    assert used.status_code == 200, used.text
    return str(token["token"])


def _postgresql(mb: Moonbase) -> dict[str, str]:
    roles = "/organizations/acme/databases/pgs/branches/main/roles"
    made = mb.http.post(roles, json={"name": "app", "inherited_roles": ["postgres"]})
    assert made.status_code == 200, made.text
    role = made.json()
    reset = mb.http.post(f"{roles}/{role['id']}/reset")
    assert reset.status_code == 200, reset.text
    password = reset.json()["password"]
    host, port = _host_port(role["access_host_url"])
    with psycopg.connect(host=host, port=port, user=role["username"], password=password,
                         dbname=role["database_name"], connect_timeout=10) as conn:  # fmt: skip
        conn.execute("CREATE TABLE notes (body text)")
        conn.execute("INSERT INTO notes VALUES (%s)", (PLANTED_PG,))
    with psycopg.connect(host=host, port=port, user=role["username"], password=password,
                         dbname=role["database_name"], connect_timeout=10) as conn:  # fmt: skip
        try:  # PostgreSQL logs a failed statement with its text
            conn.execute(f"SELECT * FROM missing_table WHERE body = '{PLANTED_LOG}'")
        except psycopg.errors.UndefinedTable:
            pass
        else:
            raise AssertionError("the statement was to fail")
    return {"first role password": role["password"], "role password": password}


def _mysql(mb: Moonbase) -> dict[str, str]:
    made = mb.http.post("/organizations/acme/databases/mys/branches/main/passwords",
                        json={"name": "app", "role": "admin"})  # fmt: skip
    assert made.status_code == 201, made.text
    pw = made.json()
    host, port = _host_port(pw["access_host_url"])
    conn = pymysql.connect(host=host, port=port, user=pw["username"], password=pw["plain_text"],
                           database=pw["database_name"], ssl_disabled=True, connect_timeout=10,
                           autocommit=True)  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE notes (body varchar(64))")
            cur.execute("INSERT INTO notes VALUES (%s)", (PLANTED_MY,))
    finally:
        conn.close()
    return {"mysql password": pw["plain_text"]}


def test_no_plaintext_credential_anywhere(moonbase: Moonbase) -> None:
    mb = moonbase
    mb.create_database("pgs", "postgresql")
    mb.create_database("mys", "mysql")
    mb.wait_ready("pgs")
    mb.wait_ready("mys")
    secrets = {**_postgresql(mb), **_mysql(mb)}
    token = _service_token(mb)
    if token is not None:
        secrets["service token"] = token
    assert mb.proc is not None
    servers = process.pids_under(mb.home)
    assert len(servers) >= 2, "a PostgreSQL and a MariaDB server run for this installation"

    server_files = files_under(mb.home / "instances")
    cmdlines = proc_files(set(servers) | descendants(mb.proc.pid), "cmdline")
    sources = {
        "moonbase log": mb.log.read_bytes(),
        **store_files(mb.home),
        **server_files,
        **cmdlines,
        **proc_files(servers, "environ"),
    }
    assert not leaks(secrets, sources)
    # the admin token came from the environment: it is not echoed anywhere, the log included
    assert not leaks({"admin token": ADMIN_SECRET}, sources)

    # controls: the search reaches the servers' data and their processes
    everything = b"".join(server_files.values())
    assert found_in(PLANTED_PG, everything), "PostgreSQL's files were searched"
    assert found_in(PLANTED_MY, everything), "MariaDB's files were searched"
    logs = {k: v for k, v in server_files.items() if k.endswith(".log")}
    assert any(found_in(PLANTED_LOG, blob) for blob in logs.values()), "server logs were searched"
    for pid in servers:
        assert str(mb.home).encode() in cmdlines[f"/proc/{pid}/cmdline"]
