"""The hub listener in-process: its secret path proves the caller, a repeat changes nothing, no secret in logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intake.app import create_app
from intake.listener import RedactListenerSecret
from producer import core
from tests.unit.test_processing import World
from worker import processing

SECRET = "s" * 40
TOKEN = "t0ken-for-the-unit-tests-0123456789"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(
        tmp_path,
        monkeypatch,
        intake_token=TOKEN,
        hub_enabled=True,
        hub_callback_base="https://intake.example",
        hub_callback_secret=SECRET,
        alarm_writer="udapi",
        dataminer_url="https://dma.example",
        dataminer_token="x" * 32,
    )


def client_for(world: World) -> TestClient:
    producer = core.Producer(world.settings, core.Connections(world.settings, redis_client=world.redis))
    return TestClient(create_app(world.settings, producer))  # no bearer token: Oceane has none


def event(ticket_id: str, status: str, event_id: str = "e1", external_id: str | None = None) -> dict[str, Any]:
    ticket: dict[str, Any] = {"id": ticket_id, "status": status}
    if external_id is not None:
        ticket["externalId"] = external_id
    return {
        "eventId": event_id,
        "eventTime": "2026-12-02T10:00:00Z",
        "eventType": "TroubleTicketStatusChangeEvent",
        "event": {"troubleTicket": ticket},
    }


def test_a_pushed_status_is_stored_and_written_to_the_alarm_once(world: World) -> None:
    instance = world.request()
    processing.process(world.ctx, instance)
    row = world.row(instance)
    assert row.ticket_id is not None
    client = client_for(world)
    path = f"/hub/{SECRET}/listener/troubleTicketStatusChangeEvent"
    answer = client.post(path, json=event(row.ticket_id, "inProgress", external_id="12/345/1"))
    assert answer.status_code == 201 and answer.json()["result"] == "changed"
    after = world.row(instance)
    assert (after.oceane_status, after.writeback_state) == ("inProgress", "pending")
    assert client.post(path, json=event(row.ticket_id, "inProgress")).json()["result"] == "unchanged"


def test_a_wrong_secret_or_a_stranger_ticket_changes_nothing(world: World) -> None:
    instance = world.request()
    processing.process(world.ctx, instance)
    ticket_id = world.row(instance).ticket_id or ""
    client = client_for(world)
    wrong = client.post(
        "/hub/" + "x" * 40 + "/listener/troubleTicketStatusChangeEvent", json=event(ticket_id, "closed")
    )
    assert wrong.status_code == 404
    stranger = client.post(f"/hub/{SECRET}/listener/troubleTicketStatusChangeEvent", json=event("OTHER-1", "closed"))
    assert stranger.json()["result"] == "not_ours"
    other_alarm = event(ticket_id, "closed", external_id="9/9/9")
    assert (
        client.post(f"/hub/{SECRET}/listener/troubleTicketStatusChangeEvent", json=other_alarm).json()["result"]
        == "not_ours"
    )
    bad = client.post(f"/hub/{SECRET}/listener/troubleTicketStatusChangeEvent", json={"eventId": "x"})
    assert bad.status_code == 422
    assert world.row(instance).oceane_status is None
    # Every other route still needs the bearer token.
    assert client.get("/form").status_code == 401


def test_the_access_log_never_shows_the_secret() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", f"/hub/{SECRET}/listener/troubleTicketResolvedEvent", "1.1", 201),
        None,
    )
    RedactListenerSecret().filter(record)
    assert SECRET not in record.getMessage() and "/hub/***/listener/troubleTicketResolvedEvent" in record.getMessage()
