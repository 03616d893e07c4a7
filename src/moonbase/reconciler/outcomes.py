"""What a reconcile attempt's outcome means for the next one: backoff with jitter and a cap."""

from __future__ import annotations

import random
from datetime import timedelta

BASE_DELAY = 1.0
MAX_DELAY = 60.0
#: a permanent failure is still retried, rarely, in case the host was fixed meanwhile
PERMANENT_DELAY = 300.0


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Delay before attempt number ``attempts + 1``: 1 s, 2 s, 4 s ... up to a minute, ±20 %."""
    delay = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))
    jitter = (rng or random).uniform(0.8, 1.2)
    return timedelta(seconds=delay * jitter)
