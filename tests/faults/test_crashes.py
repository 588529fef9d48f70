"""Issue 3, item 3: a worker SIGKILLed at each step, then restarted, completes the request exactly once.

The kill points are reached deterministically, by holding the worker where we want it rather than
by timing: the processing lock held by someone else (before the claim), the token endpoint slowed
(after the claim and the counted attempt, before the create is sent), the create slowed in the
sandbox (during the call), the create stored but its answer held back (during the call, after
Oceane acted), and PostgreSQL stalled behind a proxy once Oceane's answer is in (after the answer,
before the commit: the worker's next database bytes are what the proxy reports).

Recovery is the product's own: the dead holder's lock lapses after OCEANE_LOCK_TIMEOUT, beat's
sweep re-enqueues the request the database still shows open, and the restarted worker looks the
externalId up before creating. ``create_calls == 1`` proves the ticket was adopted rather than
re-created (the sandbox would refuse a second create with 409, which the ledger also counts).
"""

from __future__ import annotations

from typing import Any

import pytest

from oceane_ticket.locking import ProcessingLock
from tests.conftest import wait_until
from tests.faults.kit import alarm_params

pytestmark = [pytest.mark.integration, pytest.mark.faults]

RECOVERY = 40.0  # lock TTL (10.5 s) + stale_after (2 s) + sweep interval, with room to spare


def _recover(stack: Any, book: Any, instance: str, *, adopted: bool) -> None:
    stack.sandbox.clear_faults()
    worker = stack.worker()
    book.finish(timeout=RECOVERY)
    done = stack.row(instance)
    assert done["adopted"] is adopted
    assert done["retries_used"] == 0, "a crash is not Oceane's failure and spends no retry"
    assert stack.sandbox.state()["create_calls"] == 1
    assert "sweep re-enqueued" in worker.log_text()


def test_killed_while_waiting_for_the_lock(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL before the claim (waiting for the lock)")
    stack.beat()
    first = stack.worker()
    # Another holder is mid-ticket: the worker receives the job and waits for the lock.
    other = ProcessingLock(stack.redis, stack.settings.lock_timeout)
    token = other.try_acquire("someone-else")
    assert token
    instance = book.accept(stack.submit(alarm_params(100)))
    first.wait_for_log("Task oceane.create_ticket[", timeout=10)
    assert stack.row(instance)["status"] == "queued"
    first.kill()
    assert other.release(token)
    _recover(stack, book, instance, adopted=False)
    assert stack.row(instance)["attempts"] == 1


def test_killed_after_the_claim_before_the_create(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL after the claim, before the create is sent")
    stack.beat()
    first = stack.worker()
    stack.sandbox.set_faults(latency={"token": 30})  # the worker's first create fetches a token first
    instance = book.accept(stack.submit(alarm_params(101)))
    wait_until(lambda: stack.sandbox.state()["token_calls"] == 1, timeout=10)
    claimed = stack.row(instance)
    assert (claimed["status"], claimed["attempts"]) == ("processing", 1)
    first.kill()
    assert stack.sandbox.state()["create_calls"] == 0
    _recover(stack, book, instance, adopted=False)


def test_killed_during_the_create(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL during the create call (Oceane still working)")
    stack.beat()
    first = stack.worker()
    stack.sandbox.set_faults(latency={"create": 3})  # Oceane stores the ticket once the 3 s are up
    instance = book.accept(stack.submit(alarm_params(102)))
    wait_until(lambda: stack.sandbox.state()["create_calls"] == 1, timeout=10, interval=0.01)
    first.kill()
    _recover(stack, book, instance, adopted=True)


def test_killed_after_oceane_stored_the_ticket_before_it_answered(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL during the create call (ticket stored, answer pending)")
    stack.beat()
    first = stack.worker()
    stack.sandbox.set_faults(after_create={"mode": "hang", "seconds": 30})
    instance = book.accept(stack.submit(alarm_params(103)))
    wait_until(lambda: stack.sandbox.state()["tickets_created"] == 1, timeout=10, interval=0.01)
    first.kill()
    _recover(stack, book, instance, adopted=True)


def test_killed_after_oceane_answered_before_the_database_commit(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL after Oceane answered, before the DB commit")
    stack.beat()  # beat and the producer use PostgreSQL directly; only the worker goes through the proxy
    proxy, proxied = stack.proxied_database()
    first = stack.worker(proxied)
    # The answer is held back a moment after the ticket is stored, so that the proxy can stall the
    # database first: the worker then receives the 201 and blocks on its commit.
    stack.sandbox.set_faults(after_create={"mode": "hang", "seconds": 0.5})
    instance = book.accept(stack.submit(alarm_params(104)))
    wait_until(lambda: stack.sandbox.state()["tickets_created"] == 1, timeout=10, interval=0.01)
    proxy.stall()
    wait_until(
        lambda: proxy.stalled_bytes > 0, timeout=10, interval=0.01, message="the worker never reached its commit"
    )
    first.kill()
    proxy.restore()
    assert stack.row(instance)["status"] == "processing"  # the commit never happened
    _recover(stack, book, instance, adopted=True)
