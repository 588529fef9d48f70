"""A crashed worker's request resumes within 30 s of a worker being up again.

Before, it waited for the dead holder's processing lock to lapse (OCEANE_LOCK_TIMEOUT, 120 s) and
for the sweep (OCEANE_STALE_AFTER, 180 s), while kombu kept the dead worker's message unacked for
its visibility timeout (an hour). Here the timings are production's (lock 120 s, stale after 180 s)
and no beat runs, so neither the lock's TTL nor the sweep can be what recovers the request: only
the dead worker's lapsed heartbeat, seen by the worker started after it (worker.sweep's
recover_dead_workers). Exactly-once still holds: the dead worker's create reached Oceane, and the
new worker adopts that ticket after looking the externalId up (``create_calls == 1``).

Each scenario's row in ``make faults`` carries the time from the new worker being ready to the
request being created.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from oceane_ticket import keys
from tests.conftest import wait_until
from tests.faults.kit import alarm_params, dead_holder_locks_broken

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIMIT = 30.0  # seconds from a worker being up again to the request being created
PRODUCTION = {"lock_timeout": 120.0, "stale_after": 180.0, "sweep_interval": 60.0}


def _killed_mid_create(stack: Any, ledger: Any, alarm: int, name: str) -> tuple[Any, str, Any]:
    """A worker dies while Oceane is storing the ticket; returns the ledger, instance, dead holder.

    The lock is its alarm's, held from the claim to the record under both scopes.
    """
    stack.configure(**PRODUCTION)
    book = ledger(name)
    first = stack.worker()
    stack.sandbox.set_faults(latency={"create": 2})  # Oceane stores the ticket once the 2 s are up
    instance = book.accept(stack.submit(alarm_params(alarm)))
    wait_until(lambda: stack.sandbox.state()["create_calls"] == 1, timeout=15, interval=0.01)
    holder = stack.lock(alarm).info()  # its alarm's (under global scope the global one is held too)
    assert holder is not None and holder.instance == instance and holder.node, "the lock names its worker node"
    first.kill()
    assert stack.row(instance)["status"] == "processing"
    return book, instance, holder


def _resume(stack: Any, book: Any, alarm: int, instance: str, holder: Any) -> float:
    """Start a worker, wait for the request to be created; returns the seconds it took."""
    stack.sandbox.clear_faults()
    metrics = stack.workdir / "metrics-resume"
    metrics.mkdir()
    stack.worker(env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    ready = time.monotonic()
    row = book.finish(timeout=LIMIT + 30, check=False)
    took = time.monotonic() - ready
    book.name = f"{book.name}: created {took:.1f} s after restart"
    book.finish(timeout=0)  # the row again, under its final name, with the checks
    assert took < LIMIT, f"resumed {took:.1f} s after the restart: {row}"
    done = stack.row(instance)
    assert (done["status"], done["adopted"], done["retries_used"]) == ("created", True, 0)
    assert stack.sandbox.state()["create_calls"] == 1, "the dead worker's create is adopted, not repeated"
    # Mid-call it held its alarm's lock and, under global scope, the global one: both are broken.
    broken = len(stack.in_call_locks(alarm))
    assert dead_holder_locks_broken(metrics) == broken, "the new worker broke the dead holder's locks"
    lock = stack.lock(alarm).info()
    assert lock is None or lock.token != holder.token
    return took


def test_a_killed_workers_request_resumes_within_30_s(stack: Any, ledger: Any) -> None:
    book, instance, holder = _killed_mid_create(stack, ledger, 700, "worker SIGKILLed mid-create, lock 120 s, no sweep")
    _resume(stack, book, 700, instance, holder)
    # The dead worker's message is not left unacked for kombu's visibility timeout either.
    wait_until(lambda: stack.redis.hlen("unacked") == 0, timeout=15, message="a dead worker's message stays unacked")
    assert stack.redis.hlen(keys.UNACKED_OWNERS) == 0


def test_a_killed_workers_request_resumes_when_redis_lost_its_message(stack: Any, ledger: Any) -> None:
    book, instance, holder = _killed_mid_create(
        stack, ledger, 701, "worker SIGKILLed mid-create, its message lost by Redis"
    )
    # What an AOF's last second or a failover can lose: the delivered message and its bookkeeping.
    # The processing lock still names the request, and the database still says processing.
    stack.redis.delete("unacked", "unacked_index", keys.UNACKED_OWNERS, stack.settings.queue)
    _resume(stack, book, 701, instance, holder)


def test_a_live_but_busy_holder_keeps_its_lock(stack: Any, ledger: Any) -> None:
    # The other side of the rule: a holder whose worker still beats is never judged dead, however
    # long its call takes; a second worker waits for it rather than repeating the create.
    stack.configure(**{**PRODUCTION, "http_timeout": 15.0, "lock_timeout": 160.0})  # a call may take 14 s
    book = ledger("slow create on a live worker while a second worker watches")
    metrics = stack.workdir / "metrics-busy"
    metrics.mkdir()
    stack.worker(env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    stack.sandbox.set_faults(latency={"create": 14})  # longer than a heartbeat TTL (10 s)
    instance = book.accept(stack.submit(alarm_params(702)))
    wait_until(lambda: stack.sandbox.state()["create_calls"] == 1, timeout=15, interval=0.01)
    stack.worker(env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    book.finish(timeout=60)
    done = stack.row(instance)
    assert (done["status"], done["adopted"]) == ("created", False)
    assert stack.sandbox.state()["create_calls"] == 1
    assert dead_holder_locks_broken(metrics) == 0, "a live holder's lock was broken"
