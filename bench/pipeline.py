"""Rows 4, 5, 6 and 9 (and the worker's memory, row 8): tickets through real Celery workers.

Everything is real: PostgreSQL (a fresh database), Redis (OCEANE_BENCH_REDIS_URL), ``celery -A
worker worker`` processes and the sandbox on loopback, answering creates at once or after a set
latency. Requests are recorded and queued the way the producer does it (rows inserted, then one
protocol-2 message per request LPUSHed), in one burst, so the worker is what is measured.

* Row 4, end to end: one worker process, sandbox answering at once. Throughput from the burst
  (per-ticket time = 1 / rate); latency accepted -> created from sequential requests. Floor: a plain
  loop doing the same HTTP POST on a reused session and the same row update, no Celery, no lock.
* Row 5, serial throughput: sandbox at 50 ms, the global lock, 4 worker processes (and 1 for
  context). Ceiling 1 / 50 ms = 20 tickets/s. Since issue 20 the global lock covers the Oceane call
  only (each alarm's lock covers claim to record), so the serial part per ticket is the call plus
  the lock's hand-off; the record of one ticket overlaps the next one's call.
* Row 6, storm: N requests in one burst, drained by 4 processes with the sandbox at 5 ms; the
  ceiling is 1 / 5 ms. Also the sweep's time on N open rows, and 0 lost / 0 duplicates.
* Row 9, beyond the lock: ``OCEANE_LOCK_SCOPE=alarm``, sandbox at 50 ms, 1/2/4/8 processes; every
  tenth job is sent twice, and exactly one Oceane ticket per alarm must come out.
"""

from __future__ import annotations

import os
from typing import Any

from bench import attribution
from bench.burst import ceiling_row, drain, floor_loop, sequential_latency, sweep_time
from bench.common import (
    Row,
    drain_reason,
    fresh_database,
    median,
    ms,
    p99,
    sandbox,
)


def run(size: str, only: set[str] | None = None) -> list[Row]:
    """The pipeline rows at ``size`` (``full`` or ``smoke``); ``only`` some of them."""
    full = size == "full"
    wanted = only or {"4", "5", "6", "8", "9", "10"}
    rows: list[Row] = []
    rss: list[float] = []
    with fresh_database() as url:
        if wanted & {"4", "8", "10"}:
            rows += _row4(url, full, rss)
        if wanted & {"5", "9"}:
            rows += _rows5_9(url, full, wanted, rss)
        if "6" in wanted:
            rows += _row6(url, full, rss)
    if rss:
        rows.append(
            Row("8", "memory: worker child peak RSS", max(rss), "MB", target=150.0, note="VmHWM of the pool processes")
        )
        rows[-1].judge()
    return rows


def _row4(url: str, full: bool, rss: list[float]) -> list[Row]:
    rows = []
    with sandbox(0.0) as sb:
        n4 = 500 if full else 20
        floor = floor_loop(url, sb, n4)
        floor_ticket = median(floor)
        rows.append(
            Row(
                "4",
                "floor: POST on a kept session + row update (per ticket)",
                ms(floor_ticket),
                "ms",
                p99=ms(p99(floor)),
            )
        )
        burst = drain(url, sb, n4, 1, name="e2e")
        # What the worker's CPU goes to, from a second drain under py-spy (full runs only: the
        # figures above are never taken while sampling).
        spied = drain(url, sb, n4, 1, name="e2e-spy", spy="cpu") if full and attribution.available() else None
        where = attribution.summary(spied["cpu_shares"] if spied else {}, burst["worker_cpu_ms_per_ticket"])
        per_ticket = 1 / burst["rate"]
        overhead = per_ticket - floor_ticket
        rows.append(
            Row(
                "4",
                f"end to end: {n4} tickets, 1 process: overhead per ticket",
                ms(overhead),
                "ms",
                target=5.0,
                note=f"{burst['rate']:.0f} tickets/s = {ms(per_ticket):.2f} ms/ticket vs floor "
                f"{ms(floor_ticket):.2f} ms ({per_ticket / floor_ticket:.2f}x); "
                f"lost {burst['check']['lost']}, dup {burst['check']['duplicates']}; "
                f"worker CPU {burst['worker_cpu_ms_per_ticket']:.1f} ms/ticket, load {burst['load'][0]:.1f}",
                reason=f"{drain_reason(burst, 1 / floor_ticket)}; {where}",
                extra=burst,
            ).judge()
        )
        # The worker's own CPU per ticket as a row: with the sandbox answering at once, what the
        # worker costs is what bounds every drain once the sandbox is not the limit.
        rows.append(
            Row(
                "10",
                f"worker CPU per ticket (main process + pool child), {n4} tickets, 1 process",
                burst["worker_cpu_ms_per_ticket"],
                "ms",
                target=4.0,
                note="/proc/<pid>/stat user + system time of the worker and its children over the drain",
                reason=f"{drain_reason(burst)}; {where}",
            ).judge()
        )
        if not full:  # the smoke run skips the sequential latency (one more worker start)
            if burst["worker_rss_mb"]:
                rss.append(burst["worker_rss_mb"])
            return rows
        lat = sequential_latency(url, sb, 50)
        rows.append(
            Row(
                "4",
                "latency accepted -> created (sequential, 1 process)",
                ms(median(lat)),
                "ms",
                floor=ms(floor_ticket),
                p99=ms(p99(lat)),
                floor_p99=ms(p99(floor)),
                note="context: includes Celery's pick-up of the message",
            ).judge()
        )
        if burst["worker_rss_mb"]:
            rss.append(burst["worker_rss_mb"])
    return rows


def _waits(url: str, sb: Any, full: bool, n: int, procs: int, scope: str = "global") -> str:
    """Where the pool children's time goes (py-spy, waiting included), from a drain of its own; "" if not run.

    A drain bounded by waiting rather than by the CPU (rows 5, 6 and 9) is explained by what its
    processes wait for: the sandbox's answer (the HTTP client), the lock (redis-py), their next task
    (Celery's pool, kombu), a commit (the database driver).
    """
    if not (full and attribution.available()):
        return ""
    spied = drain(url, sb, n, procs, scope=scope, name=f"waits-{procs}", spy="wall")
    per_ticket = 1000 * procs / spied["rate"]  # a child's milliseconds per ticket it handled
    label = f"pool children's time by py-spy samples (waiting included; {per_ticket:.0f} ms per ticket per child)"
    return "; " + attribution.summary(spied["cpu_shares"], per_ticket, label=label)


def _rows5_9(url: str, full: bool, wanted: set[str], rss: list[float]) -> list[Row]:
    rows = []
    with sandbox(0.050) as sb:
        plain = ceiling_row("5", sb, 100 if full else 5, "50 ms", 20.0)
        rows.append(plain)
        # The fair floor of row 5 is what a plain serial client gets from this sandbox in this run,
        # not 1 / latency: the sandbox's own work per call is no fault of the pipeline's.
        plain_rate = float(plain.value or 20.0)
        for procs in ((4, 1) if full else (4,)) if "5" in wanted else ():
            n5 = (200 if procs == 4 else 100) if full else 6
            result = drain(url, sb, n5, procs, name="serial")
            rows.append(
                Row(
                    "5",
                    f"serial throughput: global lock, sandbox 50 ms, {procs} process(es), vs the plain loop",
                    result["rate"],
                    "tickets/s",
                    floor=plain_rate,
                    target=0.95 if procs == 4 else None,
                    better="higher",
                    note=f"{n5} tickets; lost {result['check']['lost']}, dup {result['check']['duplicates']}; "
                    f"worker CPU {result['worker_cpu_ms_per_ticket']:.1f} ms/ticket, load {result['load'][0]:.1f}",
                    reason=drain_reason(result, plain_rate) + (_waits(url, sb, full, 100, 4) if procs == 4 else ""),
                    extra=result,
                ).judge()
            )
            if result["worker_rss_mb"]:
                rss.append(result["worker_rss_mb"])
        for procs in ((1, 2, 4, 8) if full else (4,)) if "9" in wanted else ():
            n9 = max(50, 50 * procs) if full else 2 * procs
            result = drain(url, sb, n9, procs, scope="alarm", duplicate_every=10, name="scope")
            check = result["check"]
            ok = check["lost"] == 0 and check["duplicates"] == 0 and check["oceane_tickets"] == n9
            rows.append(
                Row(
                    "9",
                    f"lock scope alarm, sandbox 50 ms, {procs} process(es)",
                    result["rate"],
                    "tickets/s",
                    floor=20.0,
                    target=3.5 if procs == 4 else None,
                    better="higher",
                    note=f"exactly once: {'yes' if ok else 'NO'} ({check['oceane_tickets']} Oceane tickets for "
                    f"{n9} alarms, every 10th job sent twice; lost {check['lost']}, dup {check['duplicates']}); "
                    f"worker CPU {result['worker_cpu_ms_per_ticket']:.1f} ms/ticket, load {result['load'][0]:.1f}",
                    reason=(drain_reason(result) + (_waits(url, sb, full, 200, 4, "alarm") if procs == 4 else ""))
                    if ok
                    else "not exactly once: see the note",
                    extra=result,
                ).judge()
            )
            if not ok:
                rows[-1].verdict = "miss"
            if result["worker_rss_mb"]:
                rss.append(result["worker_rss_mb"])
    return rows


def _row6(url: str, full: bool, rss: list[float]) -> list[Row]:
    rows = []
    n6 = int(os.environ.get("BENCH_STORM", "10000")) if full else 30
    n_sweep = 10_000 if full else 30
    sweep_s, sent = sweep_time(url, n_sweep)
    rows.append(
        Row(
            "6", f"sweep on {n_sweep:,} open rows", ms(sweep_s), "ms", target=100.0, note=f"re-sent {sent} (none stale)"
        )
    )
    rows[-1].judge()
    with sandbox(0.005) as sb:
        plain = ceiling_row("6", sb, 500 if full else 5, "5 ms", 200.0)
        rows.append(plain)
        plain_rate = float(plain.value or 200.0)  # the fair floor, as in row 5
        result = drain(url, sb, n6, 4, name="storm", timeout=1800)
        check = result["check"]
        ok = check["lost"] == 0 and check["duplicates"] == 0 and check["oceane_tickets"] == n6
        rows.append(
            Row(
                "6",
                f"storm: {n6:,} requests drained, sandbox 5 ms, global lock, 4 processes, vs the plain loop",
                result["rate"],
                "tickets/s",
                floor=plain_rate,
                target=0.85,
                better="higher",
                note=f"lost {check['lost']}, duplicates {check['duplicates']}, "
                f"{check['oceane_tickets']} Oceane tickets; "
                f"worker CPU {result['worker_cpu_ms_per_ticket']:.1f} ms/ticket, load {result['load'][0]:.1f}",
                reason=drain_reason(result, plain_rate) + _waits(url, sb, full, 1000, 4)
                if ok
                else "not exactly once: see the note",
                extra=result,
            ).judge()
        )
        if not ok:
            rows[-1].verdict = "miss"
        if result["worker_rss_mb"]:
            rss.append(result["worker_rss_mb"])
    return rows
