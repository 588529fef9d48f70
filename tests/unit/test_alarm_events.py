"""Alarm events: recorded once, applied once each, in order, with a fake Oceane that can lose answers.

SQLite and fakeredis (the real lock scripts), the create pipeline of test_processing's World, and
a fake ticket store that reads and merge-patches like docs/oceane-api.md §6 says.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from intake.app import create_app
from oceane_ticket import events
from oceane_ticket.history import history
from oceane_ticket.oceane.dialects import dialect
from oceane_ticket.oceane.errors import Action, OceaneError
from oceane_ticket.oceane.ticket import OceaneTicket
from oceane_ticket.request import InputError, build_alarm, build_details
from oceane_ticket.storage import alarm_events, db, writebacks
from oceane_ticket.storage.alarm_events import AlarmEvent
from producer import core
from tests.unit.test_processing import ALLOWED, World, status
from worker import events as applying
from worker import processing
from worker.processing import RetryLater

TOKEN = "t0ken-for-the-unit-tests-0123456789"
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class FakeTickets:
    """The update side of Oceane: tickets by id, GET and merge-PATCH, with a plan of failures per PATCH.

    A plan step is an OceaneError raised before applying, or ("after", error): applied, then the
    answer lost (a timeout after Oceane committed the change).
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.patches: list[dict[str, Any]] = []
        self.plan: list[Any] = []
        self.state: dict[str, dict[str, Any]] = {}
        self.dialect = dialect("oceane")

    def _raw(self, ticket_id: str) -> dict[str, Any]:
        known = next(t for t in self.world.oceane.tickets if t.id == ticket_id)
        return self.state.setdefault(ticket_id, {"id": ticket_id, "status": known.status, "note": []})

    def get_ticket(self, ticket_id: str) -> OceaneTicket:
        return OceaneTicket.from_json(copy.deepcopy(self._raw(ticket_id)))

    def patch_ticket(self, ticket_id: str, patch: dict[str, object]) -> OceaneTicket | None:
        step = self.plan.pop(0) if self.plan else None
        if isinstance(step, OceaneError):
            raise step
        self._raw(ticket_id).update(copy.deepcopy(patch))
        self.patches.append(dict(patch))
        if isinstance(step, tuple):
            raise step[1]
        return self.get_ticket(ticket_id)

    def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        return list(self._raw(ticket_id)["note"])


def lost_answer() -> OceaneError:
    return OceaneError(
        0, 0, "Timeout", "no answer within 1 s (PATCH troubleTicket)", Action.RETRY, may_have_reached=True
    )


class Life:
    """A World (creates) plus the events side."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.tickets = FakeTickets(world)
        self.engine = db.get_engine(world.url)
        self.ctx = applying.Context(
            settings=world.settings,
            session_factory=lambda: Session(self.engine, expire_on_commit=False),
            lock=world.ctx.lock,
            oceane=self.tickets,
        )

    def ticket(self) -> tuple[str, str]:
        instance = self.world.request()
        processing.process(self.world.ctx, instance)
        row = self.world.row(instance)
        assert row.ticket_id is not None
        return instance, row.ticket_id

    def send(self, instance: str, event: str, **fields: Any) -> events.Recorded:
        row = self.world.row(instance)
        raw = {"dma_id": row.dma_id, "element_id": row.element_id, "alarm_id": row.alarm_id, "event": event, **fields}
        return events.record(self.world.settings, events.validate(raw), redis=self.world.redis)

    def apply(self, instance: str) -> int:
        return applying.apply(self.ctx, instance)

    def drain(self, instance: str, limit: int = 10) -> None:
        """Run the job as the worker would: again after each RetryLater, the wait skipped."""
        for _ in range(limit):
            try:
                self.apply(instance)
                return
            except RetryLater:
                with Session(self.engine) as s:
                    s.execute(AlarmEvent.__table__.update().values(not_before=None))  # type: ignore[attr-defined]
                    s.commit()
        raise AssertionError("still retrying")

    def event_rows(self, instance: str) -> list[AlarmEvent]:
        with Session(self.engine) as s:
            return list(alarm_events.for_ticket(s, instance))


@pytest.fixture(params=["global", "alarm"])
def life(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Life:
    return Life(World(tmp_path, monkeypatch, lock_scope=request.param))


def with_settings(life: Life, **changes: Any) -> Life:
    life.world.settings = life.world.settings.replace(**changes)
    life.ctx.settings = life.world.settings
    return life


def test_a_note_is_added_once_even_when_sent_twice_and_run_twice(life: Life) -> None:
    instance, ticket_id = life.ticket()
    first = life.send(instance, "note", text="customer called", user="CORP/alice", time="2026-11-27T08:05:00Z")
    again = life.send(instance, "note", text="customer called", user="CORP/alice", time="2026-11-27T08:05:00Z")
    assert (first.result, again.result, first.event_id) == ("recorded", "duplicate", again.event_id)
    assert life.apply(instance) == 1
    assert life.apply(instance) == 0
    notes = life.tickets.notes(ticket_id)
    assert [(n["id"], n["text"], n["author"]) for n in notes] == [
        (f"evt-{first.event_id}", "customer called", "CORP/alice")
    ]
    assert [r.state for r in life.event_rows(instance)] == ["applied"]


def test_an_alarm_without_a_ticket_changes_nothing(life: Life) -> None:
    raw = {"dma_id": 1, "element_id": 2, "alarm_id": 99999, "event": "note", "text": "x"}
    assert events.record(life.world.settings, events.validate(raw), redis=life.world.redis).result == "no_ticket"
    with Session(life.engine) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(AlarmEvent)).scalar_one() == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"element_id": 2, "alarm_id": 3, "event": "note", "text": "x"}, "dma_id"),
        ({"dma_id": 1, "element_id": 2, "alarm_id": 3, "event": "gone"}, "event"),
        ({"dma_id": 1, "element_id": 2, "alarm_id": 3, "event": "note"}, "text"),
        ({"dma_id": 1, "element_id": 2, "alarm_id": 3, "event": "cleared", "time": "yesterday"}, "time"),
        ({"dma_id": 1, "element_id": 2, "alarm_id": 3, "event": "cleared", "event_id": "a b"}, "event_id"),
        # The reconcile's own ids: a caller's event may not take the place of the clear it records.
        ({"dma_id": 1, "element_id": 2, "alarm_id": 3, "event": "cleared", "event_id": "Reconcile:x"}, "event_id"),
    ],
)
def test_bad_input_names_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        events.validate(raw)
    assert caught.value.field == field


def test_a_patch_whose_answer_was_lost_after_oceane_applied_it_gives_one_note(life: Life) -> None:
    instance, ticket_id = life.ticket()
    life.tickets.plan = [("after", lost_answer())]
    life.send(instance, "note", text="one")
    with pytest.raises(RetryLater):
        life.apply(instance)
    life.drain(instance)
    assert [n["text"] for n in life.tickets.notes(ticket_id)] == ["one"]
    assert len(life.tickets.patches) == 1
    (row,) = life.event_rows(instance)
    assert (row.state, row.outcome, row.attempts) == ("applied", "already_noted", 2)


def test_a_clear_that_resolves_is_sent_once_and_a_repeat_is_done(life: Life) -> None:
    with_settings(life, on_alarm_cleared="resolve")
    instance, ticket_id = life.ticket()
    life.send(instance, "cleared", time="2026-11-27T09:00:00Z", value="Link up")
    life.tickets.plan = [("after", lost_answer())]
    life.drain(instance)
    assert life.tickets.get_ticket(ticket_id).status == "resolved"
    assert len(life.tickets.patches) == 1
    assert life.world.row(instance).oceane_status == "resolved"


def test_a_clear_before_the_create_finished_is_applied_after_it(life: Life) -> None:
    with_settings(life, on_alarm_cleared="note")
    instance = life.world.request()  # queued, not created
    assert life.send(instance, "cleared", time="2026-11-27T09:00:00Z").result == "recorded"
    with pytest.raises(RetryLater):
        life.apply(instance)
    processing.process(life.world.ctx, instance)
    assert life.apply(instance) == 1
    ticket_id = life.world.row(instance).ticket_id
    assert ticket_id is not None and len(life.tickets.notes(ticket_id)) == 1


def test_events_of_a_request_that_failed_are_not_applicable_never_lost(life: Life) -> None:
    instance = life.world.request()
    life.send(instance, "note", text="hello")
    life.world.oceane.create_plan = [status(400, 22)]
    processing.process(life.world.ctx, instance)
    assert life.world.row(instance).status == "failed"
    assert life.apply(instance) == 1
    (row,) = life.event_rows(instance)
    assert row.state == "not_applicable" and "never created" in (row.error or "")


def test_events_arriving_out_of_order_are_applied_in_alarm_time_order(life: Life) -> None:
    instance, ticket_id = life.ticket()
    later = life.send(instance, "note", text="second", time="2026-11-27T08:10:00Z")
    earlier = life.send(instance, "note", text="first", time="2026-11-27T08:05:00Z")
    life.apply(instance)
    assert [n["id"] for n in life.tickets.notes(ticket_id)] == [f"evt-{earlier.event_id}", f"evt-{later.event_id}"]
    # One that arrives after a later one was applied is still applied, once, carrying its own date.
    earliest = life.send(instance, "note", text="zero", time="2026-11-27T08:01:00Z")
    life.apply(instance)
    notes = life.tickets.notes(ticket_id)
    assert [n["text"] for n in notes] == ["first", "second", "zero"]
    assert notes[-1]["date"] == "2026-11-27T08:01:00Z" and earliest.result == "recorded"


def test_a_refused_update_is_a_failed_request_row_and_can_be_sent_again(life: Life) -> None:
    instance, ticket_id = life.ticket()
    life.tickets.plan = [status(400, 24)]
    sent = life.send(instance, "note", text="refused once")
    assert life.apply(instance) == 1
    (row,) = life.event_rows(instance)
    assert row.state == "refused"
    failures = [f for f in life.world.failures(instance) if f.event_id == sent.event_id]
    assert len(failures) == 1 and failures[0].final and failures[0].http_error_code == 400
    with Session(life.engine, expire_on_commit=False) as s:
        assert alarm_events.requeue(s, sent.event_id) is not None
    life.apply(instance)
    assert [n["text"] for n in life.tickets.notes(ticket_id)] == ["refused once"]


def test_a_worker_killed_mid_update_is_taken_over_and_the_note_is_sent_once(life: Life) -> None:
    instance, ticket_id = life.ticket()
    sent = life.send(instance, "note", text="once")
    # The first worker claimed the event, sent the PATCH (applied) and died before recording it.
    with Session(life.engine, expire_on_commit=False) as s:
        assert alarm_events.claim(s, sent.event_id, "dead-worker-token") is not None
    life.tickets.patch_ticket(ticket_id, {"note": [{"id": f"evt-{sent.event_id}", "text": "once"}]})
    life.apply(instance)
    assert [n["text"] for n in life.tickets.notes(ticket_id)] == ["once"]
    (row,) = life.event_rows(instance)
    assert (row.state, row.outcome) == ("applied", "already_noted")
    # The dead worker's late write is fenced out.
    with Session(life.engine) as s:
        done = alarm_events.Done(alarm_events.EventState.REFUSED)
        assert not alarm_events.finish(s, sent.event_id, "dead-worker-token", done, T0)


def test_a_clear_with_the_default_setting_is_recorded_as_skipped_and_queues_nothing(life: Life) -> None:
    instance, ticket_id = life.ticket()
    before = life.world.redis.llen(life.world.settings.queue)
    recorded = life.send(instance, "cleared")
    assert (recorded.state, recorded.queued) == ("skipped", False)
    assert life.world.redis.llen(life.world.settings.queue) == before
    assert life.apply(instance) == 0 and life.tickets.notes(ticket_id) == []


def test_history_names_who_asked_and_each_event(life: Life) -> None:
    instance, _ = life.ticket()
    life.send(instance, "note", text="hello", user="CORP/bob", time=(T0 + timedelta(minutes=1)).isoformat())
    life.apply(instance)
    with Session(life.engine) as s:
        trail = history(s, instance)
    assert trail is not None
    whats = [e.what for e in trail]
    assert whats[:2] == ["requested", "created"] and "event_note" in whats and "event_applied" in whats


def test_the_intake_answers_202_200_and_422(tmp_path: Path, life: Life) -> None:
    settings = life.world.settings.replace(intake_token=TOKEN)
    producer = core.Producer(settings, core.Connections(settings, redis_client=life.world.redis))
    client = TestClient(create_app(settings, producer), headers={"Authorization": f"Bearer {TOKEN}"})
    instance, _ = life.ticket()
    row = life.world.row(instance)
    body = {"dmaId": row.dma_id, "elementId": row.element_id, "alarmId": row.alarm_id, "event": "note", "text": "hi"}
    answer = client.post("/alarms/events", json=body)
    assert answer.status_code == 202 and answer.json()["result"] == "recorded"
    assert client.post("/alarms/events", json=body).json()["result"] == "duplicate"
    assert client.post("/alarms/events", json={**body, "alarmId": 424242}).status_code == 200
    bad = client.post("/alarms/events", json={**body, "event": "exploded"})
    assert bad.status_code == 422 and bad.json()["field"] == "event"
    assert len(life.event_rows(instance)) == 1


def test_after_someone_closed_the_ticket_a_new_create_makes_a_new_ticket(life: Life) -> None:
    instance, ticket_id = life.ticket()
    row = life.world.row(instance)
    alarm = build_alarm(
        {"dma_id": row.dma_id, "element_id": row.element_id, "alarm_id": row.alarm_id, "element_name": "E"}
    )
    details = build_details({"priority": "2", "urgency": "Major", "technical_impact": "Major"}, ALLOWED)
    assert core.submit(life.world.settings, alarm, details).instance == instance  # still open: the same one
    life.world.oceane.tickets[0] = dataclasses.replace(life.world.oceane.tickets[0], status="resolved")
    with Session(life.engine) as s:
        writebacks.record_oceane_status(s, instance, "resolved", datetime.now(UTC), writeback=False)
    again = core.submit(life.world.settings, alarm, details)
    assert not again.existing and again.instance != instance
    assert processing.process(life.world.ctx, again.instance) is processing.Outcome.CREATED
    new_ticket = life.world.row(again.instance).ticket_id
    assert new_ticket not in (None, ticket_id)
    # Events now go to the new ticket.
    assert life.send(again.instance, "note", text="for the new one").instance == again.instance


def test_status_and_metrics_count_events_per_state(life: Life) -> None:
    from oceane_ticket import lifecycle_view, metrics

    instance, _ = life.ticket()
    life.send(instance, "note", text="waits")
    life.send(instance, "cleared")  # skipped: OCEANE_ON_ALARM_CLEARED=none
    counts = lifecycle_view.event_counts(life.world.settings)
    assert (counts["pending"], counts["skipped"], counts["applied"]) == (1, 1, 0)
    scrape = metrics.render(life.world.settings, path="").decode()
    assert 'oceane_alarm_events{state="pending"} 1.0' in scrape


def test_retry_event_sends_a_refused_update_again(
    life: Life, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from cli.main import main

    instance, ticket_id = life.ticket()
    life.tickets.plan = [status(400, 24)]
    sent = life.send(instance, "note", text="refused once")
    life.apply(instance)
    monkeypatch.setenv("OCEANE_DATABASE_URL", life.world.url)
    monkeypatch.setenv("OCEANE_REDIS_URL", "redis://127.0.0.1:1/0")  # down: the event is pending, the sweep sends it
    capsys.readouterr()
    assert main(["retry", "--event", sent.event_id or "", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["events"][0]["result"] == "not_queued"
    assert main(["retry", "--event", "no-such-event", "--json"]) == 1
    life.apply(instance)
    assert [n["text"] for n in life.tickets.notes(ticket_id)] == ["refused once"]
