"""The Redis master or the PostgreSQL primary fails over (tests/failover_bed.py): nothing lost, nothing created twice.

Each row runs the service on the bed's Sentinel set and multi-host PostgreSQL, throws one failover
at it, and checks with the scenario ledger that every accepted request has exactly one Oceane
ticket. Each prints (and notes in the matrix row) the time from the failover to the next ticket
Oceane created.

The row ``pg_primary_lost_attempt_count`` is the proof of the attempt-count protection: the standby
stops receiving WAL, the worker counts its attempt and reaches Oceane, the primary dies, the standby
is promoted without that count. With our synchronous commits (storage/urls.py) the count cannot be
acknowledged before the standby has it, so the worker never calls Oceane on a count the standby
lacks. Run it with ``OCEANE_FAULTS_UNPROTECTED=1`` to take the protection away (the worker's URL then
asks for ``synchronous_commit=local``): the row fails with a duplicate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oceane_ticket.storage import db
from tests.conftest import wait_until
from tests.failover_bed import PostgresPair, RedisSentinelSet
from tests.faults.conftest import Stack
from tests.faults.kit import PATIENCE, Gate, alarm_params
from tests.faults.ledger import REPORT_ENV, Ledger
from tests.faults.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNPROTECTED = os.environ.get("OCEANE_FAULTS_UNPROTECTED") == "1"


class Bed:
    """The scenario's stack on a fresh Sentinel set and PostgreSQL pair."""

    def __init__(self, stack: Stack, redis_set: RedisSentinelSet, pg: PostgresPair, ledger: Ledger) -> None:
        self.stack, self.redis_set, self.pg, self.ledger = stack, redis_set, pg, ledger

    def submit(self, alarm: int) -> str:
        return self.ledger.accept(self.stack.submit(alarm_params(alarm)))

    def created(self) -> int:
        """Creates Oceane has answered so far: tickets, and 409s (a create of an alarm that has one)."""
        return len(self.stack.sandbox.tickets) + int(self.stack.sandbox.state()["create_conflicts"])

    def next_ticket_after(self, failed_over: float, before: int, label: str) -> float:
        """Seconds from ``failed_over`` until Oceane answered a create more than ``before``; printed."""
        wait_until(lambda: self.created() > before, PATIENCE * 3, 0.05, "a ticket after the failover")
        seconds = time.monotonic() - failed_over
        print(f"{label}: {seconds:.1f} s from the failover to the next ticket created")
        self.ledger.notes = f"{self.ledger.notes} next ticket {seconds:.1f} s after the failover".strip()
        return seconds


@pytest.fixture
def bed(
    request: pytest.FixtureRequest, settings_for: Any, sandbox: Any, tmp_path: Path, lock_scope: str
) -> Iterator[Any]:
    """A factory: ``bed(name, **settings)`` starts the Sentinel set and the PostgreSQL pair, migrated."""
    started: list[Any] = []

    def make(name: str, notes: str = "", **overrides: Any) -> Bed:
        redis_set = RedisSentinelSet()
        started.append(redis_set)
        redis_set.start()
        pg = PostgresPair()
        started.append(pg)
        pg.start()
        db.upgrade(pg.url())
        # The Stack's own private Redis is not used: every client goes through the Sentinels.
        stack = Stack(settings_for, sandbox, RedisServer(tmp_path), tmp_path, pg.url(), lock_scope)
        started.insert(0, stack)
        stack.configure(database_url=pg.url(), **redis_set.settings(), **overrides)
        ledger = Ledger(
            name=name,
            database_url=pg.url(),
            sandbox=sandbox,
            report_path=os.environ.get(REPORT_ENV),
            nodeid=request.node.nodeid,
            notes=notes,
            lock_scope=lock_scope,
        )
        return Bed(stack, redis_set, pg, ledger)

    yield make
    for thing in started:
        thing.close() if isinstance(thing, Stack) else thing.stop()


def test_redis_master_killed_with_requests_queued_and_one_mid_call(bed: Any) -> None:
    b = bed("redis master SIGKILLed: 5 queued, 1 mid-call", notes="Sentinel promotes the replica")
    gate = Gate(b.stack.sandbox, "create").close()
    b.stack.worker()
    b.stack.beat()
    for alarm in range(1, 7):
        b.submit(alarm)
    gate.wait_held()
    before = b.created()
    killed = b.redis_set.kill_master()
    gate.open()
    b.next_ticket_after(killed, before, "redis master killed")
    b.ledger.finish(timeout=120)


def test_pg_primary_stopped_between_oceane_answer_and_commit(bed: Any) -> None:
    b = bed("pg primary stopped between Oceane's answer and the commit", notes="standby promoted")
    gate = Gate(b.stack.sandbox, "after_create").close()
    b.stack.worker()
    b.stack.beat()
    b.submit(1)
    gate.wait_held()  # Oceane has the ticket; the worker has not recorded it
    before = b.created()
    failed_over = b.pg.fail_over()
    gate.open()
    b.submit(2)
    b.next_ticket_after(failed_over, before, "pg primary stopped before the commit")
    b.ledger.finish(timeout=120)


def test_pg_primary_lost_attempt_count(bed: Any) -> None:
    b = bed(
        "pg primary stopped between the attempt count and the call (count not on the standby)",
        notes="UNPROTECTED" if UNPROTECTED else "synchronous commit",
    )
    worker_settings = b.stack.settings
    if UNPROTECTED:  # the protection taken away: the worker's URL asks for local commits (storage/urls.py)
        worker_settings = b.stack.variant(database_url=b.pg.url(options="-csynchronous_commit%3Dlocal"))
    gate = Gate(b.stack.sandbox, "create").close()
    b.submit(1)  # no worker yet: the request row and its message are in, the standby has the row
    wait_until(b.pg.caught_up, PATIENCE, 0.1, "the standby to replay the request")
    b.pg.pause_shipping()  # from now on the primary's commits never reach the standby
    b.stack.worker(settings=worker_settings)
    b.stack.beat(settings=worker_settings)
    # Protected: the worker's commit waits for the standby that does not answer; it never calls.
    # Unprotected: the attempt is counted on the primary alone and the create reaches Oceane.
    wait_until(lambda: b.pg.sync_waiters() > 0 or gate.status()["waiting"] > 0, PATIENCE, 0.1, "the worker's commit")
    before = b.created()
    failed_over = b.pg.fail_over()
    gate.open()
    b.next_ticket_after(failed_over, before, "pg primary lost the attempt count")
    b.ledger.finish(timeout=120)


def test_redis_and_pg_fail_over_during_a_drain(bed: Any) -> None:
    b = bed("redis master SIGKILLed and pg primary stopped during a drain of 12", notes="both at once")
    b.stack.worker(concurrency=2)
    b.stack.beat()
    for alarm in range(1, 13):
        b.submit(alarm)
    wait_until(lambda: len(b.stack.sandbox.tickets) >= 3, PATIENCE, 0.05, "the drain to start")
    before = b.created()
    killed = b.redis_set.kill_master()
    b.pg.fail_over()
    b.next_ticket_after(killed, before, "redis and pg failed over")
    b.ledger.finish(timeout=180)
