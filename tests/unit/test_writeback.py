"""worker/writeback.py, worker/status_sync.py and retry --writeback with SQLite, fakeredis and stubs.

The stub writer and finder have the real interfaces (AlarmWriter.write, OceaneClient.find_tickets);
the HTTP side of the writers is tested in test_alarm_writer.py, the whole chain in
tests/acceptance/test_writeback.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket import jobs
from oceane_ticket.alarm_writer import AlarmRef, WritebackError
from oceane_ticket.oceane.errors import Action, OceaneError
from oceane_ticket.oceane.ticket import OceaneTicket, TicketLookup
from oceane_ticket.storage import db, writebacks
from oceane_ticket.storage.models import Ticket
from producer import retry
from tests.unit.test_processing import World
from worker import processing, status_sync, writeback
from worker.processing import RetryLater

DM = {"alarm_writer": "udapi", "dataminer_url": "http://dma.test", "dataminer_token": "tok"}


class StubWriter:
    """An AlarmWriter that records writes and fails as told."""

    name = "stub"

    def __init__(self) -> None:
        self.writes: list[tuple[AlarmRef, dict[str, str]]] = []
        self.fail_with: WritebackError | None = None
        self.during_write: Any = None

    def write(self, alarm: AlarmRef, properties: Mapping[str, str]) -> None:
        if self.during_write is not None:
            self.during_write()
        if self.fail_with is not None:
            raise self.fail_with
        self.writes.append((alarm, dict(properties)))

    def close(self) -> None:
        pass


class StubFinder:
    """Oceane's find, answering from a dict externalId -> tickets; counts lookups per externalId."""

    def __init__(self) -> None:
        self.tickets: dict[str, list[OceaneTicket]] = {}
        self.lookups: list[str] = []
        self.retrieved: list[str] = []
        self.by_id: dict[str, OceaneTicket] = {}  # what GET /troubleTicket/{id} answers
        self.error: OceaneError | None = None

    def put(self, external_id: str | None, ticket_id: str, status: str, key: str | None = None) -> None:
        ticket = OceaneTicket(ticket_id, status, external_id, None, datetime.now(UTC), raw={})
        bucket = self.tickets.setdefault(key or external_id or "", [])
        bucket[:] = [t for t in bucket if t.id != ticket_id] + [ticket]

    def find_tickets(self, external_id: str) -> TicketLookup:
        self.lookups.append(external_id)
        if self.error is not None:
            raise self.error
        found = list(self.tickets.get(external_id, []))
        return TicketLookup(tickets=found, complete=True, pages=1, seen=len(found), total=len(found))

    def get_ticket(self, ticket_id: str) -> OceaneTicket | None:
        self.retrieved.append(ticket_id)
        if self.error is not None:
            raise self.error
        return self.by_id.get(ticket_id)


class Bench(World):
    """The processing World plus a write-back context, a status-poll context and a record of enqueues."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> None:
        super().__init__(tmp_path, monkeypatch, **(DM | overrides))
        self.enqueued: list[str] = []
        self.ctx.enqueue_writeback = self.enqueued.append
        self.writer = StubWriter()
        engine = db.get_engine(self.url)
        self.wctx = writeback.Context(
            settings=self.settings,
            session_factory=lambda: Session(engine, expire_on_commit=False),
            writer=self.writer,
        )
        self.finder = StubFinder()
        self.pctx = status_sync.Context(
            settings=self.settings,
            session_factory=lambda: Session(engine, expire_on_commit=False),
            client=self.finder,
            enqueue_writeback=self.enqueued.append,
        )

    def created(self) -> Ticket:
        instance = self.request()
        assert processing.process(self.ctx, instance) is processing.Outcome.CREATED
        return self.row(instance)

    def set(self, instance: str, **values: Any) -> None:
        with Session(db.get_engine(self.url)) as s:
            s.execute(sa.update(Ticket).where(Ticket.instance == instance).values(**values))
            s.commit()


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    return Bench(tmp_path, monkeypatch, writeback_retry_count=2, writeback_backoff_max=1.0)


def transient() -> WritebackError:
    return WritebackError("ConnectionError calling DataMiner (POST /api/custom/x)", transient=True)


# --- the created commit ---


def test_created_commits_a_pending_write_back_then_queues_it(bench: Bench) -> None:
    row = bench.created()
    assert (row.status, row.writeback_state, row.writeback_attempts) == ("created", "pending", 0)
    assert bench.enqueued == [row.instance]


def test_without_a_writer_nothing_is_pending_or_queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = Bench(tmp_path, monkeypatch, alarm_writer="none")
    row = world.created()
    assert (row.status, row.writeback_state) == ("created", "none")
    assert world.enqueued == []


def test_a_lost_enqueue_leaves_the_ticket_created_and_the_sweep_sends_it(bench: Bench) -> None:
    def redis_down(instance: str) -> None:
        raise ConnectionError("redis went away")

    bench.ctx.enqueue_writeback = redis_down
    row = bench.created()
    assert (row.status, row.writeback_state) == ("created", "pending")
    # Nothing is stale yet...
    assert writeback.sweep(bench.settings, bench.redis) == []
    # ...until it was due longer than OCEANE_STALE_AFTER ago.
    bench.set(row.instance, writeback_at=datetime.now(UTC) - timedelta(seconds=bench.settings.stale_after + 5))
    assert writeback.sweep(bench.settings, bench.redis) == [row.instance]
    assert writeback.sweep(bench.settings, bench.redis) == []  # the marker: one copy per period
    queued = bench.redis.lrange(jobs.queue_for(bench.settings.queue), 0, -1)
    assert len(queued) == 1
    message = json.loads(queued[0])
    assert message["headers"]["task"] == jobs.TASK_WRITEBACK
    assert message["properties"]["priority"] == jobs.LOW_PRIORITY
    assert json.loads(base64.b64decode(message["body"]))[0] == [row.instance]


# --- the job ---


def test_writes_id_and_url_onto_the_alarm_and_is_done(bench: Bench) -> None:
    row = bench.created()
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.DONE
    assert bench.writer.writes == [
        (
            AlarmRef(row.dma_id, row.element_id, row.alarm_id),
            {"Oceane Ticket ID": row.ticket_id, "Oceane Ticket URL": row.ticket_url},
        )
    ]
    after = bench.row(row.instance)
    assert (after.writeback_state, after.writeback_error) == ("done", None) and after.writeback_at is not None
    # A second copy of the job finds nothing to do.
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.NOTHING_TO_DO
    assert len(bench.writer.writes) == 1


def test_a_failing_write_back_retries_on_its_own_budget_and_never_fails_the_ticket(bench: Bench) -> None:
    row = bench.created()
    bench.writer.fail_with = transient()
    for attempt in (1, 2):
        with pytest.raises(RetryLater) as later:
            writeback.run(bench.wctx, row.instance)
        assert 0 < later.value.countdown <= 1.0
        now = bench.row(row.instance)
        assert (now.status, now.writeback_state, now.writeback_attempts) == ("created", "pending", attempt)
        assert "ConnectionError" in (now.writeback_error or "")
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.FAILED
    final = bench.row(row.instance)
    assert (final.status, final.writeback_state, final.writeback_attempts) == ("created", "failed", 3)
    assert final.ticket_id == row.ticket_id


def test_a_rate_limited_write_back_waits_as_asked_then_is_done_with_nothing_failed(bench: Bench) -> None:
    row = bench.created()
    bench.writer.fail_with = WritebackError(
        "DataMiner answered HTTP 429 (RateLimitExceeded)", transient=True, http_status=429, retry_after=30.0
    )
    with pytest.raises(RetryLater) as later:
        writeback.run(bench.wctx, row.instance)
    assert later.value.countdown >= 30.0  # DataMiner's Retry-After, above our 1 s backoff ceiling
    assert bench.row(row.instance).writeback_state == "pending"

    bench.writer.fail_with = None
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.DONE
    after = bench.row(row.instance)
    assert (after.status, after.writeback_state, after.writeback_error) == ("created", "done", None)


def test_a_refusal_that_cannot_improve_fails_the_write_back_at_once(bench: Bench) -> None:
    row = bench.created()
    bench.writer.fail_with = WritebackError("DataMiner answered HTTP 401", transient=False, http_status=401)
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.FAILED
    assert bench.row(row.instance).writeback_state == "failed"


def test_a_status_stored_while_writing_keeps_the_row_pending_for_the_new_values(bench: Bench) -> None:
    row = bench.created()
    bench.writer.during_write = lambda: bench.set(row.instance, oceane_status="inProgress")
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.SUPERSEDED
    assert bench.row(row.instance).writeback_state == "pending"
    bench.writer.during_write = None
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.DONE
    assert bench.writer.writes[-1][1]["Oceane Ticket Status"] == "inProgress"


def test_a_writer_switched_off_settles_pending_rows(bench: Bench) -> None:
    row = bench.created()
    bench.wctx.writer = None
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.NOTHING_TO_DO
    assert bench.row(row.instance).writeback_state == "none"


# --- retry --writeback ---


def test_retry_writeback_gives_a_fresh_budget_and_queues_the_job(bench: Bench) -> None:
    row = bench.created()
    bench.set(row.instance, writeback_state="failed", writeback_attempts=3, writeback_error="HTTP 401")
    queued = bench.request()  # not created yet
    results = retry.retry_writeback(bench.settings, [row.instance, queued, "0" * 32], bench.redis)
    assert [r["result"] for r in results] == ["requeued", "not_created", "not_found"]
    after = bench.row(row.instance)
    assert (after.writeback_state, after.writeback_attempts, after.writeback_error) == ("pending", 0, None)
    assert bench.redis.llen(jobs.queue_for(bench.settings.queue)) == 1
    with Session(db.get_engine(bench.url)) as s:
        assert writebacks.failed_writebacks(s) == []


def test_retry_writeback_without_a_writer_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = Bench(tmp_path, monkeypatch, alarm_writer="none")
    row = world.created()
    results = retry.retry_writeback(world.settings, [row.instance], world.redis)
    assert results[0]["result"] == "no_writer" and "OCEANE_ALARM_WRITER" in results[0]["detail"]
    assert world.row(row.instance).writeback_state == "none"


# --- the status poll ---


def external_id(row: Ticket) -> str:
    return f"{row.dma_id}/{row.element_id}/{row.alarm_id}"


def test_a_status_change_is_stored_and_handed_to_the_writer(bench: Bench) -> None:
    row = bench.created()
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.DONE
    bench.enqueued.clear()
    assert row.ticket_id is not None
    bench.finder.put(external_id(row), row.ticket_id, "acknowledged")
    first = status_sync.poll(bench.pctx)
    assert (first.checked, first.changed) == (1, [row.instance])
    polled = bench.row(row.instance)
    assert (polled.oceane_status, polled.writeback_state) == ("acknowledged", "pending")
    assert polled.oceane_status_checked_at is not None and bench.enqueued == [row.instance]
    assert writeback.run(bench.wctx, row.instance) is writeback.Outcome.DONE
    assert bench.writer.writes[-1][1]["Oceane Ticket Status"] == "acknowledged"

    # No change: only the check time moves, nothing is written again.
    bench.enqueued.clear()
    assert status_sync.poll(bench.pctx).changed == []
    assert bench.row(row.instance).writeback_state == "done" and bench.enqueued == []

    bench.finder.put(external_id(row), row.ticket_id, "inProgress")
    assert status_sync.poll(bench.pctx).changed == [row.instance]
    assert bench.row(row.instance).oceane_status == "inProgress"


def test_a_closed_ticket_is_no_longer_polled(bench: Bench) -> None:
    row = bench.created()
    assert row.ticket_id is not None
    bench.finder.put(external_id(row), row.ticket_id, "closed")
    assert status_sync.poll(bench.pctx).changed == [row.instance]
    assert bench.row(row.instance).oceane_status == "closed"
    bench.finder.lookups.clear()
    assert status_sync.poll(bench.pctx).checked == 0
    assert bench.finder.lookups == []


def test_only_our_exact_external_id_and_ticket_id_match(bench: Bench) -> None:
    row = bench.created()
    assert row.ticket_id is not None
    # A ticket without externalId, another ticket on our externalId, and ours under another externalId.
    bench.finder.put(None, row.ticket_id, "closed", key=external_id(row))
    bench.finder.put(external_id(row), "2611M99999", "closed")
    bench.finder.put(external_id(row) + "0", row.ticket_id, "closed", key=external_id(row))
    result = status_sync.poll(bench.pctx)
    assert (result.checked, result.changed, result.not_found) == (1, [], 1)
    assert bench.row(row.instance).oceane_status is None


def test_the_poll_is_bounded_and_takes_the_oldest_check_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = Bench(tmp_path, monkeypatch, status_poll_batch=2)
    rows = [world.created() for _ in range(3)]
    for row in rows:
        assert row.ticket_id is not None
        world.finder.put(external_id(row), row.ticket_id, "acknowledged")
    old = datetime.now(UTC) - timedelta(hours=1)
    world.set(rows[0].instance, oceane_status_checked_at=old + timedelta(minutes=5))
    world.set(rows[1].instance, oceane_status_checked_at=old)
    # rows[2] never checked: first; then rows[1] (oldest check); rows[0] waits for the next run.
    assert status_sync.poll(world.pctx).checked == 2
    assert world.finder.lookups == [external_id(rows[2]), external_id(rows[1])]
    world.finder.lookups.clear()
    status_sync.poll(world.pctx)
    assert world.finder.lookups[0] == external_id(rows[0])


def test_a_transient_oceane_failure_ends_the_run_and_changes_nothing(bench: Bench) -> None:
    rows = [bench.created() for _ in range(2)]
    bench.finder.error = OceaneError(503, 5, "Service unavailable", "down", Action.RETRY)
    result = status_sync.poll(bench.pctx)
    assert (result.checked, result.changed) == (0, []) and result.stopped
    assert len(bench.finder.lookups) == 1
    assert all(bench.row(r.instance).oceane_status_checked_at is None for r in rows)


def test_without_a_writer_the_status_is_stored_but_nothing_is_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = Bench(tmp_path, monkeypatch, alarm_writer="none")
    row = world.created()
    assert row.ticket_id is not None
    world.finder.put(external_id(row), row.ticket_id, "held")
    assert status_sync.poll(world.pctx).changed == [row.instance]
    after = world.row(row.instance)
    assert (after.oceane_status, after.writeback_state) == ("held", "none") and world.enqueued == []


def test_a_ticket_the_list_does_not_show_is_read_by_its_id(bench: Bench) -> None:
    # A TMF621 v5 server need not keep externalIdentifier: the list cannot show our ticket, its id can.
    row = bench.created()
    assert row.ticket_id is not None
    bench.finder.by_id[row.ticket_id] = OceaneTicket(row.ticket_id, "resolved", None, None, None, raw={})
    result = status_sync.poll(bench.pctx)
    assert (result.checked, len(result.changed), result.not_found) == (1, 1, 0)
    assert bench.row(row.instance).oceane_status == "resolved"
    assert bench.finder.retrieved == [row.ticket_id]


def test_a_ticket_read_by_its_id_that_names_another_alarm_is_not_ours(bench: Bench) -> None:
    row = bench.created()
    assert row.ticket_id is not None
    bench.finder.by_id[row.ticket_id] = OceaneTicket(row.ticket_id, "resolved", "99/99/99", None, None, raw={})
    result = status_sync.poll(bench.pctx)
    assert (result.checked, result.changed, result.not_found) == (1, [], 1)
