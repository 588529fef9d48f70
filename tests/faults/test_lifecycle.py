"""The ticket's life after the click under faults: every alarm event applied once, none lost.

Real worker processes, beat (the events sweep), PostgreSQL, a private Redis and the sandbox's
``PATCH /troubleTicket/{id}``. Each row counts, on the sandbox's ticket, the notes whose id is
``evt-<eventId>`` (one per note event: 0 lost, 0 duplicated) and the status changes we made, and
the ticket itself through the ledger (one ticket, none lost). Steps are reached by holding the
sandbox at its gates, never by timing.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from oceane_ticket import events, keys, reconcile
from oceane_ticket.storage import db
from tests.conftest import wait_until
from tests.faults.kit import PATIENCE, PATIENT, Gate, alarm_params, lapse_lock

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def send(stack: Any, alarm: int, event: str, **fields: Any) -> events.Recorded:
    raw = {"dma_id": 12, "element_id": 345, "alarm_id": alarm, "event": event, **fields}
    return events.record(stack.settings, events.validate(raw), redis=stack.redis)


def event_states(stack: Any, instance: str) -> dict[str, str]:
    with db.get_engine(stack.pg_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT event_id, state FROM alarm_events WHERE instance = :i"), {"i": instance})
        return {str(e): str(s) for e, s in rows}


def wait_applied(stack: Any, instance: str, count: int) -> dict[str, str]:
    def done() -> dict[str, str] | None:
        states = event_states(stack, instance)
        ended = [s for s in states.values() if s != "pending"]
        return states if len(states) >= count and len(ended) == len(states) else None

    return wait_until(done, timeout=PATIENCE, message="the events never ended")  # type: ignore[no-any-return]


def notes(stack: Any, ticket_id: str) -> list[dict[str, Any]]:
    ticket = stack.sandbox.get_ticket(ticket_id)
    assert ticket is not None
    return [n for n in ticket.get("note") or [] if str(n.get("id", "")).startswith("evt-")]


def created(stack: Any, book: Any, alarm: int) -> tuple[str, str]:
    instance = book.accept(stack.submit(alarm_params(alarm)))
    book.finish(timeout=PATIENCE)
    ticket_id = stack.row(instance)["ticket_id"]
    assert ticket_id
    return instance, str(ticket_id)


def assert_once_each(stack: Any, ticket_id: str, sent: list[events.Recorded]) -> None:
    ids = [n["id"] for n in notes(stack, ticket_id)]
    expected = [f"evt-{r.event_id}" for r in sent]
    assert sorted(ids) == sorted(set(expected)), f"notes {ids}, expected one each of {expected}"


def test_a_patch_answer_lost_after_oceane_applied_it_gives_one_note(stack: Any, ledger: Any) -> None:
    book = ledger("update: PATCH applied, answer lost (read timeout) -> read first, one note")
    stack.worker()
    instance, ticket_id = created(stack, book, 301)
    stack.sandbox.set_faults(after_update={"mode": "hang", "seconds": 6 * stack.settings.http_timeout, "count": 1})
    sent = send(stack, 301, "note", text="timed out once")
    states = wait_applied(stack, instance, 1)
    assert list(states.values()) == ["applied"]
    assert_once_each(stack, ticket_id, [sent])


def test_a_worker_killed_mid_update_gives_one_note(stack: Any, ledger: Any) -> None:
    book = ledger("update: worker SIGKILLed during the PATCH (after Oceane applied it) -> one note")
    stack.configure(**PATIENT)
    stack.beat()
    first = stack.worker()
    instance, ticket_id = created(stack, book, 302)
    gate = Gate(stack.sandbox, "after_update").close()
    sent = send(stack, 302, "note", text="killed mid-call")
    gate.wait_held()
    first.kill()
    lapse_lock(stack.lock(302).for_key(keys.events_lock(instance)), instance)
    gate.release()
    stack.worker()  # the events sweep (beat) sends the dead worker's job again
    states = wait_applied(stack, instance, 1)
    assert list(states.values()) == ["applied"]
    assert_once_each(stack, ticket_id, [sent])


def test_the_same_event_twice_gives_one_note(stack: Any, ledger: Any) -> None:
    book = ledger("update: the same event sent twice, its job queued twice -> one note")
    stack.worker(concurrency=2)
    instance, ticket_id = created(stack, book, 303)
    first = send(stack, 303, "note", text="twice", time="2026-12-02T10:00:00Z", user="CORP/alice")
    again = send(stack, 303, "note", text="twice", time="2026-12-02T10:00:00Z", user="CORP/alice")
    assert (first.result, again.result) == ("recorded", "duplicate")
    events.enqueue(stack.settings, instance, stack.redis)  # a redelivered job
    wait_applied(stack, instance, 1)
    assert_once_each(stack, ticket_id, [first])


def test_events_arriving_out_of_order_each_give_one_note(stack: Any, ledger: Any) -> None:
    book = ledger("update: events for one ticket out of order, two workers -> each once")
    stack.configure(on_alarm_updated="note")
    stack.worker(concurrency=2)
    instance, ticket_id = created(stack, book, 304)
    sent = [
        send(stack, 304, "updated", severity="Critical", time="2026-12-02T10:05:00Z"),
        send(stack, 304, "note", text="later one first", time="2026-12-02T10:04:00Z"),
        send(stack, 304, "updated", severity="Major", time="2026-12-02T10:01:00Z"),
    ]
    wait_applied(stack, instance, 3)
    assert_once_each(stack, ticket_id, sent)


def test_a_clear_before_the_create_finished_resolves_it_once_after(stack: Any, ledger: Any) -> None:
    book = ledger("update: clear (resolve) recorded while the create is in flight -> applied after it, once")
    stack.configure(on_alarm_cleared="resolve", **PATIENT)
    stack.worker()
    gate = Gate(stack.sandbox, "create").close()
    instance = book.accept(stack.submit(alarm_params(305)))
    gate.wait_held()
    cleared = send(stack, 305, "cleared", value="Link up")
    assert cleared.result == "recorded" and stack.row(instance)["status"] != "created"
    gate.release()
    book.finish(timeout=PATIENCE)
    states = wait_applied(stack, instance, 1)
    assert list(states.values()) == ["applied"]
    ticket_id = str(stack.row(instance)["ticket_id"])
    assert stack.sandbox.get_ticket(ticket_id)["status"] == "resolved"
    with db.get_engine(stack.pg_url).connect() as conn:
        outcome = conn.execute(sa.text("SELECT outcome FROM alarm_events WHERE instance = :i"), {"i": instance})
        assert outcome.scalar_one() == "resolved"  # sent once, not found resolved by a repeat
    assert stack.row(instance)["oceane_status"] == "resolved"


class _ClearArrivesMidRun:
    """A DataMiner that says the alarm is gone, while the real clear reaches the intake in the same moment.

    The real clear is recorded after the reconcile chose its tickets and before it records its own:
    the race the event id alone cannot close (the two clears have different ids).
    """

    def __init__(self, stack: Any, alarm: int) -> None:
        self.stack = stack
        self.alarm = alarm
        self.sent: list[events.Recorded] = []

    def active_alarm_ids(self, dma_id: int, element_id: int) -> frozenset[int]:
        self.sent.append(send(self.stack, self.alarm, "cleared", value="Link up", time="2026-12-02T10:00:00Z"))
        return frozenset()

    def close(self) -> None:
        """Nothing pooled."""


def test_the_reconcile_and_a_real_clear_at_once_change_the_ticket_once(stack: Any, ledger: Any) -> None:
    book = ledger("update: the reconcile finds the alarm gone while its real clear arrives -> one note")
    stack.configure(on_alarm_cleared="note")
    stack.worker(concurrency=2)
    instance, ticket_id = created(stack, book, 306)
    dm = _ClearArrivesMidRun(stack, 306)
    summary = reconcile.run(stack.settings, dm, stack.redis)
    assert (summary.gone, summary.recorded) == (1, 1)
    assert [r.result for r in dm.sent] == ["recorded"]
    states = wait_applied(stack, instance, 2)
    assert sorted(states.values()) == ["applied", "applied"]
    assert len(notes(stack, ticket_id)) == 1, notes(stack, ticket_id)
    with db.get_engine(stack.pg_url).connect() as conn:
        outcomes = conn.execute(sa.text("SELECT outcome FROM alarm_events WHERE instance = :i"), {"i": instance})
        assert sorted(str(o) for o in outcomes.scalars()) == ["already_cleared", "noted"]
    again = reconcile.run(stack.settings, dm, stack.redis)  # the next run: a known clear, nothing asked
    assert (again.checked, again.recorded) == (0, 0)
