"""pg_hba.conf: who may connect to a PostgreSQL server from where.

The file is always rendered whole from two inputs: the fixed internal lines (the private
socket is trusted; it is 0700, so only the server account and root reach it) and the client
rules of :class:`~moonbase.engines.base.AccessRule`, which are stored beside the data in
``<root>/access_rules.json``. ``configure`` re-renders from that file before every start, so
rules survive restarts, and a server folder copied from a template starts with none.

PostgreSQL takes the first line that matches connection type, database, role and address, so
the order is the policy:

1. ``local`` lines (socket: internal admin, streaming replicas, our client tools);
2. per role with a rule: ``host all "<role>" <cidr> scram-sha-256`` for each allowed network,
   then ``host all "<role>" all reject``. A role-specific rule therefore replaces the rule for
   every role (it does not narrow it further);
3. the rule for every role (``AccessRule.role`` None) the same way with ``all``: it only ever
   meets API logins, because internal accounts never connect over TCP;
4. the generic ``scram-sha-256`` lines (with no rule for every role, anyone with a password).

Role names are written double-quoted, so ``all`` or ``+group`` in a name stay names.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from pathlib import Path

import psycopg

from moonbase.engines.base import AccessRule, EngineError, RunAs
from moonbase.engines.process import write_file

RULES_FILE = "access_rules.json"

_HEADER = """\
# Managed by Moonbase: rendered from ../access_rules.json, do not edit.
# The socket directory is private (0700), so local connections are trusted; every TCP
# connection must pass SCRAM. listen_addresses decides exposure.
local   all          all                       trust
local   replication  all                       trust
"""
_GENERIC = """\
host    all          all       127.0.0.1/32    scram-sha-256
host    all          all       ::1/128         scram-sha-256
host    all          all       0.0.0.0/0       scram-sha-256
host    all          all       ::/0            scram-sha-256
"""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidr(cidr: str) -> Network:
    """A client network; host bits are cleared (``10.1.2.3/8`` means ``10.0.0.0/8``)."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError as exc:
        raise EngineError(f"invalid CIDR {cidr!r}: {exc}", permanent=True) from exc


def _hba_role(role: str) -> str:
    # pg_hba has no escape for '"' inside a quoted name; API role names never contain one
    if not role or '"' in role or any(ord(ch) < 32 or ch == "\x7f" for ch in role):
        raise EngineError(f"role name {role!r} cannot appear in pg_hba.conf", permanent=True)
    return f'"{role}"'


def grouped(rules: Iterable[AccessRule]) -> dict[str | None, list[Network]]:
    """Networks per role (None = every role), deduplicated, in first-seen order."""
    result: dict[str | None, list[Network]] = {}
    for rule in rules:
        if rule.role is not None:
            _hba_role(rule.role)
        networks = result.setdefault(rule.role, [])
        for cidr in rule.cidrs:
            network = parse_cidr(cidr)
            if network not in networks:
                networks.append(network)
    return result


def render(rules: Iterable[AccessRule]) -> str:
    by_role = grouped(rules)
    lines = [_HEADER.rstrip("\n")]
    ordered = sorted(r for r in by_role if r is not None) + ([None] if None in by_role else [])
    for role in ordered:
        who = "all" if role is None else _hba_role(role)
        lines.append(f"# client rule for {'every role' if role is None else who}")
        for network in by_role[role]:
            lines.append(f"host    all          {who}    {network}    scram-sha-256")
        lines.append(f"host    all          {who}    all    reject")
    lines.append(_GENERIC.rstrip("\n"))
    return "\n".join(lines) + "\n"


def allowed(rules: Iterable[AccessRule], role: str, address: str) -> bool:
    """Whether ``role`` may connect from ``address`` under ``rules`` (the same first-match
    order as the rendered file): used to end sessions a new rule no longer allows."""
    by_role = grouped(rules)
    networks = by_role.get(role, by_role.get(None))
    if networks is None:
        return True
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def reload(conn: psycopg.Connection[tuple[object, ...]], rules: tuple[AccessRule, ...]) -> None:
    """Make a running server read the rendered file, check that it accepted every line (a
    rejected file leaves the old rules in force), and end the TCP sessions the new rules no
    longer allow: pg_hba is only consulted when a session starts."""
    conn.execute("SELECT pg_reload_conf()")
    bad = conn.execute(
        "SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL"
    ).fetchall()
    if bad:
        raise EngineError(f"pg_hba.conf rejected: {bad}", permanent=True)
    sessions = conn.execute(
        "SELECT pid, usename, host(client_addr) FROM pg_stat_activity "
        "WHERE client_addr IS NOT NULL AND backend_type = 'client backend'"
    ).fetchall()
    for pid, user, address in sessions:
        if not allowed(rules, str(user), str(address)):
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def load(root: Path) -> tuple[AccessRule, ...]:
    path = root / RULES_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        raise EngineError(f"cannot read {path}: {exc}", permanent=True) from exc
    return tuple(AccessRule(cidrs=tuple(r["cidrs"]), role=r.get("role")) for r in raw)


def save(root: Path, rules: tuple[AccessRule, ...], run_as: RunAs | None) -> None:
    grouped(rules)  # validate before anything is written
    data = [{"role": r.role, "cidrs": list(r.cidrs)} for r in rules]
    write_file(root / RULES_FILE, json.dumps(data, indent=2) + "\n", run_as)
