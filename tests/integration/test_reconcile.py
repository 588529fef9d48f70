"""The reconcile end to end: PostgreSQL, Redis, a real worker, the sandbox and the fake DataMiner.

The reconcile pass is called directly (what beat's ``oceane.reconcile`` runs); the worker creates the
tickets and applies the cleared events it records. Every wait is on a row or the sandbox's ticket.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from oceane_ticket import events, lifecycle_view, metrics, queue_state, reconcile
from oceane_ticket.alarm_state import make_reader
from oceane_ticket.storage import db
from producer.core import create_ticket, wait_for
from tests.conftest import wait_until
from tests.fakedm import FakeDataMiner

USER = "svc-oceane"
PASSWORD = "dm-password-3d7a"
ALARM = "DMA ID=12;Element ID={element};Alarm ID={alarm};Element Name=Encoder;Alarm Value=LOS"
DEADLINE = 60.0


@pytest.fixture
def dm() -> Iterator[FakeDataMiner]:
    with FakeDataMiner("127.0.0.1", 0, user=USER, password=PASSWORD) as fake:
        yield fake


def dm_settings(settings_for: Any, dm: FakeDataMiner, **overrides: Any) -> Any:
    return settings_for(
        alarm_writer="webservices", dataminer_url=dm.url, dataminer_user=USER, dataminer_password=PASSWORD, **overrides
    )


def create(settings: Any, alarm: int, element: int = 345) -> str:
    status = create_ticket(
        ALARM.format(element=element, alarm=alarm),
        priority="2",
        urgency="Major",
        technical_impact="Major",
        settings=settings,
    )
    done = wait_for(settings, status, DEADLINE)
    assert done.status == "created", done
    return status.instance


def event_rows(settings: Any) -> list[dict[str, Any]]:
    with db.get_engine(settings.database_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT event_id, instance, kind, state, outcome FROM alarm_events ORDER BY id"))
        return [dict(r) for r in rows.mappings()]


def ticket_row(settings: Any, instance: str) -> dict[str, Any]:
    with db.get_engine(settings.database_url).connect() as conn:
        found = conn.execute(sa.text("SELECT * FROM tickets WHERE instance = :i"), {"i": instance}).mappings().first()
    assert found is not None
    return dict(found)


def pass_once(settings: Any, real_redis: Any) -> reconcile.Summary:
    reader = make_reader(settings)
    assert reader is not None
    try:
        return reconcile.run(settings, reader, real_redis)
    finally:
        reader.close()


def test_an_alarm_gone_in_dataminer_resolves_its_ticket_once(
    settings_for: Any, dm: FakeDataMiner, sandbox: Any, start_worker: Any, real_redis: Any
) -> None:
    settings = dm_settings(settings_for, dm, on_alarm_cleared="resolve")
    dm.raise_alarm(12, 345, 501, alarm_id=520)  # the tree's latest alarm has another ID than its root
    start_worker(settings)
    instance = create(settings, 501)

    still = pass_once(settings, real_redis)
    assert (still.checked, still.active, still.gone, still.unknown) == (1, 1, 0, 0)
    assert event_rows(settings) == []

    dm.clear_alarm(12, 345, 501)
    gone = pass_once(settings, real_redis)
    assert (gone.checked, gone.active, gone.gone, gone.recorded, gone.unknown) == (1, 0, 1, 1, 0)
    wait_until(
        lambda: ticket_row(settings, instance)["oceane_status"] == "resolved",
        timeout=DEADLINE,
        message="the ticket was never resolved",
    )
    ticket_id = str(ticket_row(settings, instance)["ticket_id"])
    assert sandbox.get_ticket(ticket_id)["status"] == "resolved"
    assert sandbox.state()["tickets_updated"] == 1
    [event] = event_rows(settings)
    assert (event["event_id"], event["kind"], event["state"], event["outcome"]) == (
        reconcile.event_id(instance),
        "cleared",
        "applied",
        "resolved",
    )

    again = pass_once(settings, real_redis)  # a second run: the ticket is no longer open
    assert (again.checked, again.recorded) == (0, 0)
    # The real clear arrives after all: one more event in the trail, no second change in Oceane.
    raw = {"dma_id": 12, "element_id": 345, "alarm_id": 501, "event": "cleared", "time": "2026-12-02T10:00:00Z"}
    late = events.record(settings, events.validate(raw), redis=real_redis)
    assert late.result == "recorded"
    wait_until(
        lambda: all(e["state"] != "pending" for e in event_rows(settings)), timeout=DEADLINE, message="never applied"
    )
    assert [e["outcome"] for e in event_rows(settings)] == ["resolved", "already_cleared"]
    assert sandbox.state()["tickets_updated"] == 1
    assert lifecycle_view.status_block(settings)["alarm_gone_ticket_open"] == 0


def test_dataminer_down_changes_nothing_and_a_gone_alarm_shows_while_the_policy_is_none(
    settings_for: Any, dm: FakeDataMiner, sandbox: Any, start_worker: Any, real_redis: Any
) -> None:
    settings = dm_settings(settings_for, dm)  # OCEANE_ON_ALARM_CLEARED=none, the default
    dm.raise_alarm(12, 345, 601)
    dm.raise_alarm(12, 345, 602)
    start_worker(settings)
    first, second = create(settings, 601), create(settings, 602)
    dm.clear_alarm(12, 345, 601)

    dm.set_down(True)
    down = pass_once(settings, real_redis)
    assert (down.checked, down.active, down.gone, down.unknown) == (2, 0, 0, 2)
    assert down.reasons and event_rows(settings) == []
    reported = queue_state.collect_status(settings)["events"]
    assert reported["reconcile"]["enabled"] is True
    assert (reported["reconcile"]["last_run"]["unknown"], reported["alarm_gone_ticket_open"]) == (2, 0)

    dm.set_down(False)
    back = pass_once(settings, real_redis)
    assert (back.checked, back.active, back.gone, back.recorded, back.unknown) == (2, 1, 1, 1, 0)
    [event] = event_rows(settings)
    assert (event["instance"], event["state"]) == (first, "skipped")  # the policy decides: nothing in Oceane
    assert sandbox.state()["tickets_updated"] == 0
    reported = queue_state.collect_status(settings)["events"]
    assert reported["alarm_gone_ticket_open"] == 1
    assert reported["reconcile"]["last_run"]["gone"] == 1
    scraped = metrics.render(settings).decode()
    assert "oceane_alarm_gone_ticket_open 1.0" in scraped
    assert 'oceane_reconcile_last_run_tickets{result="unknown"} 0.0' in scraped

    again = pass_once(settings, real_redis)  # only the other ticket is asked about now
    assert (again.checked, again.active, again.recorded) == (1, 1, 0)
    assert [e["instance"] for e in event_rows(settings)] == [first]
    assert second != first


def test_an_element_dataminer_no_longer_knows_proves_nothing(
    settings_for: Any, dm: FakeDataMiner, start_worker: Any, real_redis: Any
) -> None:
    settings = dm_settings(settings_for, dm, on_alarm_cleared="resolve")
    dm.raise_alarm(12, 346, 701)
    start_worker(settings)
    create(settings, 701, element=346)
    dm.remove_element(12, 346)
    summary = pass_once(settings, real_redis)
    assert (summary.checked, summary.gone, summary.unknown) == (1, 0, 1)
    assert event_rows(settings) == []


def test_the_reconcile_is_off_without_a_way_to_ask_dataminer(settings_for: Any, real_redis: Any) -> None:
    block = queue_state.collect_status(settings_for())["events"]["reconcile"]
    assert block["enabled"] is False
    assert "OCEANE_ALARM_WRITER=none" in block["off_reason"]
