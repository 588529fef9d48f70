"""Tools of the fault matrix: beat and worker processes, the alarms scenarios send, holding a step,
and the states a scenario waits on (queued and unacknowledged jobs, signals, worker metrics).

Everything here runs against real processes: ``celery -A worker`` processes, the session's PostgreSQL
and the sandbox; their command lines are :mod:`oceane_ticket.processes`'s, as everywhere else. The
services a scenario breaks are in :mod:`tests.faults.services`, its ledger in :mod:`tests.faults.ledger`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from oceane_ticket import processes
from tests.conftest import ROOT, WorkerProcess, children, wait_until

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
