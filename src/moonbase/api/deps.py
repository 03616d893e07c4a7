"""Request dependencies: the transaction, the caller, and path loaders.

A request owns its transaction: services only flush; ``context`` commits when the endpoint has
returned, then runs the after-commit hooks (waking the reconciler), before the response leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from moonbase.api import audit
from moonbase.api.auth import Principal, authenticate, authorize
from moonbase.errors import NotFound
from moonbase.models import Branch, Database, Organization
from moonbase.notify import Notifier
from moonbase.resources import lookups
from moonbase.settings import Settings

#: ``settle`` also rechecks this often: not every reconciler pass that changes something
#: announces it (turning safe migrations on or off does not), and a reconciler in another
#: process cannot
SETTLE_POLL = 0.1


@dataclass
class Context:
    session: Session
    settings: Settings
    principal: Principal
    request: Request
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    @property
    def notifier(self) -> Notifier:
        return self.request.app.state.notifier  # type: ignore[no-any-return]

    def wake_reconciler(self) -> None:
        self.after_commit.append(self.notifier.wake)

    def commit(self) -> None:
        """Commit now (rarely needed: when the response depends on what follows the commit)."""
        audit.record(self.session, self.request, self.principal)  # joins the change's commit
        self.session.commit()
        hooks, self.after_commit = self.after_commit, []
        for hook in hooks:
            hook()

    def settle(self, servers_ready: bool, done: Callable[[], object], timeout: float) -> bool:
        """Commit, wake the reconciler and wait (at most ``timeout``) until ``done()`` holds,
        so the caller can rely on the servers right away. Without ready servers there is
        nothing to wait for: the change is applied once they are."""
        self.wake_reconciler()
        self.commit()
        if not servers_ready:
            return False

        def check() -> bool:
            self.session.expire_all()
            return bool(done())

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if self.notifier.wait_until(check, max(0.0, min(SETTLE_POLL, remaining))):
                return True
            if remaining <= SETTLE_POLL:
                return False

    def _own_organization(self, name: str) -> Organization:
        """The caller's organization by name; any other one does not exist for the caller
        (the same answer as for a name nobody uses)."""
        org = lookups.organization(self.session, name)
        if self.principal.organization_id != org.id:
            raise NotFound(lookups.organization_missing(name))
        return org

    def organization(self, name: str, operation: str) -> Organization:
        org = self._own_organization(name)
        authorize(self.principal, operation, org.id)
        return org

    def database(self, org_name: str, db_name: str, operation: str) -> Database:
        org = self._own_organization(org_name)
        db = lookups.database(self.session, org.id, db_name)
        authorize(self.principal, operation, org.id, db.id)
        return db

    def branch(
        self, org_name: str, db_name: str, branch_name: str, operation: str
    ) -> tuple[Database, Branch]:
        org = self._own_organization(org_name)
        db = lookups.database(self.session, org.id, db_name)
        branch = lookups.branch(self.session, db.id, branch_name)
        authorize(self.principal, operation, org.id, db.id, production=branch.production)
        return db, branch


def _context(request: Request, _body: audit.BodyCaptured) -> Iterator[Context]:
    store = request.app.state.store
    with store.sessions() as session:
        try:
            principal = authenticate(session, request.headers.get("authorization"))
            if session.dirty:
                session.commit()  # last_used_at, even if the request then fails
            ctx = Context(session, request.app.state.settings, principal, request)
            yield ctx
            ctx.commit()
        except BaseException:
            session.rollback()
            audit.discard(session, request)  # failed: no audit entry, even if committed early
            raise


#: scope="function": the transaction commits before the response leaves, so a client that
#: saw 201 never loses the write (with the default scope FastAPI would commit afterwards)
Ctx = Annotated[Context, Depends(_context, scope="function")]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
