"""`make soak`: requests at a steady rate for minutes, with worker children SIGKILLed at random, one
Redis failover and one PostgreSQL failover, on the loopback bed of tests/failover_bed.py.

The sandbox answers creates after 20 ms with 2 % random 500/503 errors (its ``error_rate``). At the
end: accepted, lost (accepted and not created), duplicated (Oceane tickets beyond one per alarm,
plus creates refused as already open), p50/p99 accepted -> created of the requests accepted outside
the outage windows (from a failover to the first ticket created after it, widened by
``OUTAGE_MARGIN``), and the worker's RSS (main process and pool) at the start and at the end.

``SOAK_REQUESTS`` (10,000) over ``SOAK_SECONDS`` (600); the shared machine may take a shorter run:
``SOAK_REQUESTS=1000 SOAK_SECONDS=120 make soak``. Exit 1 if anything was lost or duplicated.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import Worker, children, make_settings, median, p99, sandbox
from tests.failover_bed import PostgresPair, RedisSentinelSet

REQUESTS = int(os.environ.get("SOAK_REQUESTS", "10000"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
LATENCY = 0.020
ERROR_RATE = 0.02
KILL_EVERY = (15.0, 45.0)  # seconds between two SIGKILLs of a worker child, at random
OUTAGE_MARGIN = 5.0
QUEUE = "soak.tickets"


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def worker_rss(worker: Worker) -> tuple[float, float]:
    """(main process, mean of the pool processes) RSS of ``worker`` in MiB.

    The main process lives through the whole soak (it holds the broker connection and the unacked
    messages), so its growth is the leak measure; pool processes are SIGKILLed and replaced, so
    theirs is a mean of whichever are alive.
    """
    assert worker.proc is not None
    pool = [rss_mb(p) for p in children(worker.proc.pid)]
    return rss_mb(worker.proc.pid), sum(pool) / len(pool) if pool else 0.0


class Chaos(threading.Thread):
    """SIGKILLs a random pool process of ``worker`` every so often until stopped."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(daemon=True)
        self.worker, self.stopping, self.kills = worker, threading.Event(), 0

    def run(self) -> None:
        while not self.stopping.wait(random.uniform(*KILL_EVERY)):
            assert self.worker.proc is not None
            pool = children(self.worker.proc.pid)
            if pool:
                os.kill(random.choice(pool), signal.SIGKILL)
                self.kills += 1


def settings_for(redis_set: RedisSentinelSet, pg: PostgresPair, base_url: str) -> Any:
    return make_settings(
        **redis_set.settings(),
        database_url=pg.url(),
        base_url=base_url,
        ticket_url_template=base_url + "/ticket/{id}",
        queue=QUEUE,
        http_timeout=5.0,
        lock_timeout=60.0,
        retry_count=8,  # 2 % errors: eight in a row is one request in 10^13
        retry_backoff_max=2.0,
        stale_after=10.0,
        sweep_interval=5.0,
        status_poll_batch=0,
    )


def created_count(sb: Any) -> int:
    return len(sb.tickets) + int(sb.state()["create_conflicts"])


def main() -> int:
    from sqlalchemy import text

    from oceane_ticket.storage import db
    from producer import core
    from tests.conftest import settings_env
    from tests.faults.kit import DETAILS, alarm_params

    redis_set, pg = RedisSentinelSet().start(), PostgresPair().start()
    beat: Any = None
    beat_dir = Path(f"/tmp/oceane-soak-beat-{os.getpid()}")
    try:
        db.upgrade(pg.url())
        with sandbox(LATENCY) as sb:
            sb.set_faults(error_rate={"create": ERROR_RATE})
            settings = settings_for(redis_set, pg, sb.base_url)
            env = settings_env(settings)
            worker = Worker(env, concurrency=2, name="soak").start()
            from oceane_ticket import processes

            beat_dir.mkdir(exist_ok=True)
            beat = processes.spawn(processes.beat_command(beat_dir, "WARNING"), env, beat_dir / "beat.log")
            chaos = Chaos(worker)
            started = time.monotonic()
            outages: list[list[float]] = []
            failovers = {int(REQUESTS * 0.4): "redis", int(REQUESTS * 0.7): "postgresql"}
            rss_start: tuple[float, float] | None = None
            accepted: dict[str, float] = {}
            for n in range(REQUESTS):
                due = started + n * SECONDS / REQUESTS
                time.sleep(max(0.0, due - time.monotonic()))
                if n == min(200, REQUESTS // 10):
                    rss_start = worker_rss(worker)
                    chaos.start()
                if n in failovers:
                    before = created_count(sb)
                    at = redis_set.kill_master() if failovers[n] == "redis" else pg.fail_over()
                    outages.append([at, before])  # the end: the first ticket created after it
                    print(f"{failovers[n]} failover at request {n}", flush=True)
                for outage in outages:
                    if len(outage) == 2 and created_count(sb) > outage[1]:
                        outage.append(time.monotonic())
                        print(f"  next ticket created {outage[2] - outage[0]:.1f} s after it", flush=True)
                try:
                    status = core.create_ticket(alarm_params(n + 1, dma=77), settings=settings, **DETAILS)
                except Exception as exc:  # an outage refused it: the operator was told, nothing accepted
                    print(f"request {n} refused during an outage: {type(exc).__name__}", flush=True)
                    continue
                accepted[status.instance] = time.monotonic()
            deadline = time.monotonic() + max(300.0, SECONDS)
            rows: dict[str, Any] = {}
            while time.monotonic() < deadline:
                with db.get_engine(pg.url()).connect() as conn:
                    result = conn.execute(text("SELECT instance, status, created_at, updated_at FROM tickets"))
                    rows = {r.instance: r for r in result}
                if all(rows.get(i) is not None and rows[i].status == "created" for i in accepted):
                    break
                time.sleep(1.0)
            chaos.stopping.set()
            rss_end = worker_rss(worker)
            per_alarm = Counter(t.get("externalId") for t in sb.tickets)
            duplicated = sum(n - 1 for n in per_alarm.values() if n > 1) + int(sb.state()["create_conflicts"])
            lost = sum(1 for i in accepted if rows.get(i) is None or rows[i].status != "created")
            windows = [(o[0] - OUTAGE_MARGIN, (o[2] if len(o) > 2 else o[0]) + OUTAGE_MARGIN) for o in outages]
            latencies = [
                (r.updated_at - r.created_at).total_seconds()
                for i, r in rows.items()
                if i in accepted and r.status == "created" and not any(lo <= accepted[i] <= hi for lo, hi in windows)
            ]
            worker.proc.kill() if worker.proc else None
            elapsed = time.monotonic() - started
            print(
                f"soak: {REQUESTS} requests over {SECONDS:g} s (took {elapsed:.0f} s), sandbox {LATENCY * 1000:g} ms "
                f"with {ERROR_RATE:.0%} errors, {chaos.kills} worker children SIGKILLed, failovers: "
                + ", ".join(f"{kind} (next ticket {o[2] - o[0]:.1f} s after)" if len(o) > 2 else kind
                            for kind, o in zip(failovers.values(), outages, strict=False))
            )  # fmt: skip
            print(f"accepted {len(accepted)}, lost {lost}, duplicated {duplicated}")
            if latencies:
                print(
                    f"accepted -> created outside the outage windows: p50 {median(latencies):.2f} s, "
                    f"p99 {p99(latencies):.2f} s ({len(latencies)} requests)"
                )
            if rss_start:
                growth = (rss_end[0] - rss_start[0]) / rss_start[0] * 100
                print(
                    f"worker RSS: main {rss_start[0]:.1f} -> {rss_end[0]:.1f} MiB ({growth:+.1f} %), "
                    f"pool process mean {rss_start[1]:.1f} -> {rss_end[1]:.1f} MiB"
                )
            return 0 if lost == 0 and duplicated == 0 else 1
    finally:
        if beat is not None:
            beat.kill()
        shutil.rmtree(beat_dir, ignore_errors=True)
        redis_set.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
