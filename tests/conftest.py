"""Shared fixtures: real services (skip on a laptop without them, fail in CI), the sandbox, workers.

Tiers: ``tests/unit`` (no services: fakeredis, mocks), ``tests/integration`` (the real Redis and
PostgreSQL, the sandbox over loopback), ``tests/acceptance`` (real worker processes and the CLI).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_URL = os.environ.get("OCEANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
PG_ADMIN_URL = os.environ.get("OCEANE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ARTIFACTS = ROOT / "artifacts"


LOCK_SCOPES = ("global", "alarm")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--lock-scopes``: the OCEANE_LOCK_SCOPE values the fault scenarios run under (tests/faults)."""
    parser.addoption(
        "--lock-scopes",
        default="global",
        help="comma-separated lock scopes the fault scenarios run under (default: global; "
        "`make faults` runs global,alarm)",
    )


def lock_scopes(config: pytest.Config) -> list[str]:
    """The scopes ``--lock-scopes`` names, in its order, each known."""
    scopes = [s.strip() for s in str(config.getoption("lock_scopes")).split(",") if s.strip()]
    unknown = sorted(set(scopes) - set(LOCK_SCOPES))
    if not scopes or unknown:
        raise pytest.UsageError(f"--lock-scopes: expected some of {', '.join(LOCK_SCOPES)}, got {unknown or 'none'}")
    return list(dict.fromkeys(scopes))


def service_missing(what: str, why: str) -> None:
    """Skip locally, fail in CI: CI must exercise every tier."""
    message = f"{what} unavailable ({why})"
    if IN_CI:
        pytest.fail(message + " -- CI must have it (see .ci/run)", pytrace=False)
    pytest.skip(message)


# --- Redis ---


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis (a database of its own for tests)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing("Redis", str(exc))
    return REDIS_URL


@pytest.fixture
def real_redis(redis_url: str) -> Iterator[Any]:
    """A client on the test database, emptied before and after each test."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


# --- PostgreSQL ---


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        service_missing("PostgreSQL", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    name = f"oceane_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    from oceane_ticket.storage import db

    db.upgrade(url)
    yield url
    db.dispose_all()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def clean_pg(pg_url: str) -> str:
    """The session database, emptied of rows."""
    from sqlalchemy import text

    from oceane_ticket.storage import db

    with db.get_engine(pg_url).begin() as conn:
        conn.execute(text("TRUNCATE failed_ticket_requests, tickets, alarm_events"))
    return pg_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite file database (the embedded default)."""
    from oceane_ticket.storage import db

    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    db.upgrade(url)
    return url


# --- the sandbox ---


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """A fresh sandbox on a free loopback port."""
    from oceane_ticket.sandbox.server import Sandbox

    with Sandbox(host="127.0.0.1", port=0, client_id="sandbox-client", client_secret="sandbox-secret") as sb:
        yield sb


# --- settings ---


def make_settings(**overrides: Any) -> Any:
    """Settings built only from ``overrides`` and defaults (the environment and .env are ignored)."""
    from oceane_ticket.settings import Settings

    return Settings(**overrides)


@pytest.fixture
def settings_for(redis_url: str, clean_pg: str, sandbox: Any) -> Any:
    """Settings wired to the real Redis, PostgreSQL and the sandbox, with overrides."""

    def build(**overrides: Any) -> Any:
        values = {
            "redis_url": redis_url,
            "database_url": clean_pg,
            "base_url": sandbox.base_url,
            "ticket_url_template": sandbox.base_url + "/ticket/{id}",
            "queue": "oceane.tests",
            "http_timeout": 2.0,
            "lock_timeout": 30.0,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


def settings_env(settings: Any) -> dict[str, str]:
    """The environment of a child process that should run with ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")}
    return env | settings.as_env()


# --- worker processes ---


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (a Celery worker's pool processes)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class WorkerProcess:
    """A real ``celery -A worker worker`` in a child process, with its log in a file."""

    def __init__(
        self, env: dict[str, str], log_path: Path, concurrency: int = 1, name: str | None = None, loglevel: str = "INFO"
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.loglevel = loglevel
        self.name = name or f"w{uuid.uuid4().hex[:6]}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> WorkerProcess:
        """Start and wait until the worker says it is ready (seconds cold, far more on a loaded machine)."""
        from oceane_ticket import processes

        cmd = processes.worker_command(
            loglevel=self.loglevel, concurrency=self.concurrency, name=self.name, quiet_cluster=True
        )
        self.proc = processes.spawn(cmd, self.env, self.log_path, cwd=ROOT)
        self.wait_for_log(processes.WORKER_READY_LINE, timeout)
        return self

    def log_text(self) -> str:
        """Everything the worker logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, needle: str, timeout: float, count: int = 1) -> None:
        """Block until ``needle`` appears ``count`` times in the log (polls the file)."""
        deadline = time.monotonic() + timeout
        while self.log_text().count(needle) < count:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker log never showed {needle!r}:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self, sig: int | None = None, timeout: float = 30.0) -> int | None:
        """Stop with ``sig`` (SIGTERM by default) and wait; SIGKILL if it does not go."""
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig or signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL the worker and its pool children (the process group would be simplest, but
        the worker shares ours; children are found by parent pid)."""
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return
        pool = children(self.proc.pid)
        self.proc.send_signal(signal.SIGKILL)
        for pid in pool:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Any]:
    """Factory for real worker processes; every one started is stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(settings: Any, concurrency: int = 1, **env: str) -> WorkerProcess:
        full_env = settings_env(settings) | env
        worker = WorkerProcess(full_env, tmp_path / f"worker-{len(started)}.log", concurrency)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop(timeout=15)


def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.05, message: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy (for state held in another process)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout} s")
        time.sleep(interval)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by tier from their folder."""
    for item in items:
        path = str(item.fspath)
        if "/integration/" in path:
            item.add_marker(pytest.mark.integration)
        elif "/acceptance/" in path:
            item.add_marker(pytest.mark.acceptance)
