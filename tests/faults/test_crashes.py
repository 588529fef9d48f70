"""A worker SIGKILLed at each step, then restarted, completes the request exactly once.

The kill points are reached deterministically, by holding the worker where we want it rather than
by timing: the processing lock held by someone else (before the claim), the sandbox's gates (see
``kit.Gate``) holding the token call (after the claim and the counted attempt, before the create
is sent), the create on arrival (during the call, Oceane not yet acting) and the create's answer
once the ticket is stored (during the call, after Oceane acted), and PostgreSQL stalled behind a
proxy before the held answer is let go (after the answer, before the commit: the worker's next
database bytes are what the proxy reports). The worker's HTTP timeout is far longer than any hold
(``kit.PATIENT``), so nothing but the kill ends its call.

Recovery is the product's own: the dead holder's locks lapse (made to lapse now rather than after
their TTL, which is all that would happen meanwhile), beat's sweep puts the request the database
still shows open back on the queue, and the restarted worker looks the externalId up before
creating. ``create_calls == 1`` proves the ticket was adopted rather than re-created (the sandbox
would refuse a second create with 409, which the ledger also counts). A request is held by its
alarm's lock from the claim to the record under both scopes (``Stack.lock``); under
OCEANE_LOCK_SCOPE=global the global lock is taken inside it for the Oceane call only
(``Stack.in_call_locks``), so a worker killed between the answer and the record holds only its
alarm's, and one killed waiting for the global lock holds its alarm's with nothing sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import wait_until
from tests.faults.kit import PATIENCE, PATIENT, Gate, alarm_params, lapse_lock, unacked_creates

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _recover(stack: Any, book: Any, instance: str, *, adopted: bool) -> None:
    stack.sandbox.clear_faults()
    # The killed worker's job stays unacknowledged in Redis, and nobody delivers it again for an
    # hour (the visibility timeout); only the sweep (a task that beat queues and the new worker
    # runs) can send the request again.
    assert instance in unacked_creates(stack.redis)
    stack.worker()
    book.finish(timeout=PATIENCE)
    assert instance in unacked_creates(stack.redis), "the dead worker's job was delivered again"
    done = stack.row(instance)
    assert done["adopted"] is adopted
    assert done["retries_used"] == 0, "a crash is not Oceane's failure and spends no retry"
    assert stack.sandbox.state()["create_calls"] == 1


def test_killed_while_waiting_for_the_lock(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL while waiting for the lock (claimed, nothing sent)")
    stack.configure(**PATIENT)
    stack.beat()
    first = stack.worker()
    # Another holder is mid-ticket on the same alarm (as a copy of the job would be): the worker
    # receives the job and waits for the alarm's lock.
    other = stack.lock(100)
    token = other.try_acquire("someone-else")
    assert token
    instance = book.accept(stack.submit(alarm_params(100)))
    wait_until(
        lambda: instance in unacked_creates(stack.redis), timeout=PATIENCE, message="the worker never took the job"
    )
    # A request never sent is claimed, its attempt counted, before the worker waits for the lock.
    wait_until(
        lambda: stack.row(instance)["status"] == "processing", timeout=PATIENCE, message="the worker never claimed"
    )
    assert stack.row(instance)["attempts"] == 1
    first.kill()
    assert other.release(token)
    assert stack.sandbox.state()["create_calls"] == 0
    _recover(stack, book, instance, adopted=False)
    # The counted attempt may have reached Oceane as far as the next worker can tell: it looked
    # the externalId up, found nothing, and created once.
    assert stack.row(instance)["attempts"] == 2


def test_killed_while_waiting_for_the_global_lock(stack: Any, ledger: Any) -> None:
    # Under global scope: claimed, its alarm's lock held, queued behind another alarm's call on the
    # global lock, nothing sent. Under alarm scope the global lock is no lock of its: it goes on.
    book = ledger("SIGKILL while waiting for the global lock (alarm's lock held, nothing sent)")
    stack.configure(**PATIENT)
    stack.beat()
    first = stack.worker()
    other = stack.global_lock()
    token = other.try_acquire("another alarm's request")  # no worker node: only its TTL frees it
    assert token
    instance = book.accept(stack.submit(alarm_params(105)))
    if stack.lock_scope == "alarm":
        book.finish(timeout=PATIENCE)
        assert stack.sandbox.state()["create_calls"] == 1 and other.holds(token)
        return
    waiting = wait_until(stack.lock(105).info, timeout=PATIENCE, message="the worker never took its alarm's lock")
    assert waiting.instance == instance and stack.row(instance)["attempts"] == 1
    first.kill()
    lapse_lock(stack.lock(105), instance)
    assert other.release(token)
    assert stack.sandbox.state()["create_calls"] == 0
    _recover(stack, book, instance, adopted=False)
    assert stack.row(instance)["attempts"] == 2  # looked up first: the killed claim counted one


def _lapse_in_call_locks(stack: Any, alarm: int, instance: str) -> None:
    for lock in stack.in_call_locks(alarm):
        lapse_lock(lock, instance)


def test_killed_after_the_claim_before_the_create(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL after the claim, before the create is sent")
    stack.configure(**PATIENT)
    stack.beat()
    first = stack.worker()
    gate = Gate(stack.sandbox, "token").close()  # the worker's first create fetches a token first
    instance = book.accept(stack.submit(alarm_params(101)))
    gate.wait_held()
    claimed = stack.row(instance)
    assert (claimed["status"], claimed["attempts"]) == ("processing", 1)
    first.kill()
    _lapse_in_call_locks(stack, 101, instance)
    gate.release()
    assert stack.sandbox.state()["create_calls"] == 0
    _recover(stack, book, instance, adopted=False)


def test_killed_during_the_create(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL during the create call (Oceane still working)")
    stack.configure(**PATIENT)
    stack.beat()
    first = stack.worker()
    gate = Gate(stack.sandbox, "create").close()  # received, nothing stored yet
    instance = book.accept(stack.submit(alarm_params(102)))
    gate.wait_held()
    assert stack.sandbox.state()["tickets_created"] == 0
    first.kill()
    _lapse_in_call_locks(stack, 102, instance)
    # Oceane finishes the create its caller no longer waits for: the ticket exists, unrecorded.
    gate.release()
    wait_until(lambda: stack.sandbox.state()["tickets_created"] == 1, timeout=PATIENCE)
    assert stack.row(instance)["status"] == "processing"
    _recover(stack, book, instance, adopted=True)


def test_killed_after_oceane_stored_the_ticket_before_it_answered(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL during the create call (ticket stored, answer pending)")
    stack.configure(**PATIENT)
    stack.beat()
    first = stack.worker()
    gate = Gate(stack.sandbox, "after_create").close()
    instance = book.accept(stack.submit(alarm_params(103)))
    gate.wait_held()
    assert stack.sandbox.state()["tickets_created"] == 1
    first.kill()
    _lapse_in_call_locks(stack, 103, instance)
    gate.release()
    assert stack.row(instance)["status"] == "processing"
    _recover(stack, book, instance, adopted=True)


def test_killed_after_oceane_answered_before_the_database_commit(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL after Oceane answered, before the DB commit")
    stack.configure(**PATIENT)
    stack.beat()  # beat and the producer use PostgreSQL directly; only the worker goes through the proxy
    proxy, proxied = stack.proxied_database()
    first = stack.worker(proxied)
    # The answer is held once the ticket is stored, so that the proxy can stall the database
    # first: the worker then receives the 201 and blocks on its commit.
    gate = Gate(stack.sandbox, "after_create").close()
    instance = book.accept(stack.submit(alarm_params(104)))
    gate.wait_held()
    proxy.stall()
    gate.release()
    wait_until(
        lambda: proxy.stalled_bytes > 0, timeout=PATIENCE, interval=0.01, message="the worker never reached its commit"
    )
    # The record is outside the global lock: by now it is free for the next alarm's call, and the
    # request is held by its alarm's lock alone.
    assert stack.global_lock().info() is None
    first.kill()
    proxy.restore()
    assert stack.row(instance)["status"] == "processing"  # the commit never happened
    lapse_lock(stack.lock(104), instance)
    _recover(stack, book, instance, adopted=True)
