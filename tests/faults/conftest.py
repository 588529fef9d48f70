"""Fixtures of the fault matrix: a private Redis, the scenario stack (settings, workers, beat, proxy)
and the ledger each scenario fills in for the table.

Worker scenarios use a ``redis-server`` of their own rather than the shared one: they restart it
empty, flush it and hold its processing lock, none of which may disturb tests running alongside.

Every scenario that builds a :class:`Stack` runs once per lock scope named by ``--lock-scopes``
(tests/conftest.py; ``make test`` runs ``global`` only, ``make faults`` both): the scope is in the
settings every worker, beat and producer of the scenario gets, and in the test id (``[alarm]``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oceane_ticket import keys
from oceane_ticket.locking import ProcessingLock
from tests.conftest import lock_scopes, settings_env
from tests.faults.kit import BeatProcess, DebugWorker
from tests.faults.ledger import REPORT_ENV, Ledger
from tests.faults.services import RedisServer, TcpProxy

# Small timings keep each scenario to seconds. The HTTP timeout is the exception: the sandbox
# answers from a thread of the test process, which on a loaded machine competes with everything
# else for the CPU, so a short timeout would fire where no fault was injected (and spend a
# retry). Scenarios that need a timeout hold the call in the sandbox (a hang, a gate) well past
# it. The settings validator wants the lock to outlive ten HTTP timeouts; scenarios that need a
# dead holder's lock gone make it lapse (kit.lapse_lock) instead of waiting for it.
FAST = {
    "queue": "oceane.faults",
    "http_timeout": 5.0,
    "lock_timeout": 50.5,
    "stale_after": 2.0,
    "sweep_interval": 0.5,
    "retry_backoff_max": 0.5,
    "retry_count": 1,
}


# pytest-timeout's 120 s guard is for hangs; a scenario starts several workers and beat, which
# on a loaded machine takes far longer than usual, so the fault matrix gets a longer guard.
SCENARIO_TIMEOUT = 600


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give the fault scenarios their longer hang guard (unless a test sets its own)."""
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.fspath).startswith(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SCENARIO_TIMEOUT))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One run of each scenario per lock scope (session-scoped: pytest runs all of one scope, then the next)."""
    if "lock_scope" in metafunc.fixturenames:
        metafunc.parametrize("lock_scope", lock_scopes(metafunc.config), indirect=True, scope="session")


@pytest.fixture(scope="session")
def lock_scope(request: pytest.FixtureRequest) -> str:
    """OCEANE_LOCK_SCOPE of this run of the scenario: ``global`` or ``alarm``."""
    return str(request.param)


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the fault matrix's own."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


class Stack:
    """One scenario's world: settings, the sandbox, worker and beat processes, an optional DB proxy."""

    def __init__(
        self,
        settings_for: Callable[..., Any],
        sandbox: Any,
        redis_server: RedisServer,
        workdir: Path,
        pg_url: str,
        lock_scope: str = "global",
    ) -> None:
        self._settings_for = settings_for
        self.lock_scope = lock_scope
        self.sandbox = sandbox
        self.redis_server = redis_server
        self.workdir = workdir
        self.pg_url = pg_url
        self.workers: list[DebugWorker] = []
        self.beats: list[BeatProcess] = []
        self.proxies: list[TcpProxy] = []
        self._overrides: dict[str, Any] = {}
        self.settings = self.configure()

    def configure(self, **overrides: Any) -> Any:
        """(Re)build the scenario's settings: the fast timings, the private Redis, then ``overrides``."""
        self._overrides.update(overrides)
        self.settings = self.variant()
        return self.settings

    def variant(self, **overrides: Any) -> Any:
        """The scenario's settings with ``overrides``, leaving :attr:`settings` as it is."""
        base = {**FAST, "lock_scope": self.lock_scope, "redis_url": self.redis_server.url()}
        return self._settings_for(**{**base, **self._overrides, **overrides})

    @property
    def redis(self) -> Any:
        """A client on the scenario's Redis."""
        return self.redis_server.client()

    def env(self, settings: Any | None = None) -> dict[str, str]:
        """Environment for a child process."""
        return settings_env(settings or self.settings)

    def lock(self, alarm: int, dma: int = 12, element: int = 345) -> ProcessingLock:
        """The lock a request for ``alarm`` (``kit.alarm_params``) is held by, from its claim to its record.

        Its alarm's (``keys.alarm_lock``) under both scopes; it carries the token the row stores.
        Under ``global`` the global lock (:meth:`global_lock`) is taken inside it for the Oceane call.
        """
        return ProcessingLock(self.redis, self.settings.lock_timeout, keys.alarm_lock(dma, element, alarm))

    def global_lock(self) -> ProcessingLock:
        """The global lock: under ``global`` scope held around each Oceane call; never taken under ``alarm``."""
        return ProcessingLock(self.redis, self.settings.lock_timeout, keys.PROCESSING_LOCK)

    def in_call_locks(self, alarm: int) -> list[ProcessingLock]:
        """The locks a request for ``alarm`` holds in its Oceane call: its alarm's, and under global the global one."""
        return [self.lock(alarm)] + ([self.global_lock()] if self.lock_scope == "global" else [])

    def proxied_database(self) -> tuple[TcpProxy, Any]:
        """A TCP proxy in front of PostgreSQL and settings whose database URL goes through it."""
        from sqlalchemy.engine import make_url

        url = make_url(self.pg_url)
        proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
        self.proxies.append(proxy)
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        return proxy, self.variant(database_url=proxied)

    def worker(
        self,
        settings: Any | None = None,
        loglevel: str = "INFO",
        concurrency: int = 1,
        env: dict[str, str] | None = None,
    ) -> DebugWorker:
        """Start a real ``celery -A worker worker`` (``env``: extra variables) and wait until it is ready."""
        log = self.workdir / f"worker-{len(self.workers)}.log"
        worker = DebugWorker(self.env(settings) | (env or {}), log, concurrency=concurrency, loglevel=loglevel)
        self.workers.append(worker)
        return worker.start()

    def beat(self, settings: Any | None = None, loglevel: str = "INFO") -> BeatProcess:
        """Start ``celery -A worker beat`` (the periodic sweep)."""
        beat = BeatProcess(self.env(settings), self.workdir / f"beat-{len(self.beats)}", loglevel)
        self.beats.append(beat)
        return beat.start()

    def submit(self, alarm: str, expect_existing: bool | None = None, **details: Any) -> Any:
        """Run the producer in-process (``producer.core.create_ticket``) for one alarm."""
        from producer import core
        from tests.faults.kit import DETAILS

        status = core.create_ticket(alarm, settings=self.settings, **{**DETAILS, **details})
        if expect_existing is not None:
            assert status.existing is expect_existing
        return status

    def row(self, instance: str) -> dict[str, Any]:
        """One request as stored."""
        from sqlalchemy import text

        from oceane_ticket.storage import db

        with db.get_engine(self.pg_url).connect() as conn:
            found = conn.execute(text("SELECT * FROM tickets WHERE instance = :i"), {"i": instance}).mappings().first()
        assert found is not None, f"no request {instance}"
        return dict(found)

    def logs(self) -> str:
        """Every worker and beat log of the scenario."""
        return "\n".join([w.log_text() for w in self.workers] + [b.log_text() for b in self.beats])

    def close(self) -> None:
        """Stop everything started, workers first (they may still be talking to the rest)."""
        for worker in self.workers:
            # SIGKILL: the scenario is over and its Redis is flushed before the next one, so a warm
            # shutdown's seconds buy nothing here (test_shutdown covers SIGTERM itself).
            worker.kill()
        for beat in self.beats:
            beat.stop()
        for proxy in self.proxies:
            proxy.close()
        # Opens every gate a failed scenario left closed, so no sandbox thread stays held.
        self.sandbox.reset()


@pytest.fixture
def stack(
    settings_for: Any, sandbox: Any, private_redis: RedisServer, tmp_path: Path, clean_pg: str, lock_scope: str
) -> Iterator[Stack]:
    """The scenario's world on an emptied private Redis, an emptied database and a fresh sandbox, in ``lock_scope``."""
    if private_redis.proc is None or private_redis.proc.poll() is not None:
        private_redis.start()  # a scenario killed it and failed before bringing it back
    private_redis.client().flushall()
    world = Stack(settings_for, sandbox, private_redis, tmp_path, clean_pg, lock_scope)
    yield world
    world.close()


@pytest.fixture
def ledger(request: pytest.FixtureRequest, stack: Stack) -> Callable[..., Ledger]:
    """Factory of the scenario's :class:`Ledger` (one row of the matrix table per call)."""

    def make(name: str, expected_conflicts: int = 0, notes: str = "") -> Ledger:
        return Ledger(
            name=name,
            database_url=stack.pg_url,
            sandbox=stack.sandbox,
            report_path=os.environ.get(REPORT_ENV),
            nodeid=request.node.nodeid,
            expected_conflicts=expected_conflicts,
            notes=notes,
            lock_scope=stack.lock_scope,
        )

    return make
