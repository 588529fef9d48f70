"""Retention driven by a real `celery -A worker beat` process and a real worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from oceane_ticket.storage import db, retention
from tests.conftest import settings_env, wait_until
from tests.faults.kit import BeatProcess
from tests.integration.test_retention import populated, snapshot  # noqa: F401 - the fixture is used by name


def test_beat_runs_the_cleanup_on_its_schedule(
    populated: dict[str, Any],  # noqa: F811
    settings_for: Any,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    url = populated["url"]
    # The cleanup every second; the sweep not at all during the test (it would re-send the open rows).
    settings = settings_for(cleanup_interval=1.0, sweep_interval=3600.0)
    start_worker(settings)
    open_before = snapshot(url, retention.TICKETS.c.status.in_(retention.OPEN))
    beat = BeatProcess(settings_env(settings), tmp_path / "beat").start()
    try:

        def trimmed() -> bool:
            with db.get_engine(url).connect() as conn:
                return conn.execute(sa.select(sa.func.count()).select_from(retention.TICKETS)).scalar_one() == 1004

        wait_until(trimmed, timeout=60, message=beat.log_text()[-2000:])
    finally:
        beat.stop()
    left = snapshot(url)
    assert set(left) - populated["open"] == populated["keep"]
    assert snapshot(url, retention.TICKETS.c.status.in_(retention.OPEN)) == open_before


def test_beat_registers_the_hub_listener_at_its_start(
    settings_for: Any, start_worker: Any, sandbox: Any, real_redis: Any, tmp_path: Path
) -> None:
    from oceane_ticket import keys

    # Every interval an hour: only the registration at beat's start can make it within the test.
    settings = settings_for(
        hub_enabled=True,
        hub_callback_base="http://127.0.0.1:9",
        hub_callback_secret="b" * 40,
        status_poll_interval=3600.0,
        sweep_interval=3600.0,
        cleanup_interval=3600.0,
    )
    start_worker(settings)
    beat = BeatProcess(settings_env(settings), tmp_path / "beat").start()
    try:
        wait_until(lambda: real_redis.get(keys.HUB_REGISTRATION), timeout=60, message=beat.log_text()[-2000:])
    finally:
        beat.stop()
    registration = real_redis.get(keys.HUB_REGISTRATION).decode()
    assert [s["id"] for s in sandbox.hub()["subscriptions"]] == [registration]


def test_beat_releases_held_rule_requests_within_the_cap(
    settings_for: Any, start_worker: Any, sandbox: Any, tmp_path: Path
) -> None:
    # The whole path with nothing called by hand: the producer holds the rule requests, beat's
    # release-rules sends them (every few seconds), the worker creates the tickets.
    import uuid

    from producer import core

    settings = settings_for(
        queue=f"oceane.tests.{uuid.uuid4().hex[:8]}", auto_tickets_per_minute=2, sweep_interval=3600.0
    )
    form = {"priority": "2", "urgency": "Major", "technical_impact": "Major"}
    held = [
        core.create_ticket(
            f"DMA ID=1;Element ID=2;Alarm ID={n};Element Name=E", settings=settings, origin="rule", **form
        )
        for n in (1, 2)
    ]
    assert sandbox.state()["tickets_created"] == 0
    start_worker(settings)
    beat = BeatProcess(settings_env(settings), tmp_path / "beat").start()
    try:

        def created() -> bool:
            with db.get_engine(settings.database_url).connect() as conn:
                query = sa.select(sa.func.count()).select_from(retention.TICKETS)
                done = query.where(retention.TICKETS.c.status == "created")
                return conn.execute(done).scalar_one() == len(held)

        wait_until(created, timeout=60, message=beat.log_text()[-2000:])
    finally:
        beat.stop()
    assert sandbox.state()["tickets_created"] == len(held)
