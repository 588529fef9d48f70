"""The rule cap end to end: real PostgreSQL, Redis, a real worker process, the sandbox, the console script.

The release is called as beat calls it, with the minute driven by an injected clock rather than waited
for; beat itself runs it in tests/acceptance/test_beat.py. Every wait is on a state (a row, the queue).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from oceane_ticket import queue_state
from oceane_ticket.storage import clock, db
from oceane_ticket.storage.models import Ticket
from producer import core
from tests.conftest import settings_env, wait_until
from worker import release, sweep

CLI = str(Path(sys.executable).with_name("oceane-ticket"))
DETAILS = ["--priority", "2", "--urgency", "Major", "--technical-impact", "Major"]
FORM = {"priority": "2", "urgency": "Major", "technical_impact": "Major"}
CAP, RULE_REQUESTS = 3, 7


def alarm(n: int) -> str:
    return f"DMA ID=12;Element ID=345;Alarm ID={n};Element Name=Encoder"


def cli(settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=settings_env(settings), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def statuses(settings: Any) -> dict[str, str]:
    with db.get_engine(settings.database_url).connect() as conn:
        rows = conn.execute(sa.select(Ticket.instance, Ticket.status)).all()  # type: ignore[call-overload]
    return {row.instance: row.status for row in rows}


@pytest.fixture
def capped(settings_for: Any, real_redis: Any) -> Any:
    return settings_for(queue=f"oceane.tests.{uuid.uuid4().hex[:8]}", auto_tickets_per_minute=CAP)


def test_a_storm_of_rule_requests_waits_behind_the_cap_and_a_click_does_not(
    capped: Any, real_redis: Any, start_worker: Any, sandbox: Any
) -> None:
    start_worker(capped)
    # The storm: one through the console script, the rest as the intake would (the producer's function).
    first = cli(capped, "create", "--alarm", alarm(1), *DETAILS, "--origin", "rule", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"] == "queued"
    rules = [json.loads(first.stdout)["instance"]]
    for n in range(2, RULE_REQUESTS + 1):
        rules.append(core.create_ticket(alarm(n), settings=capped, origin="rule", **FORM).instance)

    # The operator's click goes straight through, the whole storm held in front of it notwithstanding.
    click = cli(capped, "create", "--alarm", alarm(100), *DETAILS, "--wait", "60", "--json")
    assert click.returncode == 0, click.stderr
    assert json.loads(click.stdout)["status"] == "created"
    assert sandbox.state()["tickets_created"] == 1

    t0 = clock.utcnow()
    released = release.release(capped, real_redis, now=t0)
    assert released == rules[:CAP]
    wait_until(lambda: all(statuses(capped)[i] == "created" for i in released), timeout=60)
    # Nothing else can run: the queue is empty and nothing is in a worker's hands.
    view = queue_state.collect_status(capped)
    assert view["queue"]["redis_messages"] == 0 and view["queue"]["redis_unacked"] == 0
    assert sandbox.state()["tickets_created"] == CAP + 1
    assert view["queue"]["rule_requests_waiting"] == RULE_REQUESTS - CAP
    assert view["queue"]["rule_requests_released_last_minute"] == CAP

    status = cli(capped, "status", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)["queue"]
    assert shown["rule_requests_waiting"] == RULE_REQUESTS - CAP and shown["auto_tickets_per_minute"] == CAP
    assert "Rule requests waiting for the cap" in cli(capped, "status").stdout

    # The sweep, however late, sends none of the held ones.
    assert sweep.sweep(capped, real_redis, now=t0 + timedelta(hours=1)) == []
    assert release.release(capped, real_redis, now=t0 + timedelta(seconds=59)) == []

    # Minute after minute, the rest: none lost, none twice.
    moment = t0
    while len(released) < RULE_REQUESTS:
        moment += timedelta(seconds=60)
        batch = release.release(capped, real_redis, now=moment)
        assert 0 < len(batch) <= CAP
        released += batch
    assert released == rules
    wait_until(lambda: all(statuses(capped)[i] == "created" for i in rules), timeout=90)
    assert sandbox.state()["tickets_created"] == RULE_REQUESTS + 1
    assert queue_state.collect_status(capped)["queue"]["rule_requests_waiting"] == 0


def test_a_bad_origin_exits_2_naming_it_and_stores_nothing(capped: Any, real_redis: Any) -> None:
    result = cli(capped, "create", "--alarm", alarm(1), *DETAILS, "--origin", "robot", "--json")
    assert result.returncode == 2
    assert "origin:" in result.stderr and "operator, rule" in result.stderr
    assert json.loads(result.stdout)["field"] == "origin"
    assert statuses(capped) == {}
    assert real_redis.llen(capped.queue) == 0


def test_releasers_racing_on_postgresql_release_the_cap_once_between_them(capped: Any) -> None:
    # Two beats (or a beat and a manual run) at the same moment: the advisory lock makes the second
    # count what the first released, so together they stay within the cap.
    from concurrent.futures import ThreadPoolExecutor

    from sqlmodel import Session

    from oceane_ticket.storage import holds

    for n in range(1, 11):
        core.create_ticket(alarm(n), settings=capped, origin="rule", **FORM)
    t0 = clock.utcnow()
    engine = db.get_engine(capped.database_url)

    def one() -> list[str]:
        with Session(engine) as session:
            return holds.release(session, t0, CAP, 500)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: one(), range(4)))
    released = [i for batch in results for i in batch]
    assert len(released) == CAP and len(set(released)) == CAP
