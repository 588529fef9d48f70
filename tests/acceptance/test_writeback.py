"""Write-back and status poll: a real worker (and beat), PostgreSQL, Redis, the sandbox and the fake DataMiner.

Every wait is on an observable state (a row's write-back state, a property in the fake DataMiner, a
check time moving) with a generous deadline; no sleep stands in for an event.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket.storage import db
from oceane_ticket.storage.models import Ticket
from producer.core import create_ticket, wait_for
from tests.conftest import WorkerProcess, settings_env, wait_until
from tests.fakedm import FakeDataMiner
from tests.faults.kit import BeatProcess

TOKEN = "udapi-token-7f3a9c"
USER = "svc-oceane"
PASSWORD = "dm-password-5be21d"
ALARM = "DMA ID=12;Element ID=345;Alarm ID={alarm};Element Name=Encoder;Alarm Value=LOS;Root Time=2026-11-27T08:12:00Z"
DEADLINE = 60.0


@pytest.fixture
def dm() -> Iterator[FakeDataMiner]:
    with FakeDataMiner("127.0.0.1", 0, token=TOKEN, user=USER, password=PASSWORD) as fake:
        yield fake


def writer_settings(settings_for: Any, dm: FakeDataMiner, writer: str, **overrides: Any) -> Any:
    return settings_for(
        alarm_writer=writer,
        dataminer_url=dm.url,
        dataminer_token=TOKEN,
        dataminer_user=USER,
        dataminer_password=PASSWORD,
        **overrides,
    )


def create(settings: Any, alarm: int) -> Ticket:
    status = create_ticket(
        ALARM.format(alarm=alarm), priority="2", urgency="Major", technical_impact="Major", settings=settings
    )
    done = wait_for(settings, status, DEADLINE)
    assert done.status == "created", done
    return row(settings, status.instance)


def row(settings: Any, instance: str) -> Ticket:
    with Session(db.get_engine(settings.database_url), expire_on_commit=False) as s:
        found = s.get(Ticket, instance)
        assert found is not None
        return found


def wait_for_writeback(settings: Any, instance: str, state: str = "done", **fields: Any) -> Ticket:
    def reached() -> Ticket | None:
        current = row(settings, instance)
        ok = current.writeback_state == state and all(getattr(current, k) == v for k, v in fields.items())
        return current if ok else None

    return wait_until(reached, timeout=DEADLINE, interval=0.1, message=f"write-back of {instance} never {state}")


def assert_no_secret(*texts: str, extra: tuple[str, ...] = ()) -> None:
    for text in texts:
        for secret in (TOKEN, PASSWORD, *extra):
            assert secret not in text


def redis_dump(redis_url: str) -> str:
    """Every list and hash in the test's Redis: queued jobs, and the unacked ones a worker holds for a retry."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        parts: list[str] = []
        for key in client.keys("*"):
            kind = client.type(key)
            if kind == b"list":
                parts += [str(v) for v in client.lrange(key, 0, -1)]
            elif kind == b"hash":
                parts += [str(v) for v in client.hgetall(key).values()]
        return " ".join(parts)
    finally:
        client.close()


def test_udapi_sets_both_properties_on_the_alarm(
    settings_for: Any, start_worker: Any, dm: FakeDataMiner, sandbox: Any, redis_url: str
) -> None:
    settings = writer_settings(settings_for, dm, "udapi")
    worker = start_worker(settings)
    ticket = create(settings, 67890)
    done = wait_for_writeback(settings, ticket.instance)
    assert done.writeback_attempts == 0 and done.writeback_error is None
    assert dm.properties(12, 345, 67890) == {
        "Oceane Ticket ID": ticket.ticket_id,
        "Oceane Ticket URL": ticket.ticket_url,
    }
    [call] = dm.calls
    assert (call.method, call.path, call.status, call.authorized) == (
        "POST",
        "/api/custom/oceane/alarm-properties",
        200,
        True,
    )
    assert call.body == {
        "dmaId": 12,
        "elementId": 345,
        "rootAlarmId": 67890,
        "properties": {"Oceane Ticket ID": ticket.ticket_id, "Oceane Ticket URL": ticket.ticket_url},
    }
    assert_no_secret(worker.log_text(), redis_dump(redis_url))


def test_webservices_sets_both_properties_and_renews_an_expired_connection_once(
    settings_for: Any, dm: FakeDataMiner, sandbox: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = writer_settings(settings_for, dm, "webservices")
    # At DEBUG: every library's chatter is searched for the password and the connection ids too.
    worker = WorkerProcess(settings_env(settings), tmp_path / "worker-debug.log", loglevel="DEBUG").start()
    request.addfinalizer(lambda: worker.stop(timeout=15))
    first = create(settings, 1001)
    wait_for_writeback(settings, first.instance)
    assert dm.properties(12, 345, 1001) == {"Oceane Ticket ID": first.ticket_id, "Oceane Ticket URL": first.ticket_url}
    calls = dm.calls
    assert [(c.path, c.status) for c in calls] == [
        ("/API/v1/Json.asmx/ConnectApp", 200),
        ("/API/v1/Json.asmx/ExecuteAutomationScriptWithOutput", 200),
    ]
    assert calls[0].body["login"] == USER and calls[0].body["password"] == "***"  # masked by the fake's log
    script = calls[1].body["script"]
    assert script["Name"] == "Oceane Set Alarm Properties"
    assert {p["Name"]: p["Value"] for p in script["Parameters"]} == {
        "DMA ID": "12",
        "Element ID": "345",
        "Alarm ID": "1001",
        "Oceane Ticket ID": first.ticket_id,
        "Oceane Ticket URL": first.ticket_url,
    }
    connection = calls[1].body["connection"]

    # The same worker keeps its connection; once DataMiner forgets it, one reconnect, then the script.
    assert dm.expire_connections() == 1
    second = create(settings, 1002)
    wait_for_writeback(settings, second.instance)
    assert dm.properties(12, 345, 1002)["Oceane Ticket ID"] == second.ticket_id
    later = dm.calls[2:]
    assert [(c.path, c.status) for c in later] == [
        ("/API/v1/Json.asmx/ExecuteAutomationScriptWithOutput", 500),
        ("/API/v1/Json.asmx/ConnectApp", 200),
        ("/API/v1/Json.asmx/ExecuteAutomationScriptWithOutput", 200),
    ]
    assert later[0].body["connection"] == connection and later[2].body["connection"] != connection
    renewed = later[2].body["connection"]
    assert_no_secret(worker.log_text(), extra=(connection, renewed))


def test_dataminer_down_leaves_the_ticket_created_and_the_write_back_completes_when_it_returns(
    settings_for: Any, start_worker: Any, dm: FakeDataMiner, sandbox: Any, redis_url: str
) -> None:
    # A large budget with a short backoff: the write-back is still pending whenever we look.
    settings = writer_settings(settings_for, dm, "udapi", writeback_retry_count=100, writeback_backoff_max=0.5)
    worker = start_worker(settings)
    dm.set_down(True)
    ticket = create(settings, 2001)
    failing = wait_until(
        lambda: (r := row(settings, ticket.instance)).writeback_attempts >= 2 and r,
        timeout=DEADLINE,
        message="the write-back never retried",
    )
    assert (failing.status, failing.writeback_state) == ("created", "pending")
    assert "503" in (failing.writeback_error or "")
    assert dm.properties(12, 345, 2001) == {}
    held = redis_dump(redis_url)  # the retry's message, held unacked until its countdown ends

    dm.set_down(False)
    done = wait_for_writeback(settings, ticket.instance)
    assert done.status == "created" and done.ticket_id == ticket.ticket_id
    assert dm.properties(12, 345, 2001)["Oceane Ticket ID"] == ticket.ticket_id
    assert sandbox.state()["tickets_created"] == 1
    assert_no_secret(worker.log_text(), failing.writeback_error or "", held)


def test_a_status_change_in_oceane_reaches_the_table_and_the_alarm_and_a_closed_ticket_stops_being_polled(
    settings_for: Any, start_worker: Any, dm: FakeDataMiner, sandbox: Any, tmp_path: Path
) -> None:
    settings = writer_settings(
        settings_for, dm, "udapi", status_poll_interval=1.0, sweep_interval=3600.0, cleanup_interval=3600.0
    )
    start_worker(settings)
    closing = create(settings, 3001)
    staying = create(settings, 3002)
    for ticket in (closing, staying):
        wait_for_writeback(settings, ticket.instance)
    beat = BeatProcess(settings_env(settings), tmp_path / "beat").start()
    try:
        # The first poll stores what Oceane has now (acknowledged) and writes it as a third property.
        wait_for_writeback(settings, closing.instance, oceane_status="acknowledged")
        assert dm.properties(12, 345, 3001)["Oceane Ticket Status"] == "acknowledged"

        sandbox.set_ticket_status(closing.ticket_id, "inProgress")
        wait_for_writeback(settings, closing.instance, oceane_status="inProgress")
        assert dm.properties(12, 345, 3001) == {
            "Oceane Ticket ID": closing.ticket_id,
            "Oceane Ticket URL": closing.ticket_url,
            "Oceane Ticket Status": "inProgress",
        }

        sandbox.set_ticket_status(closing.ticket_id, "closed")
        closed = wait_for_writeback(settings, closing.instance, oceane_status="closed")
        assert dm.properties(12, 345, 3001)["Oceane Ticket Status"] == "closed"
        last_check = closed.oceane_status_checked_at

        # Two more runs check the open ticket; the closed one is not checked again.
        seen = [row(settings, staying.instance).oceane_status_checked_at]
        for _ in range(2):
            wait_until(
                lambda: (
                    row(settings, staying.instance).oceane_status_checked_at != seen[-1]
                    and seen.append(row(settings, staying.instance).oceane_status_checked_at) is None
                ),
                timeout=DEADLINE,
                message=beat.log_text()[-2000:],
            )
        assert row(settings, closing.instance).oceane_status_checked_at == last_check
        assert row(settings, staying.instance).oceane_status == "acknowledged"
    finally:
        beat.stop()


def test_the_sweep_sends_a_write_back_whose_job_was_lost(
    settings_for: Any, start_worker: Any, dm: FakeDataMiner, sandbox: Any, tmp_path: Path, redis_url: str
) -> None:
    """A crash between the created commit and the enqueue: the row says pending, Redis has no job."""
    settings = writer_settings(
        settings_for, dm, "udapi", stale_after=1.0, sweep_interval=1.0, status_poll_batch=0, cleanup_interval=3600.0
    )
    start_worker(settings)
    ticket = create(settings, 4001)
    wait_for_writeback(settings, ticket.instance)
    # Make it pending again, due long ago, with no job anywhere: only the sweep can find it.
    with db.get_engine(settings.database_url).begin() as conn:
        conn.execute(
            sa.update(Ticket)
            .where(Ticket.instance == ticket.instance)
            .values(writeback_state="pending", writeback_at=sa.func.now() - sa.text("interval '1 hour'"))
        )
    dm.reset()
    beat = BeatProcess(settings_env(settings), tmp_path / "beat").start()
    try:
        wait_for_writeback(settings, ticket.instance)
        assert dm.properties(12, 345, 4001)["Oceane Ticket ID"] == ticket.ticket_id
    finally:
        beat.stop()


def test_a_refused_write_back_fails_alone_and_retry_writeback_sends_it_once_fixed(
    settings_for: Any, start_worker: Any, dm: FakeDataMiner, sandbox: Any
) -> None:
    import json
    import subprocess
    import sys

    wrong = writer_settings(settings_for, dm, "udapi").replace(dataminer_token="wrong-token")
    first_worker = start_worker(wrong)
    ticket = create(wrong, 5001)
    failed = wait_for_writeback(wrong, ticket.instance, state="failed")
    assert failed.status == "created" and "401" in (failed.writeback_error or "")
    assert dm.properties(12, 345, 5001) == {}
    first_worker.stop()

    # The operator fixes the token, restarts the worker and sends the write-back again.
    fixed = writer_settings(settings_for, dm, "udapi")
    start_worker(fixed)
    cli = str(Path(sys.executable).with_name("oceane-ticket"))
    done = subprocess.run(
        [cli, "retry", "--writeback", ticket.instance, "--json"],
        env=settings_env(fixed),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["result"] for r in json.loads(done.stdout)["results"]] == ["requeued"]
    wait_for_writeback(fixed, ticket.instance)
    assert dm.properties(12, 345, 5001)["Oceane Ticket ID"] == ticket.ticket_id
    assert_no_secret(done.stdout, done.stderr)


def test_a_rate_limited_write_back_is_done_later_and_nothing_fails(
    settings_for: Any, start_worker: Any, dm: FakeDataMiner, sandbox: Any
) -> None:
    # DataMiner 10.6.9+ answers 429 RateLimitExceeded past a token's 60 requests a minute, with Retry-After.
    settings = writer_settings(settings_for, dm, "udapi", writeback_retry_count=3, writeback_backoff_max=0.5)
    dm.throttle(1, retry_after=1)
    start_worker(settings)
    ticket = create(settings, 6001)

    done = wait_for_writeback(settings, ticket.instance)

    assert (done.status, done.writeback_state, done.writeback_error) == ("created", "done", None)
    assert [c.status for c in dm.calls] == [429, 200]
    assert dm.properties(12, 345, 6001)["Oceane Ticket ID"] == ticket.ticket_id
    assert sandbox.state()["tickets_created"] == 1


def test_a_route_without_an_api_definition_fails_the_write_back_naming_the_route(
    settings_for: Any, start_worker: Any, dm: FakeDataMiner
) -> None:
    settings = writer_settings(settings_for, dm, "udapi", dataminer_udapi_route="oceane/not-defined")
    start_worker(settings)
    ticket = create(settings, 6002)

    failed = wait_for_writeback(settings, ticket.instance, state="failed")

    assert failed.status == "created"
    assert "404" in (failed.writeback_error or "") and "'oceane/not-defined'" in (failed.writeback_error or "")
    assert [c.status for c in dm.calls] == [404]  # not retried: a definition does not appear on its own
