"""create_app(): the store, the reconciler in the lifespan, the routers and the error renderer,
and the web pages (OAuth consent, dashboard)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from moonbase import bootstrap
from moonbase.api import audit, errors, ratelimit
from moonbase.notify import Notifier
from moonbase.provisioners.base import Provisioner
from moonbase.reconciler.loop import Reconciler
from moonbase.resources.audit_logs.endpoints import router as audit_logs
from moonbase.resources.branches.endpoints import router as branches
from moonbase.resources.credentials.endpoints import router as credentials
from moonbase.resources.databases.endpoints import router as databases
from moonbase.resources.members.endpoints import router as members
from moonbase.resources.oauth.endpoints import router as oauth_applications
from moonbase.resources.organizations.endpoints import router as organizations
from moonbase.resources.service_tokens.endpoints import router as service_tokens
from moonbase.resources.teams.endpoints import router as teams
from moonbase.resources.users.endpoints import router as users
from moonbase.resources.webhooks.endpoints import router as webhooks
from moonbase.settings import Settings
from moonbase.sqlhttp.endpoints import router as sql_over_http
from moonbase.sqlhttp.gateway import Gateway
from moonbase.store.db import Store, lock_home
from moonbase.web.dashboard import endpoints as dashboard
from moonbase.web.oauth.endpoints import router as oauth_flow
from moonbase.webhooks.delivery import DeliveryWorker
from moonbase.webhooks.outbox import Outbox

log = logging.getLogger(__name__)


def local_provisioner(settings: Settings) -> Provisioner:
    from moonbase.provisioners.local import LocalProvisioner

    return LocalProvisioner(
        settings.home,
        settings.templates,
        spare_pool=settings.spare_pool,
        bind=settings.server_bind,
        server_user=settings.server_user,
        port_range=settings.port_range,
    )


def create_app(
    settings: Settings,
    provisioner_factory: Callable[[Settings], Provisioner] = local_provisioner,
    *,
    on_first_start: Callable[[bootstrap.AdminToken], None] | None = None,
    stop_servers_on_exit: bool = True,
) -> FastAPI:
    settings.home.mkdir(parents=True, exist_ok=True)
    lock = lock_home(settings.home)
    store = Store(settings.store)
    store.migrate()
    with store.tx() as session:
        admin = bootstrap.first_start(session, settings)
    if admin is not None:
        bootstrap.save_cli_config(settings.home, settings, admin)
        if on_first_start:
            on_first_start(admin)
    provisioner = provisioner_factory(settings)
    notifier = Notifier()
    reconciler = Reconciler(
        store,
        provisioner,
        notifier,
        interval=settings.reconcile_interval,
        health_interval=settings.health_interval,
    )
    # webhooks: events are queued in the change's own transaction, sent after it commits
    deliveries = DeliveryWorker(store, settings)
    outbox = Outbox(settings, wake=deliveries.wake)
    reconciler.branches.on_ready = outbox.branch_ready
    # PlanetScale's HTTP SQL API (the serverless driver): sessions and their connections
    sql_gateway = Gateway()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        provisioner.start_background()
        reconciler.start()
        deliveries.start()
        sql_gateway.start()
        try:
            yield
        finally:
            sql_gateway.stop()
            deliveries.stop()
            reconciler.stop()
            if stop_servers_on_exit:
                provisioner.stop_all()
            provisioner.close()
            store.dispose()
            os.close(lock)

    app = FastAPI(
        title="Moonbase",
        summary="PlanetScale Platform API v1 on your own machines",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.notifier = notifier
    app.state.offer = provisioner.offer()
    app.state.reconciler = reconciler
    app.state.webhooks = outbox
    app.state.sql_gateway = sql_gateway
    errors.install(app)
    for router in (organizations, databases, branches, credentials, service_tokens):
        app.include_router(router, prefix="/v1")
    for router in (members, teams, users):  # organizations' people
        app.include_router(router, prefix="/v1")
    app.include_router(webhooks, prefix="/v1")
    # OAuth applications and tokens (API), and the authorization-code flow (/oauth/...)
    app.include_router(oauth_applications, prefix="/v1")
    app.include_router(oauth_flow)
    # access control: the audit log (written in each change's transaction), rate limits
    audit.install(app, store, settings)
    app.include_router(audit_logs, prefix="/v1")
    ratelimit.install(app, settings)
    app.include_router(sql_over_http)  # /psdb.v1alpha1.Database/..., outside the API's limit

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # the web dashboard at the html_url of organizations, databases and branches: last, so
    # every path above (and /docs, /openapi.json) stays the API's
    dashboard.install(app)
    return app
