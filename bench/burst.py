"""The pipeline benchmark's tools: a burst of requests recorded and queued as the producer does it,
drained by real workers and counted exactly once, and the plain loops its rows are judged against.

The rows themselves (what is measured at which size, and each verdict) are in bench/pipeline.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

from bench import attribution
from bench.common import (
    REDIS,
    Row,
    Worker,
    child_env,
    flush_redis,
    libpq,
    make_settings,
    median,
    redis_client,
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
        "origin": "operator",  # an operator's request, sent at once (the rule cap holds only "rule")
        "released_at": now,
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
    spy: Literal["cpu", "wall"] | None = None,
) -> dict[str, Any]:
    """Burst ``n`` requests at a worker of ``procs`` processes; returns rate, checks and memory.

    ``spy``: sample the worker with py-spy over the drain (bench/attribution.py) and return the shares
    by package as ``cpu_shares``: of its CPU (``cpu``), or of its pool children's time, waiting
    included (``wall``). The rate of such a drain is not a measurement.
    """
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
        assert worker.proc is not None
        spying = attribution.sampled(worker.proc.pid, wall=spy == "wall") if spy else contextlib.nullcontext({})
        with spying as shares:
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
        "cpu_shares": shares,
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


def ceiling_row(row: str, sb: Any, n: int, latency: str, floor: float) -> Row:
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
