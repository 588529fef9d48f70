"""When a task tries again: :class:`RetryLater` and the backoff of every task that retries.

Ticket creation, the alarm write-back and alarm events all wait the same way: exponential with
jitter (half to all of ``2 s x 2**n``, so that workers retrying together spread out), capped by
each one's own setting; a service's Retry-After is honoured where it gives one.
"""

from __future__ import annotations

import random

from oceane_ticket.settings import Settings


class RetryLater(Exception):
    """Try the whole task again after ``countdown`` seconds.

    ``reason`` is loggable text without secrets.
    """

    def __init__(self, reason: str, countdown: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.countdown = countdown


def exponential(attempts_before: int, cap: float) -> float:
    """Exponential with jitter: between half and all of ``min(cap, 2 s x 2**attempts_before)``."""
    ceiling = min(cap, 2.0 * (2**attempts_before))
    return random.uniform(ceiling / 2, ceiling)


def backoff(settings: Settings, retries_used: int, retry_after: float | None) -> float:
    """Seconds to wait before the next call to Oceane: its Retry-After, else exponential with jitter."""
    if retry_after is not None:
        return min(retry_after, settings.retry_after_max)
    return exponential(retries_used, settings.retry_backoff_max)


def writeback_backoff(settings: Settings, attempts_before: int) -> float:
    """Seconds before the next write-back attempt: exponential with jitter, capped."""
    return exponential(attempts_before, settings.writeback_backoff_max)


def our_outage_delay() -> float:
    """Wait before retrying after our own database or Redis failed (not counted as a retry)."""
    return random.uniform(2.0, 5.0)
