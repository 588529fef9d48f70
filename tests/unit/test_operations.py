"""``status``, ``health``, ``cleanup`` and ``retry`` without services: SQLite, fakeredis, a closed port."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import pytest
import sqlalchemy as sa

from cli import common, health
from cli.main import build_parser
from oceane_ticket import connections, jobs
from oceane_ticket.locking import ProcessingLock
from oceane_ticket.storage import db, retention
from tests.conftest import make_settings
from tests.rows import ticket_row

CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
TICKETS = retention.TICKETS
FAILURES = retention.FAILURES


def run(settings: Any, *argv: str) -> int:
    """Parse ``argv`` with the real `oceane-ticket` parser and run the command with ``settings``."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args, settings))


def row(n: int, status: str, *, alarm_id: int | None = None, age: timedelta = timedelta(0)) -> dict[str, Any]:
    return ticket_row(n, datetime.now(UTC) - age, status, alarm_id) | {
        "attempts": 1 if status != "queued" else 0,
        "retries_used": 1,
        "error": "HTTP 500/1: boom" if status == "failed" else None,
    }


def insert(url: str, *rows: dict[str, Any], failures: tuple[dict[str, Any], ...] = ()) -> None:
    with db.get_engine(url).begin() as conn:
        conn.execute(sa.insert(TICKETS), list(rows))
        if failures:
            conn.execute(sa.insert(FAILURES), list(failures))


def status_of(url: str, n: int) -> dict[str, Any]:
    with db.get_engine(url).connect() as conn:
        return dict(conn.execute(sa.select(TICKETS).where(TICKETS.c.instance == f"{n:032x}")).mappings().one())


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every Redis client the commands open talks to one fakeredis server."""
    server = fakeredis.FakeServer()
    monkeypatch.setattr(connections, "redis_client", lambda url, *, purpose: fakeredis.FakeRedis(server=server))
    return fakeredis.FakeRedis(server=server)


@pytest.fixture
def s(sqlite_url: str) -> Any:
    return make_settings(database_url=sqlite_url, queue="oceane.unit")


# --- status ---


def test_status_shows_the_lock_holder_the_queue_counts_and_the_latest_failure(
    s: Any, fake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    insert(
        s.database_url,
        row(1, "queued", age=timedelta(minutes=5)),
        row(2, "processing", age=timedelta(minutes=1)),
        row(3, "created"),
        row(4, "failed"),
        row(5, "created", age=timedelta(days=1)),
        failures=(
            {
                "instance": f"{4:032x}",
                "http_error_code": 503,
                "app_error_code": "5",
                "error_message": "busy",
                "error_description": "try later",
                "failed_at": datetime.now(UTC),
                "attempt": 2,
                "final": True,
            },
        ),
    )
    ProcessingLock(fake, 30).try_acquire(f"{2:032x}")
    jobs.enqueue_create(fake, f"{1:032x}", s.queue, 60)
    jobs.enqueue_create(fake, "other", "another.queue", 60)
    # One of ours delivered and unacked (kombu's bookkeeping), one of another queue.
    fake.hset("unacked", "t1", json.dumps([{}, "", s.queue]))
    fake.hset("unacked", "t2", json.dumps([{}, "", "another.queue"]))

    assert run(s, "status", "--json") == 0
    data = json.loads(capsys.readouterr().out)

    lock = data["lock"]
    assert lock["state"] == "held" and lock["instance"] == f"{2:032x}" and 29 < lock["ttl_s"] <= 30
    assert lock["since"].endswith("Z") and lock["held_for_s"] < 5 and ":" in lock["worker"]
    q = data["queue"]
    assert (q["redis_queue"], q["redis_messages"], q["redis_unacked"]) == (s.queue, 1, 1)
    assert (q["queued"], q["processing"], q["oldest_open_instance"]) == (1, 1, f"{1:032x}")
    assert 290 < q["oldest_open_age_s"] < 330
    assert data["counts"] == {"queued": 1, "processing": 1, "created": 2, "failed": 1}
    assert data["writeback_counts"] == {"none": 5, "pending": 0, "done": 0, "failed": 0}
    assert data["latest_failure"]["error_message"] == "busy" and data["latest_failure"]["http_error_code"] == 503
    assert data["latest_failure"]["request_status"] == "failed"
    assert data["errors"] == []

    assert run(s, "status") == 0
    out = capsys.readouterr().out
    for text in (
        "Ticket Queue Processing Lock",
        "held",
        f"{2:032x}",
        "Time left",
        "Pending Ticket Creation Queue",
        "Messages waiting in Redis",
        "5.0 min old",
        "Requests by status",
        "Requests by write-back state",
        "Latest failure",
        "try later",
    ):
        assert text in out, text


def test_status_shows_a_free_lock(s: Any, fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(s, "status", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lock"] == {"state": "free"}
    assert data["queue"]["oldest_open_instance"] is None and data["latest_failure"] is None


def test_status_without_redis_still_shows_the_database_and_exits_4(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s = make_settings(database_url=sqlite_url, redis_url=CLOSED_REDIS)
    insert(sqlite_url, row(1, "created"))
    assert run(s, "status", "--json") == common.UNAVAILABLE
    data = json.loads(capsys.readouterr().out)
    assert data["lock"]["state"] == "unknown" and data["counts"]["created"] == 1
    assert data["errors"] and data["errors"][0].startswith("redis unavailable")
    assert run(s, "status") == common.UNAVAILABLE
    assert "redis unavailable" in capsys.readouterr().out


# --- health ---


def test_health_fails_when_redis_is_unreachable(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    s = make_settings(database_url=sqlite_url, redis_url=CLOSED_REDIS)
    assert run(s, "health", "--json", "--skip-oceane") == 1
    data = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in data["checks"]}
    assert data["ok"] is False
    assert checks["redis"]["ok"] is False and "Connection" in checks["redis"]["detail"]
    assert checks["database"]["ok"] is True
    assert checks["worker"] == {"name": "worker", "ok": False, "detail": "not checked: Redis is unreachable", "ms": 0.0}
    assert checks["oceane"]["ok"] is None


def test_health_passes_with_what_a_single_service_probe_checks(
    s: Any, monkeypatch: pytest.MonkeyPatch, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(health, "check_redis", lambda settings: "PONG")
    s = make_settings(database_url=s.database_url, base_url=sandbox.base_url)
    assert run(s, "health", "--json", "--skip-worker") == 0
    data = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c["ok"] for c in data["checks"]}
    # The database passes only when migrated to the newest schema (see the unmigrated case below).
    assert data["ok"] is True and checks == {"redis": True, "database": True, "worker": None, "oceane": True}
    assert run(s, "health", "--skip-worker") == 0  # the same, as a table


def test_health_fails_on_an_unmigrated_database_and_a_refused_token(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(health, "check_redis", lambda settings: "PONG")
    s = make_settings(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}", base_url=sandbox.base_url, client_secret="wrong"
    )
    assert run(s, "health", "--json", "--skip-worker") == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["database"]["ok"] is False and "db upgrade" in checks["database"]["detail"]
    assert checks["oceane"]["ok"] is False and "401" in checks["oceane"]["detail"]
    assert "wrong" not in json.dumps(checks)


# --- cleanup ---


def test_cleanup_says_what_it_removed(s: Any, capsys: pytest.CaptureFixture[str]) -> None:
    insert(
        s.database_url,
        row(1, "created", age=timedelta(days=100)),
        row(2, "queued", age=timedelta(days=100)),
        row(3, "failed"),
    )
    assert run(s, "cleanup", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "Would remove: tickets older than 90 days" in out
    assert run(s, "cleanup", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["expired"], data["kept"], data["open_requests"], data["dry_run"]) == (1, 1, 1, False)
    assert run(s, "cleanup") == 0
    assert "Removed: tickets older than 90 days" in capsys.readouterr().out


def test_cleanup_reports_an_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    s = make_settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert run(s, "cleanup", "--json") == common.UNAVAILABLE
    assert json.loads(capsys.readouterr().out)["error"].startswith("database unavailable")


# --- retry ---


def test_retry_requeues_a_failed_request_on_the_same_instance_and_queues_its_job(
    s: Any, fake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    insert(s.database_url, row(1, "failed"))
    assert run(s, "retry", f"{1:032x}", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["requeued"] == 1 and data["results"][0]["result"] == "requeued"
    current = status_of(s.database_url, 1)
    assert (current["status"], current["retries_used"], current["error"]) == ("queued", 0, None)
    assert current["attempts"] == 1  # kept: the worker looks the externalId up before creating again
    message = json.loads(fake.lpop(s.queue))
    assert message["headers"]["task"] == jobs.TASK_CREATE and message["headers"]["argsrepr"] == repr([f"{1:032x}"])
    assert message["headers"]["id"] == data["results"][0]["task_id"]


def test_retry_is_refused_when_the_alarm_has_another_open_request(
    s: Any, fake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    insert(s.database_url, row(1, "failed", alarm_id=7), row(2, "created", alarm_id=7))
    assert run(s, "retry", f"{1:032x}") == 1
    out = capsys.readouterr().out
    assert "refused" in out and f"{2:032x}" in out and "one ticket per alarm" in out
    assert status_of(s.database_url, 1)["status"] == "failed"
    assert fake.llen(s.queue) == 0


def test_retry_explains_requests_it_cannot_retry(s: Any, fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    insert(s.database_url, row(1, "created"))
    assert run(s, "retry", f"{1:032x}", "f" * 32, "--json") == 1
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["result"] for r in results] == ["not_failed", "not_found"]
    assert fake.llen(s.queue) == 0


def test_retry_all_failed_takes_each_alarms_newest_failure_without_an_open_request(
    s: Any, fake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    insert(
        s.database_url,
        row(1, "failed", alarm_id=1, age=timedelta(hours=2)),
        row(2, "failed", alarm_id=1),  # 2 supersedes 1
        row(3, "failed", alarm_id=3),
        row(4, "queued", alarm_id=3),  # alarm 3 is being handled
        row(5, "failed", alarm_id=5),
        row(6, "created", alarm_id=6),
    )
    assert run(s, "retry", "--all-failed", "--json") == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert sorted(r["instance"] for r in results) == [f"{2:032x}", f"{5:032x}"]
    assert fake.llen(s.queue) == 2
    assert run(s, "retry", "--all-failed", "--json") == 0  # nothing failed is left to retry
    assert json.loads(capsys.readouterr().out) == {"requeued": 0, "results": []}
    assert fake.llen(s.queue) == 2


def test_retry_needs_instances_or_all_failed_and_touches_nothing_without_redis(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s = make_settings(database_url=sqlite_url, redis_url=CLOSED_REDIS)
    insert(sqlite_url, row(1, "failed"))
    assert run(s, "retry") == common.USAGE
    assert run(s, "retry", "x", "--all-failed") == common.USAGE
    capsys.readouterr()
    assert run(s, "retry", f"{1:032x}") == common.UNAVAILABLE
    assert status_of(sqlite_url, 1)["status"] == "failed"
    err = capsys.readouterr().err
    assert err.strip() and "Traceback" not in err  # a message for the operator, not a crash


# --- the command line ---


def test_the_real_parser_has_the_commands() -> None:
    parser = build_parser()
    for argv in (
        ["cleanup", "--dry-run", "--json"],
        ["status", "--json"],
        ["retry", "--all-failed"],
        ["health", "--skip-worker", "--skip-oceane", "--json"],
        ["metrics", "--once"],
    ):
        args = parser.parse_args(argv)
        assert args.needs_settings is True and callable(args.handler)


def test_importing_the_command_line_loads_nothing_heavy() -> None:
    # The console script imports every command module for every `create`: stdlib-only at import time.
    heavy = {"rich", "redis", "sqlalchemy", "sqlmodel", "celery", "prometheus_client", "alembic", "requests"}
    code = f"import sys, cli.main; print(sorted({heavy!r} & {{m.split('.')[0] for m in sys.modules}}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_status_counts_the_alarm_locks_held_under_alarm_scope(
    sqlite_url: str, fake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Under OCEANE_LOCK_SCOPE=alarm the global lock stays free while tickets are in flight: status
    # says how many alarms' locks are held instead of showing an idle queue.
    from oceane_ticket import keys

    settings = make_settings(database_url=sqlite_url, queue="oceane.unit", lock_scope="alarm")
    for alarm in (1, 2):
        assert ProcessingLock(fake, 30).for_key(keys.alarm_lock(12, 345, alarm)).try_acquire(f"{alarm:032x}")
    assert run(settings, "status", "--json") == 0
    lock = json.loads(capsys.readouterr().out)["lock"]
    assert lock == {"state": "free", "alarm_locks_held": 2}
