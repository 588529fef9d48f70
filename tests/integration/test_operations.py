"""`status`, `health`, `retry` and the metrics against real Redis, PostgreSQL, a real worker and the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from oceane_ticket import metrics, queue_state
from oceane_ticket.storage import db, reads
from producer import core
from tests.conftest import settings_env, wait_until
from tests.rows import failures_for
from tests.unit.test_operations import run

CLI = str(Path(sys.executable).with_name("oceane-ticket"))
DETAILS = {"priority": "2", "urgency": "Major", "technical_impact": "Major"}


def alarm(n: int) -> str:
    return f"DMA ID=12;Element ID=345;Alarm ID={n};Element Name=Encoder"


@pytest.fixture
def stack(settings_for: Any, real_redis: Any) -> Any:
    """Settings on a queue of this test's own, so no other test's worker takes its jobs."""
    return lambda **overrides: settings_for(queue=f"oceane.tests.{uuid.uuid4().hex[:8]}", **overrides)


def status_of(settings: Any, instance: str) -> str | None:
    with db.session(settings.database_url) as s:
        row = reads.get(s, instance)
        return None if row is None else row.status


def test_status_shows_the_lock_held_during_a_slow_oceane_call_and_free_after(
    stack: Any, start_worker: Any, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The sandbox holds the create (its "create" gate) until the test has looked: the call must
    # not time out meanwhile, however loaded the machine.
    s = stack(http_timeout=60.0, lock_timeout=601.0)
    start_worker(s)
    gates = f"{sandbox.base_url}/_sandbox/gates/create"
    requests.post(f"{gates}/close", timeout=30).raise_for_status()
    request = core.create_ticket(alarm(1), settings=s, **DETAILS)

    def in_the_call() -> bool:
        held = requests.get(f"{sandbox.base_url}/_sandbox/gates", timeout=30).json()["create"]["waiting"]
        return bool(held == 1)

    wait_until(in_the_call, timeout=60, message="the worker never sent its create")
    assert run(s, "status", "--json") == 0
    during = json.loads(capsys.readouterr().out)
    assert during["lock"]["state"] == "held"
    assert during["lock"]["instance"] == request.instance and during["lock"]["worker"]
    assert 0 < during["lock"]["ttl_s"] <= s.lock_timeout
    assert during["queue"]["processing"] == 1 and during["queue"]["oldest_open_instance"] == request.instance
    assert during["queue"]["redis_unacked"] == 1 and during["queue"]["redis_messages"] == 0
    assert run(s, "status") == 0
    table = capsys.readouterr().out
    assert "held" in table and request.instance in table

    requests.post(f"{gates}/open", timeout=30).raise_for_status()
    wait_until(lambda: queue_state.collect_status(s)["lock"]["state"] == "free", timeout=60)
    assert status_of(s, request.instance) == "created"
    assert run(s, "status", "--json") == 0
    after = json.loads(capsys.readouterr().out)
    assert after["lock"] == {"state": "free"}
    assert after["counts"]["created"] == 1 and after["queue"]["processing"] == 0


def test_health_passes_with_every_service_and_a_worker(
    stack: Any, start_worker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s = stack()
    start_worker(s)
    assert run(s, "health", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True, data
    checks = {c["name"]: c for c in data["checks"]}
    assert "postgresql" in checks["database"]["detail"] and s.queue in checks["worker"]["detail"]


def test_health_fails_without_a_worker_on_our_queue(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    s = stack()
    assert run(s, "health", "--json", "--skip-oceane", "--timeout", "0.5") == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["redis"]["ok"] and checks["database"]["ok"] and checks["worker"]["ok"] is False


def test_health_exit_status_fails_when_redis_is_unreachable(settings_for: Any) -> None:
    # The real console script, as a container probe runs it; the shared Redis stays up.
    s = settings_for(redis_url="redis://127.0.0.1:1/0")
    done = subprocess.run(
        [CLI, "health", "--json", "--skip-oceane"],
        env=settings_env(s),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads(done.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert data["ok"] is False and checks["redis"]["ok"] is False and checks["database"]["ok"] is True
    ok = subprocess.run(
        [CLI, "health", "--skip-worker", "--skip-oceane"],
        env=settings_env(settings_for()),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_retry_requeues_a_failed_request_and_it_then_completes_once(
    stack: Any, start_worker: Any, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s = stack(retry_count=0)
    start_worker(s)
    sandbox.force(503, group="create", count=None)
    request = core.create_ticket(alarm(2), settings=s, **DETAILS)
    wait_until(lambda: status_of(s, request.instance) == "failed", timeout=30)
    assert run(s, "status", "--json") == 0
    assert json.loads(capsys.readouterr().out)["latest_failure"]["instance"] == request.instance

    sandbox.clear_faults()
    assert run(s, "retry", request.instance, "--json") == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["result"] == "requeued"
    wait_until(lambda: status_of(s, request.instance) == "created", timeout=30)

    tickets = [t for t in sandbox.tickets if t.get("externalId") == "12/345/2"]
    assert len(tickets) == 1
    with db.session(s.database_url) as session:
        row = reads.get(session, request.instance)
        assert row is not None and row.ticket_id == tickets[0]["id"]
        assert len(failures_for(session, request.instance)) == 1  # the history stays
    assert run(s, "status", "--json") == 0
    latest = json.loads(capsys.readouterr().out)["latest_failure"]
    assert (latest["instance"], latest["request_status"]) == (request.instance, "created")


def test_retry_is_refused_by_the_unique_index_when_the_alarm_got_another_request(
    stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s = stack()
    first = core.create_ticket(alarm(3), settings=s, **DETAILS)
    with db.session(s.database_url) as session:  # as a worker would leave it
        session.execute(sa.text("UPDATE tickets SET status = 'failed' WHERE instance = :i"), {"i": first.instance})
    second = core.create_ticket(alarm(3), settings=s, **DETAILS)
    assert not second.existing

    assert run(s, "retry", first.instance, "--json") == 1
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert (result["instance"], result["result"]) == (first.instance, "refused")
    assert second.instance in result["detail"]  # the operator is told which request holds the alarm
    assert run(s, "retry", first.instance) == 1  # the same, as a table
    assert second.instance in capsys.readouterr().out
    assert status_of(s, first.instance) == "failed" and status_of(s, second.instance) == "queued"
    assert run(s, "retry", "--all-failed", "--json") == 0
    assert json.loads(capsys.readouterr().out)["results"] == []


def test_worker_metrics_are_scraped_from_the_multiprocess_directory(
    stack: Any, start_worker: Any, sandbox: Any, tmp_path: Path
) -> None:
    directory = tmp_path / "prom"
    s = stack()
    start_worker(s, concurrency=2, PROMETHEUS_MULTIPROC_DIR=str(directory))
    request = core.create_ticket(alarm(4), settings=s, **DETAILS)
    wait_until(lambda: status_of(s, request.instance) == "created", timeout=30)

    text = metrics.render(s, path=str(directory)).decode()
    assert "oceane_tickets_created_total 1.0" in text
    assert 'oceane_call_duration_seconds_count{operation="create",outcome="ok"} 1.0' in text
    # Under lock scope global a ticket waits for its alarm's lock, then for the global one.
    assert 'oceane_lock_wait_seconds_count{lock="alarm",outcome="acquired"} 1.0' in text
    assert 'oceane_lock_wait_seconds_count{lock="global",outcome="acquired"} 1.0' in text
    assert 'oceane_requests{status="created"} 1.0' in text
