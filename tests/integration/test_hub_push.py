"""Oceane's changes by push, end to end: our listener registered at the sandbox's hub, a status changed in
Oceane reaching the ticket's row through the intake (`oceane-ticket serve`), the real Redis and PostgreSQL
and a worker process; the status poll is kept out of it (its interval is long)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from oceane_ticket import hub, keys
from oceane_ticket.oceane.client import OceaneClient
from oceane_ticket.storage.direct import postgres_dsn
from tests.conftest import wait_until
from tests.integration.test_intake import IntakeServer, body

TOKEN = "integration-intake-token-0123456789abcdef"
SECRET = "hub-secret-" + "0123456789abcdef" * 3


def oceane_status(settings: Any, instance: str) -> str | None:
    with psycopg.connect(postgres_dsn(settings.database_url)) as conn:
        row = conn.execute("SELECT oceane_status FROM tickets WHERE instance = %s", (instance,)).fetchone()
    return None if row is None else row[0]


def test_a_status_changed_in_oceane_reaches_the_row_by_push(
    settings_for: Any, real_redis: Any, sandbox: Any, start_worker: Any, tmp_path: Path
) -> None:
    intake = IntakeServer(settings_for(), tmp_path / "intake.log")
    settings = settings_for(
        intake_token=TOKEN,
        hub_enabled=True,
        hub_callback_base=intake.url,
        hub_callback_secret=SECRET,
        status_poll_interval=3600.0,
    )
    intake.settings = settings
    intake.start()
    try:
        start_worker(settings)
        client = OceaneClient(settings)
        try:
            registration = hub.ensure_registered(settings, client, real_redis)
            # Known now: a second scheduled run registers nothing more.
            assert registration and hub.ensure_registered(settings, client, real_redis) == registration
        finally:
            client.close()
        assert [s["id"] for s in sandbox.hub()["subscriptions"]] == [registration]
        assert real_redis.get(keys.HUB_REGISTRATION).decode() == registration

        created = intake.post(body(41), wait=60).json()
        assert created["status"] == "created", created
        sandbox.set_status(created["ticketId"], "inProgress")
        wait_until(
            lambda: oceane_status(settings, created["instance"]) == "inProgress",
            timeout=30,
            message="the pushed status never reached the row",
        )
        assert sandbox.wait_pushes() and sandbox.hub()["deliveries"]
    finally:
        intake.stop()


def test_registering_is_one_at_a_time(settings_for: Any, real_redis: Any, sandbox: Any) -> None:
    settings = settings_for(hub_enabled=True, hub_callback_base="http://127.0.0.1:9", hub_callback_secret=SECRET)
    real_redis.set(keys.HUB_REGISTERING, "1", ex=60)  # another worker is registering right now
    client = OceaneClient(settings)
    try:
        assert hub.ensure_registered(settings, client, real_redis) is None
        assert sandbox.hub()["subscriptions"] == []
        real_redis.delete(keys.HUB_REGISTERING)
        assert hub.ensure_registered(settings, client, real_redis)
    finally:
        client.close()
    assert len(sandbox.hub()["subscriptions"]) == 1
