"""How the API tells the reconciler there is work, and waits for a credential to be applied.

Both sides live in one process in the embedded setup; with several processes sharing a
PostgreSQL store the reconciler also polls, so a lost wake-up only costs latency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Notifier:
    def __init__(self) -> None:
        self._wake_hooks: list[Callable[[], None]] = []
        self._applied = threading.Condition()
        self._generation = 0

    def on_wake(self, hook: Callable[[], None]) -> None:
        self._wake_hooks.append(hook)

    def wake(self) -> None:
        for hook in self._wake_hooks:
            hook()

    def applied(self) -> None:
        """Called by the reconciler after a pass that changed credentials."""
        with self._applied:
            self._generation += 1
            self._applied.notify_all()

    def wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until ``done()`` holds, rechecking after each
        reconciler pass that applied credentials."""
        with self._applied:
            return self._applied.wait_for(done, timeout)
