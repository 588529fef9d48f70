"""What every benchmark shares: result rows, statistics, a fresh database, a worker, the sandbox.

Each benchmark module exposes ``run(size) -> list[Row]``; ``bench/run.py`` prints them as one table
and writes ``bench/results.json``. A row compares a figure with a floor measured in the same run
(ratios are the verdict; absolute times are context on a shared machine).
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN = os.environ.get("OCEANE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("OCEANE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
BIN = Path(sys.executable).parent
LOGS = ROOT / "artifacts" / "bench"


@dataclass
class Row:
    """One figure of the table.

    ``better`` says which way the ratio should go: ``"lower"`` (a time, target is a maximum
    ratio) or ``"higher"`` (a rate, target is a minimum ratio). ``ratio`` is value / floor.
    """

    row: str  # the row's number in docs/performance.md, "1".."10"
    figure: str
    value: float | None
    unit: str
    floor: float | None = None
    target: float | None = None
    better: str = "lower"
    p99: float | None = None
    floor_p99: float | None = None
    target_p99: float | None = None
    ratio: float | None = None
    verdict: str = "info"  # pass, miss, info (context only), error
    note: str = ""
    # Why a miss misses, from figures measured in the same run: a reader of results.json alone knows.
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def judge(self) -> Row:
        """Fill ratio and verdict from value, floor and target."""
        if self.value is not None and self.floor:
            self.ratio = self.value / self.floor
        if self.target is None or self.value is None:
            return self
        measured = self.ratio if self.floor else self.value
        assert measured is not None
        ok = measured <= self.target if self.better == "lower" else measured >= self.target
        if ok and self.target_p99 is not None and self.p99 is not None and self.floor_p99:
            ok = self.p99 / self.floor_p99 <= self.target_p99
        self.verdict = "pass" if ok else "miss"
        return self

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def drain_reason(result: dict[str, Any], plain_rate: float | None = None) -> str:
    """What bounded a drain, from its own figures: the worker's CPU, or the serial part per ticket.

    ``result`` is a drain's figures (``rate``, ``procs``, ``worker_cpu_ms_per_ticket``, ``load``);
    ``plain_rate`` the plain loop's rate against the same sandbox in the same run, if measured.
    """
    cpus = os.cpu_count() or 1
    cpu_ms = float(result["worker_cpu_ms_per_ticket"])
    rate = float(result["rate"])
    busy = cpu_ms * rate / 1000 / cpus
    parts = [
        f"the worker (Celery's main process and its pool children: kombu, our code, psycopg, requests) used "
        f"{cpu_ms:.1f} ms CPU per ticket, {busy:.0%} of the {cpus} CPUs at {rate:.1f} tickets/s "
        f"(load {result['load'][0]:.1f})"
    ]
    if busy >= 0.85:
        parts.append(f"CPU-bound: at that cost the machine cannot pass {1000 * cpus / cpu_ms:.0f} tickets/s")
    if plain_rate:
        parts.append(
            f"{1000 / rate:.1f} ms per ticket end to end against the plain loop's {1000 / plain_rate:.1f} ms "
            f"(the sandbox's own serial ceiling)"
        )
    return "; ".join(parts)


def median(values: Sequence[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, round(0.99 * len(ordered)) - 1))])


def ms(seconds: float) -> float:
    """Seconds to milliseconds."""
    return seconds * 1000.0


# --- services ---


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database migrated to head; yields its SQLAlchemy URL; dropped afterwards."""
    import psycopg

    from oceane_ticket.storage import db

    admin = psycopg.connect(ADMIN, autocommit=True, connect_timeout=3)
    name = f"oceane_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        db.upgrade(url)
        yield url
    finally:
        db.dispose_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def libpq(url: str) -> str:
    """A psycopg DSN from a SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def redis_client() -> Any:
    """A client on the benchmark's Redis database."""
    import redis

    return redis.Redis.from_url(REDIS)


def flush_redis() -> None:
    """Empty the benchmark's Redis database (its own: OCEANE_BENCH_REDIS_URL)."""
    redis_client().flushdb()


def make_settings(**overrides: Any) -> Any:
    """Settings from ``overrides`` and defaults only (the environment and .env are ignored)."""
    from oceane_ticket.settings import Settings

    return Settings(**overrides)


def child_env(settings: Any, **extra: str) -> dict[str, str]:
    """The environment of a child process running with ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")}
    return env | settings.as_env() | extra


@contextlib.contextmanager
def sandbox(latency: float = 0.0) -> Iterator[Any]:
    """The fake Oceane on a loopback port, answering creates after ``latency`` seconds."""
    from oceane_ticket.sandbox.server import Sandbox, SandboxConfig

    config = SandboxConfig(fault_group="create", latency=latency)
    with Sandbox(host="127.0.0.1", port=0, config=config) as sb:
        sb.bench_latency = latency  # reset() clears faults: drains set it again (pipeline.drain)
        yield sb


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident set size (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Worker:
    """A real ``celery -A worker worker`` with ``concurrency`` prefork processes."""

    def __init__(self, env: dict[str, str], concurrency: int, name: str) -> None:
        self.env = env
        self.concurrency = concurrency
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"{name}.log"

    def start(self, timeout: float = 60.0) -> Worker:
        """Start and wait until it says ready."""
        from oceane_ticket import processes

        self.log_path.write_bytes(b"")
        cmd = processes.worker_command(
            loglevel="WARNING",
            concurrency=self.concurrency,
            name=self.name,
            quiet_cluster=True,
            extra=["--without-heartbeat"],
        )
        self.proc = processes.spawn(cmd, self.env, self.log_path, cwd=ROOT)
        # -l WARNING hides the "ready" line: wait until every pool process exists instead.
        deadline = time.monotonic() + timeout
        while len(children(self.proc.pid)) < self.concurrency:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker never started: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def pool_peak_rss_mb(self) -> float | None:
        """The largest peak RSS among the pool processes."""
        if self.proc is None:
            return None
        values = [v for v in (peak_rss_mb(p) for p in children(self.proc.pid)) if v is not None]
        return max(values) if values else None

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the worker and its pool processes."""
        if self.proc is None:
            return 0.0
        return sum(cpu_seconds(p) for p in [self.proc.pid, *children(self.proc.pid)])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL the worker and its pool if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pool = children(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for pid in pool:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``predicate`` until truthy; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what or 'a condition'}")
        time.sleep(interval)
