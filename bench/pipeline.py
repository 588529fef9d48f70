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

import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.common import (
    REDIS,
    Row,
    Worker,
    child_env,
    drain_reason,
    flush_redis,
    fresh_database,
    libpq,
    make_settings,
    median,
    ms,
    p99,
    redis_client,
    sandbox,
    wait_until,
)

QUEUE = "bench.tickets"


def _settings(url: str, base_url: str, **overrides: Any) -> Any:
    values = {
        "redis_url": REDIS,
        "database_url": url,
        "base_url": base_url,
        "ticket_url_template": base_url + "/ticket/{id}",
        "queue": QUEUE,
        "http_timeout": 5.0,
        "lock_timeout": 60.0,
    }
    values.update(overrides)
    return make_settings(**values)


def _row_values(instance: str, alarm: int, now: datetime) -> dict[str, Any]:
    return {
        "instance": instance,
        "alarm_id": alarm,
        "dma_id": 12,
        "element_id": 345,
        "element_name": "Encoder",
        "created_at": now,
        "priority": "2",
        "urgency": "Major",
        "technical_impact": "Major",
        "client_impact": None,
        "root_cause": f"LOS on input {alarm}",
        "status": "queued",
        "user": "bench",
        "oceane_user_id": "sandbox-user",
        "alarm_value": "LOS",
        "root_time": now,
        "updated_at": now,
        "attempts": 0,
        "retries_used": 0,
        "adopted": False,
        "writeback_state": "none",
    }


def insert_requests(url: str, n: int, first_alarm: int = 1) -> list[str]:
    """Record ``n`` queued requests for distinct alarms (not queued yet); returns their instances."""
    import psycopg

    from oceane_ticket.storage import direct

    now = datetime.now(UTC)
    rows = [_row_values(uuid.uuid4().hex, first_alarm + i, now) for i in range(n)]
    sql = direct._sql(direct.INSERT_REQUEST, "postgresql")
    with psycopg.connect(libpq(url), autocommit=False) as conn, conn.cursor() as cur:
        cur.executemany(sql, rows)
        conn.commit()
    return [r["instance"] for r in rows]


def enqueue(instances: list[str], duplicate_every: int = 0) -> float:
    """LPUSH one job per instance (and a second copy of every ``duplicate_every``-th); returns the wall time."""
    from oceane_ticket import jobs, keys

    r = redis_client()
    pipe = r.pipeline(transaction=False)
    for i, instance in enumerate(instances):
        copies = 2 if duplicate_every and i % duplicate_every == 0 else 1
        for _ in range(copies):
            pipe.lpush(QUEUE, json.dumps(jobs.task_message(jobs.TASK_CREATE, [instance], QUEUE)))
        pipe.set(keys.enqueued_marker(instance), "1", ex=600)
    started = time.time()
    pipe.execute()
    return started


_polling: dict[str, Any] = {}


def _done(url: str) -> tuple[int, int]:
    # One kept connection, polled every 0.25 s: the benchmark's own polling (a new connection, so a
    # new server process, every 50 ms) took CPU from the worker it measures. The rates come from
    # the rows' own updated_at, so how soon the end is noticed does not change them.
    import psycopg

    conn = _polling.get(url)
    if conn is None or conn.closed:
        conn = _polling[url] = psycopg.connect(libpq(url), autocommit=True)
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status IN ('created', 'failed')), count(*) FROM tickets"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _finish_times(url: str) -> list[float]:
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        rows = conn.execute("SELECT extract(epoch FROM updated_at) FROM tickets WHERE status = 'created'").fetchall()
    return sorted(float(r[0]) for r in rows)


def _exactly_once(url: str, sb: Any, skip: int = 0) -> dict[str, int]:
    """Lost (requests not created), duplicates (extra Oceane tickets for one alarm), failed."""
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM tickets GROUP BY status").fetchall())
        alarms = conn.execute("SELECT count(DISTINCT (dma_id, element_id, alarm_id)) FROM tickets").fetchone()
    tickets = sb.tickets[skip:]
    per_alarm = Counter(t.get("externalId") for t in tickets)
    duplicates = sum(c - 1 for c in per_alarm.values() if c > 1)
    created = int(statuses.get("created", 0))
    return {
        "requests": int(sum(statuses.values())),
        "alarms": int(alarms[0]) if alarms else 0,
        "created": created,
        "failed": int(statuses.get("failed", 0)),
        "lost": int(sum(statuses.values())) - created - int(statuses.get("failed", 0)),
        "oceane_tickets": len(tickets),
        "duplicates": duplicates,
    }


def drain(
    url: str,
    sb: Any,
    n: int,
    procs: int,
    scope: str = "global",
    duplicate_every: int = 0,
    timeout: float = 600.0,
    name: str = "w",
) -> dict[str, Any]:
    """Burst ``n`` requests at a worker of ``procs`` processes; returns rate, checks and memory."""
    flush_redis()
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("TRUNCATE failed_ticket_requests, tickets")
    sb.reset()
    # reset() also clears the start-up latency: without this line the sandbox answered at once and
    # rows 5, 6 and 9 measured a rate above their own ceiling.
    sb.set_faults(latency={"create": sb.bench_latency})
    settings = _settings(url, sb.base_url)
    worker = Worker(child_env(settings, OCEANE_LOCK_SCOPE=scope), procs, f"{name}-{scope}-{procs}").start()
    try:
        # Warm every pool process (imports, connections, the token) outside the measurement.
        warm = insert_requests(url, 2 * procs, first_alarm=90_000_000)
        enqueue(warm)
        wait_until(lambda: _done(url)[0] >= len(warm), timeout, 0.25, "the warm-up tickets")
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute("TRUNCATE failed_ticket_requests, tickets")
        skip = len(sb.tickets)
        instances = insert_requests(url, n)
        cpu_before = worker.cpu_seconds()
        started = enqueue(instances, duplicate_every)
        wait_until(lambda: _done(url)[0] >= n, timeout, 0.25, f"{n} tickets through {procs} process(es)")
        finished = _finish_times(url)
        # A copy of a job still in flight is not done: let duplicates drain before counting.
        wait_until(lambda: redis_client().llen(QUEUE) == 0, 60, 0.25, "the queue to empty")
        time.sleep(0.2 if duplicate_every else 0)
        rss = worker.pool_peak_rss_mb()
        cpu = worker.cpu_seconds() - cpu_before
    finally:
        worker.stop()
    elapsed = finished[-1] - started
    return {
        "n": n,
        "procs": procs,
        "scope": scope,
        "seconds": elapsed,
        "rate": n / elapsed,
        "check": _exactly_once(url, sb, skip),
        # The worker's own CPU per ticket (Celery, our code, the drivers): with the machine's
        # load, what bounds the rate when the sandbox is not the limit.
        "worker_cpu_ms_per_ticket": 1000 * cpu / n,
        "load": list(os.getloadavg()),
        "worker_rss_mb": rss,
    }


def floor_loop(url: str, sb: Any, n: int) -> list[float]:
    """Per-ticket seconds of the floor: POST on a reused session + the same row update, no Celery."""
    import psycopg
    import requests

    from oceane_ticket.oceane.payload import ticket_payload
    from oceane_ticket.request import RequestRecord
    from oceane_ticket.storage.models import Ticket

    instances = insert_requests(url, n, first_alarm=10_000_000)
    session = requests.Session()
    token = session.post(
        sb.token_url, data={"grant_type": "client_credentials"}, auth=("sandbox-client", "sandbox-secret"), timeout=5
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    now = datetime.now(UTC)
    row = Ticket(**_row_values("x", 1, now))
    times = []
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for i, instance in enumerate(instances):
            row.alarm_id = 10_000_000 + i
            start = time.perf_counter()
            answer = session.post(sb.tickets_url, json=ticket_payload(RequestRecord.from_row(row)), timeout=5)
            ticket = answer.json()
            conn.execute(
                "UPDATE tickets SET status = 'created', ticket_id = %s, ticket_url = %s, updated_at = now() "
                "WHERE instance = %s",
                (ticket["id"], sb.base_url + "/ticket/" + ticket["id"], instance),
            )
            times.append(time.perf_counter() - start)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("TRUNCATE failed_ticket_requests, tickets")
    return times


def serial_post_rate(sb: Any, n: int) -> float:
    """Creates/s of a plain loop: one POST at a time to the sandbox, on a kept session, no database.

    The sandbox's own ceiling at its latency: its answer time plus its and the HTTP client's work
    per call, which the theoretical 1 / latency leaves out. Context for rows 5 and 6.
    """
    import requests

    sb.reset()
    sb.set_faults(latency={"create": sb.bench_latency})
    session = requests.Session()
    session.trust_env = False
    token = session.post(
        sb.token_url, data={"grant_type": "client_credentials"}, auth=("sandbox-client", "sandbox-secret"), timeout=5
    ).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    body = {"externalId": "", "ticketType": "incident", "description": "bench", "priority": "2", "severity": "Major"}
    started = time.perf_counter()
    for i in range(n):
        body["externalId"] = f"99/99/{i}"
        session.post(sb.tickets_url, json=body, timeout=5).raise_for_status()
    return n / (time.perf_counter() - started)


def _ceiling_row(row: str, sb: Any, n: int, latency: str, floor: float) -> Row:
    """The info row of :func:`serial_post_rate` beside a row's theoretical 1 / latency."""
    return Row(
        row,
        f"plain loop: one POST at a time to the sandbox at {latency}, kept session (its real ceiling)",
        serial_post_rate(sb, n),
        "tickets/s",
        floor=floor,
        better="higher",
        note="no database, no lock, no Celery: what any serial client gets from this sandbox",
    ).judge()


def sequential_latency(url: str, sb: Any, n: int) -> list[float]:
    """Accepted -> created, one request at a time, through one idle worker process."""
    import psycopg

    flush_redis()
    settings = _settings(url, sb.base_url)
    worker = Worker(child_env(settings), 1, "latency").start()
    latencies = []
    try:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            for i in range(n):
                [instance] = insert_requests(url, 1, first_alarm=20_000_000 + i)
                accepted = enqueue([instance])
                accepted = time.time()

                def created(instance: str = instance) -> Any:
                    row = conn.execute(
                        "SELECT extract(epoch FROM updated_at) FROM tickets WHERE instance = %s AND status = 'created'",
                        (instance,),
                    ).fetchone()
                    return row[0] if row else None

                # Polled every 10 ms: the latency is read from the row's updated_at, not from when
                # the poll notices it, and a tighter poll would take CPU from the worker.
                done = wait_until(created, 60, 0.01, "a sequential ticket")
                latencies.append(float(done) - accepted)
    finally:
        worker.stop()
    return latencies


def sweep_time(url: str, n: int, runs: int = 5) -> tuple[float, int]:
    """The sweep's time with ``n`` open requests (just accepted: none stale)."""
    from oceane_ticket.storage import db
    from worker import sweep

    flush_redis()
    instances = insert_requests(url, n, first_alarm=30_000_000)
    enqueue(instances)
    settings = _settings(url, "http://127.0.0.1:9")
    r = redis_client()
    times = []
    sent = 0
    for _ in range(runs):
        start = time.perf_counter()
        sent = len(sweep.sweep(settings, r))
        times.append(time.perf_counter() - start)
    db.dispose_all()
    return median(times), sent


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
                reason=drain_reason(burst, 1 / floor_ticket),
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
                reason=drain_reason(burst),
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


def _rows5_9(url: str, full: bool, wanted: set[str], rss: list[float]) -> list[Row]:
    rows = []
    with sandbox(0.050) as sb:
        plain = _ceiling_row("5", sb, 100 if full else 5, "50 ms", 20.0)
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
                    reason=drain_reason(result, plain_rate),
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
                    reason=drain_reason(result) if ok else "not exactly once: see the note",
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
        plain = _ceiling_row("6", sb, 500 if full else 5, "5 ms", 200.0)
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
                reason=drain_reason(result, plain_rate) if ok else "not exactly once: see the note",
                extra=result,
            ).judge()
        )
        if not ok:
            rows[-1].verdict = "miss"
        if result["worker_rss_mb"]:
            rss.append(result["worker_rss_mb"])
    return rows
