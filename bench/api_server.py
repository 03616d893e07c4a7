"""The API benchmark's server: Moonbase's app with the FakeProvisioner (no database servers),
served by uvicorn in a thread, in a process of its own so that the benchmark's clients do not
share its interpreter lock.

    python -m bench.api_server --home /tmp/x --port 8123

Prints ``ready`` once it answers; exits on SIGTERM / SIGINT (stopping uvicorn and the app's
lifespan: reconciler, store).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
import time
from pathlib import Path

import uvicorn

from moonbase.app import create_app
from moonbase.provisioners.fake import FakeProvisioner
from moonbase.settings import Settings

ORG = "acme"
ADMIN_ID = "benchadmin01"
ADMIN_SECRET = "pscale_tkn_bench_admin_secret"


def serve(home: Path, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Start the app on 127.0.0.1:``port`` in a daemon thread; return once it answers."""
    extra: dict[str, object] = {}
    if "rate_limit" in {f.name for f in dataclasses.fields(Settings)}:
        # the per-token rate limit (600 a minute by default) would answer 429 after the first
        # 600 requests: keep the limiter (its cost is part of every request) but never reached
        extra["rate_limit"] = 10**9
    settings = Settings(
        home=home,
        host="127.0.0.1",
        port=port,
        organization=ORG,
        admin_token_id=ADMIN_ID,
        admin_token=ADMIN_SECRET,
        **extra,  # type: ignore[arg-type]
    )  # reconcile / health intervals: the defaults of `moonbase up`
    app = create_app(settings, lambda _s: FakeProvisioner())
    # the same uvicorn settings as `moonbase up --log-level warning`
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server, thread = serve(args.home, args.port)
    print("ready", flush=True)
    while not stop.is_set() and thread.is_alive():
        stop.wait(0.5)
    server.should_exit = True
    thread.join(30)


if __name__ == "__main__":
    main()
