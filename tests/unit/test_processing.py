"""worker/processing.py with fakeredis (the real lock scripts), SQLite and a scripted fake Oceane.

One request, one ticket: adopt instead of re-create whenever a create may have reached Oceane,
retries counted in the database, our own outages never counted or failed, and a holder that
outlived its lock fenced out of every write. Every case that takes the ``world`` fixture runs under
both lock scopes (OCEANE_LOCK_SCOPE global, then alarm: the request's alarm's lock).

About 700 lines on purpose: one fake Oceane and one world serve every case of the one module they
test; the two-lock cases (global lock around the call, alarm's lock to the record) are at the end.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket import keys
from oceane_ticket.locking import ProcessingLock
from oceane_ticket.oceane.errors import Action, CreateAccepted, OceaneError, classify
from oceane_ticket.oceane.ticket import OceaneTicket
from oceane_ticket.request import AllowedValues, RequestRecord, build_alarm, build_details
from oceane_ticket.storage import claims, clock, db
from oceane_ticket.storage.models import FailedTicketRequest, Ticket
from producer import core
from tests.conftest import make_settings
from tests.rows import failures_for
from worker import processing, retries
from worker.processing import Context, Outcome
from worker.retries import RetryLater

ALLOWED = AllowedValues(("1", "2", "3", "4"), *[("Critical", "Major", "Minor", "None")] * 3)
Step = OceaneError | Callable[[], Any] | None


class FakeOceane:
    """Oceane as the processing sees it. ``create_plan`` steps run in order, one per create call:
    an OceaneError (raised; with ``stored=True`` in ``stores`` the ticket is stored first, as when
    the answer is lost), a callable (run, then the create proceeds) or None (a plain success)."""

    def __init__(self) -> None:
        self.tickets: list[OceaneTicket] = []
        self.calls: list[str] = []
        self.create_plan: list[Step] = []
        self.stores: set[int] = set()  # indexes into create_plan whose error comes after storing
        self.find_plan: list[Step] = []
        self._ids = itertools.count(80375)
        self._creates = 0

    def store(self, external_id: str) -> OceaneTicket:
        ticket = OceaneTicket(
            id=f"2611M{next(self._ids)}",
            status="acknowledged",
            external_id=external_id,
            href=None,
            creation_date=datetime.now(UTC),
            raw={},
        )
        self.tickets.append(ticket)
        return ticket

    def create_ticket(self, request: RequestRecord) -> OceaneTicket:
        external_id = request.external_id
        self.calls.append("create")
        index, self._creates = self._creates, self._creates + 1
        step = self.create_plan[index] if index < len(self.create_plan) else None
        if isinstance(step, OceaneError):
            if index in self.stores:
                self.store(external_id)
            raise step
        if callable(step):
            step()
        if any(t.external_id == external_id and t.is_open for t in self.tickets):
            raise classify(409, b'{"code": 29, "message": "Conflict", "description": "open ticket exists"}')
        return self.store(external_id)

    def find_open_ticket(self, external_id: str) -> OceaneTicket | None:
        self.calls.append("find")
        step = self.find_plan.pop(0) if self.find_plan else None
        if isinstance(step, OceaneError):
            raise step
        if callable(step):
            step()
        return next((t for t in reversed(self.tickets) if t.external_id == external_id and t.is_open), None)


def timeout() -> OceaneError:
    return OceaneError(
        0, "", "Timeout", "no answer from Oceane within 1 s (POST troubleTicket)", Action.RETRY, may_have_reached=True
    )


def garbage_201() -> OceaneError:
    return OceaneError(201, "", "Malformed answer", "create answered 201 with HTML page", may_have_reached=True)


def status(code: int, app: int, retry_after: str | None = None) -> OceaneError:
    return classify(code, f'{{"code": {app}, "message": "M{code}", "description": "D{code}"}}'.encode(), retry_after)


class World:
    """Settings, a migrated SQLite file, a fakeredis, the fake Oceane and a processing Context."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> None:
        self.url = f"sqlite:///{tmp_path / 'tickets.db'}"
        db.upgrade(self.url)
        self.redis = fakeredis.FakeRedis()
        monkeypatch.setattr(core, "_redis", lambda _settings: self.redis)
        values = {
            "database_url": self.url,
            "http_timeout": 0.01,
            "lock_timeout": 0.2,
            "retry_count": 1,
            "retry_backoff_max": 0.5,
            "retry_after_max": 10.0,
            "queue": "oceane.unit",
        }
        self.settings = make_settings(**{**values, **overrides})
        self.oceane = FakeOceane()
        self.ctx = self.context()
        self._alarms = itertools.count(1)

    def context(self) -> Context:
        engine = db.get_engine(self.url)
        return Context(
            settings=self.settings,
            session_factory=lambda: Session(engine, expire_on_commit=False),
            lock=ProcessingLock(self.redis, self.settings.lock_timeout),
            client=self.oceane,
        )  # type: ignore[arg-type]

    def request(self) -> str:
        alarm = build_alarm({"dma_id": 12, "element_id": 345, "alarm_id": next(self._alarms), "element_name": "E"})
        details = build_details({"priority": "2", "urgency": "Major", "technical_impact": "Major"}, ALLOWED)
        return core.submit(self.settings, alarm, details).instance

    def row(self, instance: str) -> Ticket:
        with Session(db.get_engine(self.url)) as s:
            found = s.get(Ticket, instance)
            assert found is not None
            return found

    def failures(self, instance: str) -> list[FailedTicketRequest]:
        with Session(db.get_engine(self.url)) as s:
            return list(failures_for(s, instance))

    def lock_of(self, instance: str) -> ProcessingLock:
        """The lock ``instance`` runs under in this world's scope: the global one, or its alarm's."""
        if self.settings.lock_scope != "alarm":
            return self.ctx.lock
        row = self.row(instance)
        return self.ctx.lock.for_key(keys.alarm_lock(row.dma_id, row.element_id, row.alarm_id))

    def claim_as_another_worker(self, instance: str) -> str:
        """What a second worker does once this one's lock has lapsed: take the lock and the row."""
        lock = self.lock_of(instance)
        self.redis.delete(lock.key)
        other = lock.try_acquire(instance)
        assert other
        with Session(db.get_engine(self.url), expire_on_commit=False) as s:
            assert claims.claim(s, instance, other, datetime.now(UTC)) is not None
        self.redis.delete(lock.key)  # and it died too, so the test's next run can go
        return other


@pytest.fixture(params=["global", "alarm"])
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(tmp_path, monkeypatch, lock_scope=request.param)


def test_creates_records_and_releases(world: World) -> None:
    instance = world.request()
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    row = world.row(instance)
    assert (row.status, row.ticket_id, row.attempts, row.retries_used, row.lock_token) == (
        "created",
        world.oceane.tickets[0].id,
        1,
        0,
        None,
    )
    assert row.ticket_url == world.settings.ticket_url(row.ticket_id or "")
    assert world.oceane.calls == ["create"]
    assert world.lock_of(instance).info() is None


def test_running_again_does_nothing(world: World) -> None:
    instance = world.request()
    processing.process(world.ctx, instance)
    assert processing.process(world.ctx, instance) is Outcome.NOTHING_TO_DO
    assert processing.process(world.ctx, "f" * 32) is Outcome.NOTHING_TO_DO
    assert world.oceane.calls == ["create"]


def test_a_copy_that_arrives_before_its_time_waits(world: World) -> None:
    instance = world.request()
    with Session(db.get_engine(world.url)) as s:
        s.execute(
            sa.update(Ticket)
            .where(Ticket.instance == instance)
            .values(not_before=datetime.now(UTC) + timedelta(seconds=30))
        )
        s.commit()
    assert processing.process(world.ctx, instance) is Outcome.NOTHING_TO_DO
    assert world.row(instance).status == "queued" and world.oceane.calls == []


def test_an_earlier_attempt_is_looked_up_and_adopted(world: World) -> None:
    instance = world.request()
    with Session(db.get_engine(world.url)) as s:  # a worker died mid-call; Oceane had stored it
        s.execute(sa.update(Ticket).where(Ticket.instance == instance).values(status="processing", attempts=1))
        s.commit()
    world.oceane.store("12/345/1")
    assert processing.process(world.ctx, instance) is Outcome.ADOPTED
    assert world.oceane.calls == ["find"]
    row = world.row(instance)
    assert (row.adopted, row.attempts, row.retries_used) == (True, 1, 0)


def test_an_earlier_attempt_that_never_arrived_is_created(world: World) -> None:
    instance = world.request()
    with Session(db.get_engine(world.url)) as s:
        s.execute(sa.update(Ticket).where(Ticket.instance == instance).values(status="processing", attempts=1))
        s.commit()
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    assert world.oceane.calls == ["find", "create"]
    assert world.row(instance).attempts == 2


def test_409_is_looked_up_and_adopted(world: World) -> None:
    instance = world.request()
    existing = world.oceane.store("12/345/1")
    assert processing.process(world.ctx, instance) is Outcome.ADOPTED
    assert world.oceane.calls == ["create", "find"]
    assert world.row(instance).ticket_id == existing.id


def test_409_without_a_ticket_to_adopt_fails_readably(world: World) -> None:
    instance = world.request()
    world.oceane.create_plan = [status(409, 29)]
    assert processing.process(world.ctx, instance) is Outcome.FAILED
    [failure] = world.failures(instance)
    assert (failure.http_error_code, failure.app_error_code, failure.final) == (409, "29", True)


def test_a_lost_answer_is_retried_as_a_lookup_never_a_second_create(world: World) -> None:
    instance = world.request()
    world.oceane.create_plan, world.oceane.stores = [timeout()], {0}
    with pytest.raises(RetryLater) as later:
        processing.process(world.ctx, instance)
    assert 0.25 <= later.value.countdown <= 0.5
    row = world.row(instance)
    assert (row.status, row.attempts, row.retries_used) == ("processing", 1, 1)
    assert row.not_before is not None
    [failure] = world.failures(instance)
    assert (failure.http_error_code, failure.error_message, failure.final) == (0, "Timeout", False)
    assert processing.process(world.ctx, instance) is Outcome.ADOPTED
    assert world.oceane.calls == ["create", "find"] and len(world.oceane.tickets) == 1


def test_an_unreadable_201_is_looked_up_at_once(world: World) -> None:
    instance = world.request()
    world.oceane.create_plan, world.oceane.stores = [garbage_201()], {0}
    assert processing.process(world.ctx, instance) is Outcome.ADOPTED
    assert world.oceane.calls == ["create", "find"]
    assert world.failures(instance) == []


def test_an_unreadable_201_with_nothing_to_adopt_fails_readably(world: World) -> None:
    instance = world.request()
    world.oceane.create_plan = [garbage_201()]
    assert processing.process(world.ctx, instance) is Outcome.FAILED
    [failure] = world.failures(instance)
    assert (failure.http_error_code, failure.error_message) == (201, "Malformed answer")
    assert "HTML" in failure.error_description


@pytest.mark.parametrize(("code", "app"), [(500, 1), (503, 5)])
def test_5xx_retries_up_to_the_count_then_fails(world: World, code: int, app: int) -> None:
    instance = world.request()
    world.oceane.create_plan = [status(code, app), status(code, app)]
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    assert processing.process(world.ctx, instance) is Outcome.FAILED
    rows = world.failures(instance)
    assert [
        (f.http_error_code, f.app_error_code, f.error_message, f.error_description, f.final, f.attempt) for f in rows
    ] == [(code, str(app), f"M{code}", f"D{code}", False, 1), (code, str(app), f"M{code}", f"D{code}", True, 2)]
    row = world.row(instance)
    assert (row.status, row.retries_used, row.lock_token) == ("failed", 1, None)
    assert "HTTP" in (row.error or "")


@pytest.mark.parametrize(("retry_after", "expected"), [("7", 7.0), ("99", 10.0), ("0", 0.0)])
def test_429_waits_its_retry_after_capped(world: World, retry_after: str, expected: float) -> None:
    instance = world.request()
    world.oceane.create_plan = [status(429, 53, retry_after)]
    before = datetime.now(UTC)
    with pytest.raises(RetryLater) as later:
        processing.process(world.ctx, instance)
    assert later.value.countdown == expected
    not_before = clock.as_utc(world.row(instance).not_before)
    assert not_before is not None
    assert abs((not_before - before).total_seconds() - expected) < 1


@pytest.mark.parametrize(("code", "app"), [(400, 24), (403, 50), (404, 60), (401, 40)])
def test_4xx_fails_at_once(world: World, code: int, app: int) -> None:
    instance = world.request()
    world.oceane.create_plan = [status(code, app)]
    assert processing.process(world.ctx, instance) is Outcome.FAILED
    [failure] = world.failures(instance)
    assert (failure.http_error_code, failure.app_error_code, failure.final, failure.attempt) == (
        code,
        str(app),
        True,
        1,
    )
    assert world.row(instance).retries_used == 0
    assert world.oceane.calls == ["create"]


def test_waiting_for_the_lock_spends_no_retry(world: World) -> None:
    instance = world.request()
    # Another worker holds the lock for longer than this one will wait (2 x the lock timeout).
    assert ProcessingLock(world.redis, timeout=60, key=world.lock_of(instance).key).try_acquire("someone-else")
    with pytest.raises(RetryLater) as later:
        processing.process(world.ctx, instance)
    assert later.value.reason == "processing lock busy"
    row = world.row(instance)
    assert (row.status, row.attempts, row.retries_used) == ("queued", 0, 0)
    assert world.oceane.calls == [] and world.failures(instance) == []


def test_database_down_is_our_outage_not_a_failure(world: World, tmp_path: Path) -> None:
    instance = world.request()
    broken = sa.create_engine(f"sqlite:///{tmp_path}/no/such/dir/tickets.db")
    world.ctx.session_factory = lambda: Session(broken)
    with pytest.raises(RetryLater) as later:
        processing.process(world.ctx, instance)
    assert later.value.reason == "database unavailable"
    assert world.row(instance).status == "queued" and world.lock_of(instance).info() is None


def test_database_down_after_oceane_answered_ends_in_adoption(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    instance = world.request()
    real = claims.mark_created

    def unreachable(*_: Any, **__: Any) -> bool:
        raise sa.exc.OperationalError("UPDATE tickets", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(claims, "mark_created", unreachable)
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    row = world.row(instance)
    assert (row.status, row.attempts, row.retries_used) == ("processing", 1, 0)
    assert world.failures(instance) == []
    monkeypatch.setattr(claims, "mark_created", real)
    assert processing.process(world.ctx, instance) is Outcome.ADOPTED
    assert world.oceane.calls == ["create", "find"] and len(world.oceane.tickets) == 1


def test_redis_down_is_our_outage_not_a_failure(world: World) -> None:
    instance = world.request()

    class Down:
        def register_script(self, _script: str) -> Any:
            return None

        def set(self, *_: Any, **__: Any) -> Any:
            raise redis.ConnectionError("Connection refused")

    world.ctx.lock = ProcessingLock(Down(), world.settings.lock_timeout)
    with pytest.raises(RetryLater) as later:
        processing.process(world.ctx, instance)
    assert later.value.reason == "redis unavailable"
    assert world.row(instance).status == "queued"


def test_a_holder_that_outlived_its_lock_cannot_commit_its_ticket(world: World) -> None:
    instance = world.request()
    taken: list[str] = []
    world.oceane.create_plan = [lambda: taken.append(world.claim_as_another_worker(instance))]
    assert processing.process(world.ctx, instance) is Outcome.FENCED
    row = world.row(instance)
    assert (row.status, row.lock_token, row.ticket_id) == ("processing", taken[0], None)
    # The next run (the new owner's job) adopts the ticket the fenced holder created.
    assert processing.process(world.ctx, instance) is Outcome.ADOPTED
    assert len(world.oceane.tickets) == 1 and world.row(instance).ticket_id == world.oceane.tickets[0].id


def test_a_holder_that_outlived_its_lock_cannot_record_a_failure(world: World) -> None:
    instance = world.request()
    world.oceane.create_plan = [status(500, 1)]
    world.oceane.find_plan = []
    original = world.oceane.create_ticket

    def create_then_lose_the_lock(payload: dict[str, Any]) -> OceaneTicket:
        world.claim_as_another_worker(instance)
        return original(payload)

    world.oceane.create_ticket = create_then_lose_the_lock  # type: ignore[method-assign]
    assert processing.process(world.ctx, instance) is Outcome.FENCED
    assert world.failures(instance) == []
    assert world.row(instance).retries_used == 0


def test_a_holder_fenced_out_before_its_create_sends_nothing(world: World) -> None:
    instance = world.request()
    with Session(db.get_engine(world.url)) as s:
        s.execute(sa.update(Ticket).where(Ticket.instance == instance).values(status="processing", attempts=1))
        s.commit()
    world.oceane.find_plan = [lambda: world.claim_as_another_worker(instance)]
    assert processing.process(world.ctx, instance) is Outcome.FENCED
    assert world.oceane.calls == ["find"], "a fenced-out holder must not create"
    assert world.row(instance).attempts == 1


def test_a_lookup_failure_is_a_counted_retry(world: World) -> None:
    instance = world.request()
    with Session(db.get_engine(world.url)) as s:
        s.execute(sa.update(Ticket).where(Ticket.instance == instance).values(status="processing", attempts=1))
        s.commit()
    world.oceane.find_plan = [status(503, 5)]
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    assert world.row(instance).retries_used == 1
    assert world.oceane.calls == ["find"]


@pytest.mark.parametrize("retries_used", [0, 1, 3, 10])
def test_backoff_is_exponential_with_jitter_and_capped(retries_used: int) -> None:
    settings = make_settings(retry_backoff_max=20.0, retry_after_max=60.0)
    ceiling = min(20.0, 2.0 * 2**retries_used)
    delays = [retries.backoff(settings, retries_used, None) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1, "jitter spreads the retries of many requests"
    assert retries.backoff(settings, retries_used, 120.0) == 60.0
    assert retries.backoff(settings, retries_used, 3.0) == 3.0


def test_no_transaction_stays_open_across_the_oceane_call(world: World) -> None:
    """A connection idle in transaction during a (long) Oceane call would hold a table lock."""
    instance = world.request()
    seen: list[bool] = []
    sessions: list[Session] = []
    engine = db.get_engine(world.url)

    def factory() -> Session:
        sessions.append(Session(engine, expire_on_commit=False))
        return sessions[-1]

    world.ctx.session_factory = factory
    # Every session so far (under alarm scope the first only read the request's alarm).
    world.oceane.create_plan = [lambda: seen.append(any(s.in_transaction() for s in sessions))]
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    assert seen == [False]


def test_alarm_scope_takes_the_alarms_lock_not_the_global_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(tmp_path, monkeypatch, lock_scope="alarm")
    first, second = world.request(), world.request()
    # Another worker holds the global lock: in alarm scope that does not matter.
    assert world.ctx.lock.try_acquire("someone else")
    assert processing.process(world.ctx, first) is Outcome.CREATED
    # Another worker holds the second alarm's lock: that request waits (no retry spent).
    row = world.row(second)
    busy = ProcessingLock(world.redis, timeout=120).for_key(keys.alarm_lock(row.dma_id, row.element_id, row.alarm_id))
    assert busy.try_acquire(second)  # held far longer than the worker waits (2 x its 0.2 s timeout)
    with pytest.raises(RetryLater):
        processing.process(world.ctx, second)
    assert world.row(second).status == "queued" and world.oceane.calls == ["create"]


def test_a_copy_that_took_the_request_over_before_the_lock_stops_the_first_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request never sent is claimed before the lock. If, while that worker waits for the lock,
    # a copy of the job takes the request over under the lock and creates its ticket, the first
    # worker must not create a second one when it finally gets the lock.
    world = World(tmp_path, monkeypatch)
    instance = world.request()
    copy_outcome: list[Outcome] = []
    copies = itertools.count()
    real_acquire = ProcessingLock.acquire

    def acquire_after_a_copy_ran(lock: ProcessingLock, *args: Any, **kwargs: Any) -> str:
        if next(copies) == 0:  # the copy runs (and takes the lock) while the first one waits
            copy_outcome.append(processing.process(world.ctx, instance))
        return real_acquire(lock, *args, **kwargs)

    # On the class: the alarm's lock is a copy of the context's (ProcessingLock.for_key).
    monkeypatch.setattr(ProcessingLock, "acquire", acquire_after_a_copy_ran)
    assert processing.process(world.ctx, instance) is Outcome.FENCED
    assert copy_outcome == [Outcome.CREATED]  # the claim it saw was interrupted: looked up, none, created
    # Only the copy talked to Oceane: it looked the externalId up (the claim it took over had an
    # attempt counted), found nothing and created; the first worker sent no create at all.
    assert world.oceane.calls == ["find", "create"]
    assert len(world.oceane.tickets) == 1
    assert world.row(instance).status == "created"


def test_a_busy_lock_gives_a_first_claim_back_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The lock stays busy past the wait: nothing was sent, so the request is queued again with no
    # attempt counted, and its next run creates at once (no lookup of a create that never happened).
    world = World(tmp_path, monkeypatch)
    instance = world.request()
    assert ProcessingLock(world.redis, timeout=120).try_acquire("someone else")
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    row = world.row(instance)
    assert (row.status, row.attempts, row.lock_token) == ("queued", 0, None)
    world.redis.delete(keys.PROCESSING_LOCK)
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    assert world.oceane.calls == ["create"]


def accepted_202() -> OceaneError:
    return CreateAccepted(
        202, "", "Accepted", "create answered 202 without a ticket", Action.RETRY, may_have_reached=True
    )


def test_a_202_is_looked_up_at_once_and_adopted(world: World) -> None:
    instance = world.request()
    world.oceane.create_plan, world.oceane.stores = [accepted_202()], {0}
    assert processing.process(world.ctx, instance) is Outcome.ADOPTED
    assert world.oceane.calls == ["create", "find"] and len(world.oceane.tickets) == 1


def test_a_202_whose_ticket_shows_later_is_looked_up_again_never_created_twice(world: World) -> None:
    instance = world.request()
    world.oceane.create_plan = [accepted_202()]
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    assert world.oceane.calls == ["create", "find"]
    world.oceane.store(RequestRecord.from_row(world.row(instance)).external_id)  # the server stored it since
    assert processing.process(world.ctx, instance) is Outcome.ADOPTED
    assert world.oceane.calls == ["create", "find", "find"] and len(world.oceane.tickets) == 1


# --- two locks under lock scope global: the alarm's from the claim to the record, the global one around the call ---


def _alarm_lock(world: World, instance: str) -> ProcessingLock:
    row = world.row(instance)
    return world.ctx.lock.for_key(keys.alarm_lock(row.dma_id, row.element_id, row.alarm_id))


def test_the_global_lock_covers_the_oceane_call_and_the_alarms_the_record(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The record (and the hand-off) happens outside the global lock, so that the next alarm's call
    # starts once Oceane answered; under alarm scope the global lock is never taken.
    instance = world.request()
    alarm = _alarm_lock(world, instance)
    seen: dict[str, tuple[bool, bool]] = {}

    def during_the_call() -> None:
        seen["call"] = (world.ctx.lock.info() is not None, alarm.info() is not None)

    real_mark_created = claims.mark_created

    def mark_created(session: Session, key: str, token: str, **values: Any) -> bool:
        holder = alarm.info()
        seen["record"] = (world.ctx.lock.info() is not None, holder is not None and holder.token == token)
        return real_mark_created(session, key, token, **values)

    world.oceane.create_plan = [during_the_call]
    monkeypatch.setattr(claims, "mark_created", mark_created)
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    serial = world.settings.lock_scope == "global"
    assert seen == {"call": (serial, True), "record": (False, True)}
    assert world.ctx.lock.info() is None and alarm.info() is None


def test_a_copy_arriving_between_the_answer_and_the_record_waits_and_never_asks_oceane(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gap the global lock no longer covers: a duplicate message, the sweep's re-send or a
    # redelivery arrives once Oceane answered and before the row says created. It must wait for the
    # alarm's lock, not look the alarm up: a lagging list would not show the ticket yet.
    instance = world.request()
    copies: list[str] = []
    real_mark_created = claims.mark_created
    # The copy gives up after 0.4 s (2 x its lock timeout), well within the first worker's lock
    # (10 s here), which is stalled in the gap for as long as the copy waits.
    world.ctx.lock.timeout = 10.0
    copy = dataclasses.replace(world.ctx, settings=make_settings(**{**world.settings.as_dict(), "lock_timeout": 0.2}))

    def mark_created(*args: Any, **kwargs: Any) -> bool:
        if not copies:
            with pytest.raises(RetryLater) as later:
                processing.process(copy, instance)  # the copy, run in the gap
            copies.append(later.value.reason)
        return real_mark_created(*args, **kwargs)

    monkeypatch.setattr(claims, "mark_created", mark_created)
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    assert copies == ["processing lock busy"]  # it waited for the alarm's lock (no retry spent)
    assert world.oceane.calls == ["create"]
    assert processing.process(world.ctx, instance) is Outcome.NOTHING_TO_DO  # its retry finds it done
    assert world.oceane.calls == ["create"] and len(world.oceane.tickets) == 1
    assert world.row(instance).retries_used == 0


def test_a_busy_global_lock_gives_a_claim_back_and_spends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request already sent once (a retry): claimed under its alarm's lock, then the global lock
    # stays busy past the wait. Nothing was sent or counted: the claim is given back, no retry spent.
    world = World(tmp_path, monkeypatch, lock_scope="global")
    instance = world.request()
    world.oceane.create_plan = [status(503, 5)]
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    before = world.row(instance)
    assert (before.attempts, before.retries_used) == (1, 1)
    assert ProcessingLock(world.redis, timeout=120).try_acquire("someone else")  # past every wait here
    with Session(db.get_engine(world.url)) as s:  # due now
        s.execute(sa.update(Ticket).where(Ticket.instance == instance).values(not_before=None))  # type: ignore[arg-type]
        s.commit()
    with pytest.raises(RetryLater) as later:
        processing.process(world.ctx, instance)
    assert later.value.reason == "processing lock busy"
    after = world.row(instance)
    assert (after.status, after.attempts, after.retries_used, after.lock_token) == ("processing", 1, 1, None)
    assert world.oceane.calls == ["create"] and _alarm_lock(world, instance).info() is None
    world.redis.delete(keys.PROCESSING_LOCK)
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    assert world.oceane.calls == ["create", "find", "create"]


def test_the_alarms_lock_outlives_a_long_wait_for_the_global_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The alarm's lock is renewed while its holder waits for the global one, so no copy of the job
    # can claim the request meanwhile; the call goes out under both. The renewals are observed, not
    # inferred from time passing: before each try the alarm lock's TTL is raised far above its own,
    # and after it the TTL must be back to OCEANE_LOCK_TIMEOUT.
    world = World(tmp_path, monkeypatch, lock_scope="global", lock_timeout=4)
    instance = world.request()
    alarm = _alarm_lock(world, instance)
    other = ProcessingLock(world.redis, timeout=120).try_acquire("someone else")
    assert other
    real_try = ProcessingLock.try_acquire
    renewed: list[bool] = []

    def try_acquire(lock: ProcessingLock, *args: Any, **kwargs: Any) -> str | None:
        if kwargs.get("inside") is None:
            return real_try(lock, *args, **kwargs)
        if len(renewed) == 3:
            world.ctx.lock.release(other)  # three tries waited: the global lock is free for the fourth
        world.redis.pexpire(alarm.key, 600_000)
        got = real_try(lock, *args, **kwargs)
        renewed.append(0 < world.redis.pttl(alarm.key) <= 4000)
        return got

    monkeypatch.setattr(ProcessingLock, "try_acquire", try_acquire)
    held: list[bool] = []
    world.oceane.create_plan = [lambda: held.append(alarm.holds(world.row(instance).lock_token or ""))]
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    assert held == [True] and renewed == [True] * 4


def test_an_alarms_lock_lost_while_waiting_for_the_global_one_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(tmp_path, monkeypatch, lock_scope="global")
    instance = world.request()
    assert ProcessingLock(world.redis, timeout=120).try_acquire("someone else")  # past every wait here
    real_try = ProcessingLock.try_acquire

    def try_acquire(lock: ProcessingLock, *args: Any, **kwargs: Any) -> str | None:
        inside = kwargs.get("inside")
        if inside is not None:
            # Lost before this try (a failover, a holder judged dead by mistake).
            world.redis.delete(inside.lock.key)
        return real_try(lock, *args, **kwargs)

    monkeypatch.setattr(ProcessingLock, "try_acquire", try_acquire)
    with pytest.raises(RetryLater) as later:
        processing.process(world.ctx, instance)
    assert later.value.reason == "processing lock busy"
    row = world.row(instance)
    assert (row.status, row.attempts, row.lock_token) == ("queued", 0, None)  # still ours: given back
    assert world.oceane.calls == []
    holder = world.ctx.lock.info()
    assert holder is not None and holder.instance == "someone else"
