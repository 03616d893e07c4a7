"""One settings object. Nothing else in Moonbase reads ``os.environ``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _default_home() -> Path:
    # Servers run as an unprivileged user when Moonbase runs as root, and that user must be
    # able to reach every file of theirs: root's own home (mode 0700) would not do.
    if os.geteuid() == 0:
        return Path("/var/lib/moonbase")
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "moonbase"


@dataclass(frozen=True)
class Region:
    slug: str
    display_name: str
    location: str


DEFAULT_REGIONS = (Region("us-east", "Moonbase local (us-east)", "This host"),)


def parse_regions(text: str) -> tuple[Region, ...]:
    """``slug[=Display name]`` separated by commas; the first is the default."""
    regions = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        slug, _, display = item.partition("=")
        slug = slug.strip()
        regions.append(Region(slug, display.strip() or f"Moonbase local ({slug})", "This host"))
    return tuple(regions) or DEFAULT_REGIONS


def parse_hosts(text: str) -> tuple[str, ...]:
    """Host names separated by commas (webhook allow-list), lowercased."""
    return tuple(h.strip().lower() for h in text.split(",") if h.strip())


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=_default_home)
    host: str = "127.0.0.1"
    port: int = 8484
    #: SQLAlchemy URL of the store; default: SQLite file in ``home``
    store_url: str | None = None
    organization: str = "moonbase"
    regions: tuple[Region, ...] = DEFAULT_REGIONS
    #: address written into credentials (where clients reach the database servers)
    advertise_host: str = "127.0.0.1"
    #: address database servers listen on
    server_bind: str = "127.0.0.1"
    #: public base URL for ``url`` fields; default http://host:port
    public_url: str | None = None
    admin_token_id: str | None = None
    admin_token: str | None = field(default=None, repr=False)
    #: the first administrator (a user), made at first start
    admin_email: str = "admin@localhost"
    admin_password: str | None = field(default=None, repr=False)
    #: pre-initialised data directories kept ready per engine version
    spare_pool: int = 3
    #: where templates live; tests share one across installations
    template_dir: Path | None = None
    server_user: str = "moonbase"
    port_range: tuple[int, int] = (21000, 29999)
    #: development branches a database may have at once (PlanetScale: 100)
    development_branch_limit: int = 100
    reconcile_interval: float = 2.0
    health_interval: float = 5.0
    # --- audit log and rate limits ---
    #: audit entries older than this many days are deleted (PlanetScale keeps 6 months)
    audit_retention_days: int = 180
    #: API requests per minute per token (anonymous: per address); 0 turns limits off
    rate_limit: int = 600
    # --- webhooks ---
    #: hosts webhook URLs may point at (lowercase); empty: any host
    webhook_allowed_hosts: tuple[str, ...] = ()
    #: attempts per delivery before it counts as failed (retries wait 1 s, 2 s, 4 s ...)
    webhook_max_attempts: int = 10
    #: a webhook whose last this-many event deliveries all failed is disabled; 0: never
    webhook_disable_after: int = 5
    #: the first retry's delay in seconds; each further retry waits twice as long
    webhook_retry_delay: float = 1.0
    # --- pages for browsers (OAuth consent, web dashboard) ---
    #: signs their session cookies; default: a random key kept in ``home``
    oauth_session_secret: str | None = field(default=None, repr=False)

    @property
    def store(self) -> str:
        return self.store_url or f"sqlite:///{self.home / 'moonbase.db'}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def templates(self) -> Path:
        return self.template_dir or self.home / "templates"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def from_env(env: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``MOONBASE_*`` variables, then explicit overrides (CLI flags)."""
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    if "MOONBASE_HOME" in env:
        values["home"] = Path(env["MOONBASE_HOME"])
    if "MOONBASE_HOST" in env:
        values["host"] = env["MOONBASE_HOST"]
    if "MOONBASE_PORT" in env:
        values["port"] = int(env["MOONBASE_PORT"])
    if "MOONBASE_STORE_URL" in env:
        values["store_url"] = env["MOONBASE_STORE_URL"]
    if "MOONBASE_ORG" in env:
        values["organization"] = env["MOONBASE_ORG"]
    if "MOONBASE_REGIONS" in env:
        values["regions"] = parse_regions(env["MOONBASE_REGIONS"])
    if "MOONBASE_ADVERTISE_HOST" in env:
        values["advertise_host"] = env["MOONBASE_ADVERTISE_HOST"]
    if "MOONBASE_PUBLIC_URL" in env:
        values["public_url"] = env["MOONBASE_PUBLIC_URL"]
    if "MOONBASE_ADMIN_TOKEN_ID" in env and "MOONBASE_ADMIN_TOKEN" in env:
        values["admin_token_id"] = env["MOONBASE_ADMIN_TOKEN_ID"]
        values["admin_token"] = env["MOONBASE_ADMIN_TOKEN"]
    if "MOONBASE_ADMIN_EMAIL" in env:
        values["admin_email"] = env["MOONBASE_ADMIN_EMAIL"]
    if "MOONBASE_ADMIN_PASSWORD" in env:
        values["admin_password"] = env["MOONBASE_ADMIN_PASSWORD"]
    if "MOONBASE_SPARE_POOL" in env:
        values["spare_pool"] = int(env["MOONBASE_SPARE_POOL"])
    if "MOONBASE_TEMPLATE_DIR" in env:
        values["template_dir"] = Path(env["MOONBASE_TEMPLATE_DIR"])
    if "MOONBASE_DEVELOPMENT_BRANCH_LIMIT" in env:
        values["development_branch_limit"] = int(env["MOONBASE_DEVELOPMENT_BRANCH_LIMIT"])
    if "MOONBASE_SERVER_USER" in env:
        values["server_user"] = env["MOONBASE_SERVER_USER"]
    if "MOONBASE_AUDIT_RETENTION_DAYS" in env:
        values["audit_retention_days"] = int(env["MOONBASE_AUDIT_RETENTION_DAYS"])
    if "MOONBASE_RATE_LIMIT" in env:
        values["rate_limit"] = int(env["MOONBASE_RATE_LIMIT"])
    if "MOONBASE_WEBHOOK_ALLOWED_HOSTS" in env:
        values["webhook_allowed_hosts"] = parse_hosts(env["MOONBASE_WEBHOOK_ALLOWED_HOSTS"])
    if "MOONBASE_WEBHOOK_MAX_ATTEMPTS" in env:
        values["webhook_max_attempts"] = int(env["MOONBASE_WEBHOOK_MAX_ATTEMPTS"])
    if "MOONBASE_WEBHOOK_DISABLE_AFTER" in env:
        values["webhook_disable_after"] = int(env["MOONBASE_WEBHOOK_DISABLE_AFTER"])
    if "MOONBASE_OAUTH_SESSION_SECRET" in env:
        values["oauth_session_secret"] = env["MOONBASE_OAUTH_SESSION_SECRET"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ClientSettings:
    """Where the CLI's client commands send requests, and with which token."""

    url: str
    organization: str
    token_id: str
    token: str = field(repr=False)


def client_from_env(
    env: dict[str, str] | None = None,
    *,
    url: str | None = None,
    organization: str | None = None,
    token_id: str | None = None,
    token: str | None = None,
) -> ClientSettings | None:
    """Flags first, then environment (PlanetScale's names work too), then the file that
    ``moonbase up`` wrote at first start."""
    import json

    env = dict(os.environ if env is None else env)
    saved: dict[str, str] = {}
    home = Path(env["MOONBASE_HOME"]) if "MOONBASE_HOME" in env else _default_home()
    path = home / "cli.json"
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}

    def pick(flag: str | None, *names: str, key: str) -> str | None:
        if flag:
            return flag
        for name in names:
            if env.get(name):
                return env[name]
        return saved.get(key)

    resolved_url = pick(url, "MOONBASE_URL", "PLANETSCALE_API_URL", key="url")
    org = pick(organization, "MOONBASE_ORG", "PLANETSCALE_ORG", key="organization")
    tid = pick(token_id, "MOONBASE_TOKEN_ID", "PLANETSCALE_SERVICE_TOKEN_ID", key="token_id")
    secret = pick(token, "MOONBASE_TOKEN", "PLANETSCALE_SERVICE_TOKEN", key="token")
    if not (resolved_url and org and tid and secret):
        return None
    return ClientSettings(resolved_url.rstrip("/"), org, tid, secret)
