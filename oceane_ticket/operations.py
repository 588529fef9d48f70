"""What the people who run the service use: ``cleanup``, ``status``, ``health``, ``retry``, ``metrics``.

* ``status`` shows the connector's two debug values, the Ticket Queue Processing Lock and the
  Pending Ticket Creation Queue, plus requests per status and the latest failure.
* ``health`` checks Redis, the database (and that its schema is at the newest migration), that a
  worker answers and consumes our queue, and the token endpoint; it exits 0 only when every check
  that ran passed, so container probes can use it (``--skip-worker``, ``--skip-oceane`` for a
  service that does not depend on them).
* ``cleanup`` runs retention now (beat runs it every ``OCEANE_CLEANUP_INTERVAL`` seconds).
* ``retry`` replays failed requests once their cause is fixed (see :func:`retry`).
* ``metrics`` serves Prometheus metrics (see :mod:`oceane_ticket.metrics`).

This module is imported when the command line is built, so ``create`` pays for it on every click:
its top-level imports are stdlib only, and each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from oceane_ticket.logs import describe_exception

if TYPE_CHECKING:
    from rich.table import Table

    from oceane_ticket.settings import Settings

# Exit statuses. 1: the command ran and found something wrong (a failed check, a refused retry).
OK = 0
PROBLEM = 1
USAGE = 2
UNAVAILABLE = 4  # as `create`: Redis or the database could not be reached

# kombu's Redis transport keeps every delivered, unacknowledged message in this hash (a worker
# holds a retry's message unacked until its countdown ends), as JSON [message, exchange, routing key].
KOMBU_UNACKED = "unacked"
# ...and queues for priorities other than 0 in lists named queue + this separator + the priority.
KOMBU_PRIORITY_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)
UNACKED_SCAN_LIMIT = 10_000

Add = Callable[..., argparse.ArgumentParser]


def register(add: Add) -> None:
    """Add the operations subcommands to the ``oceane-ticket`` parser (``cli.build_parser`` calls this)."""
    p = add("cleanup", run_cleanup, "apply the retention limits now (celery beat runs this on a schedule)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    p.add_argument("--json", action="store_true")

    add(
        "status", run_status, "the processing lock, the pending queue, requests per status, the latest failure"
    ).add_argument("--json", action="store_true")

    p = add("health", run_health, "check Redis, the database, a worker and the token endpoint; exit 0 if all pass")
    p.add_argument("--json", action="store_true")
    p.add_argument("--skip-worker", action="store_true", help="do not ask for a worker (a worker's own probe)")
    p.add_argument("--skip-oceane", action="store_true", help="do not call the token endpoint")
    p.add_argument(
        "--timeout",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long to wait for workers to answer (default 1)",
    )

    p = add("retry", run_retry, "re-queue failed requests as a new attempt on the same instance")
    p.add_argument("instances", nargs="*", metavar="INSTANCE", help="the failed request's instance id")
    p.add_argument(
        "--all-failed", action="store_true", help="each alarm's newest failed request, if the alarm has no open request"
    )
    p.add_argument(
        "--writeback", action="store_true", help="re-send tickets' alarm write-back (--all-failed: failed ones)"
    )
    p.add_argument("--json", action="store_true")

    p = add("metrics", run_metrics, "serve Prometheus metrics (workers' counters and the queue gauges)")
    p.add_argument("--port", type=int, default=9808)
    p.add_argument("--address", default="0.0.0.0", help="listen address (default all: the metrics hold no secrets)")  # noqa: S104
    p.add_argument("--once", action="store_true", help="print one scrape to standard output and exit")


# --- shared helpers ---


def _redis(settings: Settings) -> Any:
    import redis

    return redis.Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=2)


def _iso(moment: datetime | float | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    if value < 172_800:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} days"


def _console() -> Any:
    import shutil

    from rich.console import Console

    return Console(width=max(100, shutil.get_terminal_size((120, 24)).columns))


def _table(title: str, *columns: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _fields(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = _table(title, "Field", "Value")
    table.min_width = 60  # keeps a short table's title on one line, and the debug tables alike
    for name, value in rows:
        table.add_row(name, "-" if value is None else str(value))
    return table


# --- cleanup ---


def run_cleanup(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket cleanup [--dry-run] [--json]``."""
    from oceane_ticket.storage import retention

    try:
        result = retention.cleanup(settings, dry_run=args.dry_run)
    except Exception as exc:
        if _is_database_outage(exc):
            return _unavailable("database", exc, args.json)
        raise
    data = result.as_dict()
    if args.json:
        print(json.dumps(data))
        return OK
    verb = "Would remove" if result.dry_run else "Removed"
    table = _table("Cleanup (dry run: nothing removed)" if result.dry_run else "Cleanup", "", "Count")
    table.columns[1].justify = "right"
    table.add_row(
        f"{verb}: tickets older than {result.retention_days} days (created before {data['cutoff']})",
        str(result.expired),
    )
    table.add_row(f"{verb}: tickets beyond the newest {result.max_count}", str(result.over_limit))
    table.add_row(f"{verb}: their failed ticket requests", str(result.failed_requests))
    table.add_row("Tickets kept", str(result.kept))
    table.add_row("Open requests (queued or processing, never removed)", str(result.open_requests))
    _console().print(table)
    return OK


# --- status ---


def redis_view(settings: Settings) -> dict[str, Any]:
    """The lock and the Redis side of the queue. Raises the Redis client's error when unreachable."""
    from oceane_ticket.locking import ProcessingLock

    client = _redis(settings)
    try:
        lock = ProcessingLock(client, settings.lock_timeout).info()
        pipe = client.pipeline(transaction=False)
        for key in _queue_keys(settings.queue):
            pipe.llen(key)
        messages = sum(int(n) for n in pipe.execute())
        return {"lock": lock, "messages": messages, "unacked": _unacked(client, settings.queue)}
    finally:
        client.close()


def _queue_keys(queue: str) -> list[str]:
    return [queue, *(f"{queue}{KOMBU_PRIORITY_SEP}{p}" for p in KOMBU_PRIORITY_STEPS)]


def _unacked(client: Any, queue: str) -> int:
    """Messages of ``queue`` delivered to a worker and not acknowledged (running or waiting for an ETA)."""
    count = 0
    for seen, (_tag, raw) in enumerate(client.hscan_iter(KOMBU_UNACKED, count=500)):
        if seen >= UNACKED_SCAN_LIMIT:
            break
        try:
            _message, _exchange, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if routing_key == queue:
            count += 1
    return count


def database_view(settings: Settings) -> dict[str, Any]:
    """Requests per status, the oldest open one, the latest failure. Raises when the database is down."""
    from oceane_ticket.storage import db, queries

    now = queries.utcnow()
    with db.session(settings.database_url) as s:
        counts = queries.count_by_status(s)
        oldest = queries.oldest_open(s)
        latest = queries.list_failed(s, 1)
        # What became of the failed request since (a retry may have created its ticket).
        request = queries.get(s, latest[0][0].instance) if latest else None
        now_status = request.status if request is not None else None
    oldest_at = queries.as_utc(oldest.created_at) if oldest else None
    failure = None
    if latest:
        row, ticket_id = latest[0]
        failure = {
            "instance": row.instance,
            "ticket_id": row.ticket_id or ticket_id,
            "failed_at": _iso(row.failed_at),
            "http_error_code": row.http_error_code,
            "app_error_code": row.app_error_code,
            "error_message": row.error_message,
            "error_description": row.error_description,
            "attempt": row.attempt,
            "final": row.final,
            "request_status": now_status,
        }
    return {
        "counts": counts,
        "oldest_open_instance": oldest.instance if oldest else None,
        "oldest_open_status": oldest.status if oldest else None,
        "oldest_open_since": _iso(oldest_at),
        "oldest_open_age_s": round((now - oldest_at).total_seconds(), 3) if oldest_at else None,
        "latest_failure": failure,
    }


def collect_status(settings: Settings) -> dict[str, Any]:
    """Everything ``status`` shows; a source that cannot be reached is named in ``errors``."""
    errors: list[str] = []
    lock: dict[str, Any] = {"state": "unknown"}
    queue: dict[str, Any] = {"redis_queue": settings.queue, "redis_messages": None, "redis_unacked": None}
    try:
        view = redis_view(settings)
    except Exception as exc:
        errors.append(f"redis unavailable: {describe_exception(exc)}")
    else:
        info = view["lock"]
        if info is None:
            lock = {"state": "free"}
        else:
            lock = {
                "state": "held",
                "worker": info.worker,
                "instance": info.instance,
                "since": _iso(info.since),
                "held_for_s": round(max(0.0, time.time() - info.since), 3),
                "ttl_s": round(info.ttl_seconds, 3),
            }
        queue.update(redis_messages=view["messages"], redis_unacked=view["unacked"])
    counts: dict[str, int] | None = None
    latest = None
    try:
        dbv = database_view(settings)
    except Exception as exc:
        errors.append(f"database unavailable: {describe_exception(exc)}")
    else:
        counts = dbv["counts"]
        latest = dbv["latest_failure"]
        queue.update(
            queued=counts["queued"],
            processing=counts["processing"],
            oldest_open_instance=dbv["oldest_open_instance"],
            oldest_open_since=dbv["oldest_open_since"],
            oldest_open_age_s=dbv["oldest_open_age_s"],
        )
    return {"lock": lock, "queue": queue, "counts": counts, "latest_failure": latest, "errors": errors}


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket status [--json]``: exit 0, or 4 when Redis or the database could not be read."""
    data = collect_status(settings)
    code = UNAVAILABLE if data["errors"] else OK
    if args.json:
        print(json.dumps(data))
        return code
    console = _console()
    lock = data["lock"]
    if lock["state"] == "held":
        rows = [
            ("State", "held"),
            ("Worker", lock["worker"]),
            ("Request", lock["instance"]),
            ("Since", f"{lock['since']} ({_seconds(lock['held_for_s'])} ago)"),
            ("Time left", _seconds(lock["ttl_s"])),
        ]
    else:
        rows = [("State", lock["state"])]
    console.print(_fields("Ticket Queue Processing Lock", rows))
    q = data["queue"]
    oldest = None
    if q.get("oldest_open_instance"):
        oldest = f"{q['oldest_open_instance']}, {_seconds(q['oldest_open_age_s'])} old (since {q['oldest_open_since']})"
    console.print(
        _fields(
            "Pending Ticket Creation Queue",
            [
                ("Redis queue", q["redis_queue"]),
                ("Messages waiting in Redis", q["redis_messages"]),
                ("Delivered, not acknowledged", q["redis_unacked"]),
                ("Requests queued (database)", q.get("queued")),
                ("Requests processing (database)", q.get("processing")),
                ("Oldest open request", oldest or ("none" if "queued" in q else None)),
            ],
        )
    )
    if data["counts"] is not None:
        table = _table("Requests by status", "Status", "Count")
        table.columns[1].justify = "right"
        for status, count in data["counts"].items():
            table.add_row(status, str(count))
        table.add_row("total", str(sum(data["counts"].values())), style="bold")
        console.print(table)
        failure = data["latest_failure"]
        if failure is None:
            console.print("Latest failure: none")
        else:
            console.print(
                _fields(
                    "Latest failure",
                    [
                        ("Instance", failure["instance"]),
                        ("Request now", failure["request_status"]),
                        ("Ticket ID", failure["ticket_id"]),
                        ("Failed at", failure["failed_at"]),
                        ("Attempt", failure["attempt"]),
                        ("HTTP error code", failure["http_error_code"]),
                        ("App error code", failure["app_error_code"]),
                        ("Error message", failure["error_message"]),
                        ("Error description", failure["error_description"]),
                    ],
                )
            )
    for error in data["errors"]:
        console.print(f"[bold red]{error}[/]")
    return code


# --- health ---


def _check(name: str, probe: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as exc:
        detail, ok = describe_exception(exc), False
    return {"name": name, "ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}


def check_redis(settings: Settings) -> str:
    """Ping Redis."""
    from oceane_ticket.settings import mask_url

    client = _redis(settings)
    try:
        client.ping()
        return f"PONG from {mask_url(settings.redis_url)}"
    finally:
        client.close()


def check_database(settings: Settings) -> str:
    """``SELECT 1`` and the schema at the newest migration."""
    import sqlalchemy as sa
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from oceane_ticket.storage import db

    head = ScriptDirectory(str(db.MIGRATIONS)).get_current_head()
    with db.get_engine(settings.database_url).connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        current = MigrationContext.configure(conn).get_current_revision()
        dialect = conn.dialect.name
    if current != head:
        raise RuntimeError(f"schema at {current or 'nothing'}, newest is {head}: run `oceane-ticket db upgrade`")
    return f"{dialect}, schema at {head} (newest)"


def check_worker(settings: Settings, timeout: float) -> str:
    """A worker answers a control ping and consumes ``OCEANE_QUEUE``."""
    from celery import Celery

    # A bare app on the same broker, not worker.app: the ping must use these settings, and
    # importing the worker's app would load its settings from the environment again.
    app = Celery("oceane-health", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        broker_connection_retry=False,
        broker_connection_max_retries=1,
        broker_transport_options={"socket_timeout": 3, "socket_connect_timeout": 2},
    )
    try:
        replies = app.control.ping(timeout=timeout)
        names = sorted(name for reply in replies for name in reply)
        if not names:
            raise RuntimeError(f"no worker answered within {timeout:g} s")
        queues = app.control.inspect(destination=names, timeout=timeout, limit=len(names)).active_queues() or {}
        consuming = sorted(n for n, qs in queues.items() if any(q.get("name") == settings.queue for q in qs or ()))
        if not consuming:
            raise RuntimeError(
                f"{len(names)} worker(s) answered ({', '.join(names)}) but none consumes {settings.queue!r}"
            )
        return f"{len(consuming)} worker(s) on {settings.queue!r}: {', '.join(consuming)}"
    finally:
        app.close()


def check_oceane(settings: Settings) -> str:
    """The token endpoint grants a token with the configured credentials (the "Authenticate" button)."""
    from oceane_ticket.oceane.client import OceaneClient

    client = OceaneClient(settings)
    try:
        token = client.fetch_token()
    finally:
        client.close()
    return f"token for {settings.client_id} from {settings.effective_token_url}, valid {_seconds(token.seconds_left)}"


def collect_health(
    settings: Settings, *, worker: bool = True, oceane: bool = True, timeout: float = 1.0
) -> dict[str, Any]:
    """Run the checks; ``ok`` is True only when every check that ran passed."""
    from concurrent.futures import ThreadPoolExecutor

    redis_check = _check("redis", lambda: check_redis(settings))
    probes: list[tuple[str, Callable[[], str]]] = [("database", lambda: check_database(settings))]
    if worker:
        probes.append(("worker", lambda: check_worker(settings, timeout)))
    if oceane:
        probes.append(("oceane", lambda: check_oceane(settings)))
    checks = [redis_check]
    # The rest in parallel: a probe's total time is its slowest check, not their sum.
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        futures = {}
        for name, probe in probes:
            if name == "worker" and not redis_check["ok"]:
                continue  # asking workers goes through Redis
            futures[name] = pool.submit(_check, name, probe)
        for name, _probe in probes:
            if name in futures:
                checks.append(futures[name].result())
            else:
                checks.append({"name": name, "ok": False, "detail": "not checked: Redis is unreachable", "ms": 0.0})
    for name, wanted in (("worker", worker), ("oceane", oceane)):
        if not wanted:
            checks.append({"name": name, "ok": None, "detail": "skipped", "ms": 0.0})
    return {"ok": all(c["ok"] is not False for c in checks), "checks": checks}


def run_health(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket health``: exit 0 when every check that ran passed, 1 otherwise."""
    data = collect_health(settings, worker=not args.skip_worker, oceane=not args.skip_oceane, timeout=args.timeout)
    if args.json:
        print(json.dumps(data))
    else:
        table = _table("Health: " + ("OK" if data["ok"] else "FAILING"), "Check", "Result", "Detail", "Time")
        table.columns[3].justify = "right"
        for c in data["checks"]:
            result = {True: "[green]ok[/]", False: "[bold red]FAIL[/]", None: "skipped"}[c["ok"]]
            table.add_row(c["name"], result, c["detail"], f"{c['ms']:.0f} ms")
        _console().print(table)
    return OK if data["ok"] else PROBLEM


# --- retry ---


def retry(settings: Settings, instances: list[str], redis: Any) -> list[dict[str, Any]]:
    """Re-queue failed requests as a new attempt each, and queue their jobs.

    A request keeps its instance, attempt count and failure history; its retry budget starts
    over. Because ``attempts`` stays above zero, the worker looks the alarm's externalId up in
    Oceane before creating, so a create that did reach Oceane earlier is adopted, not repeated.
    If the alarm got another request meanwhile (not failed), the partial unique index refuses the
    re-queue: still one ticket per alarm.

    Returns:
        One dict per instance: ``instance``, ``result`` (``requeued``, ``refused``, ``not_failed``,
        ``not_found``, ``not_queued``), ``detail`` and, when queued, ``task_id``.
    """
    import sqlalchemy.exc
    from sqlmodel import Session

    from oceane_ticket import jobs
    from oceane_ticket.storage import db, queries

    results = []
    engine = db.get_engine(settings.database_url)
    for instance in instances:
        entry: dict[str, Any] = {"instance": instance}
        with Session(engine, expire_on_commit=False) as s:
            try:
                row = queries.requeue_failed(s, instance, queries.utcnow())
            except sqlalchemy.exc.IntegrityError:
                s.rollback()
                failed = queries.get(s, instance)
                other = failed and queries.open_request_for_alarm(s, failed.dma_id, failed.element_id, failed.alarm_id)
                alarm = f"{failed.dma_id}/{failed.element_id}/{failed.alarm_id}" if failed else "?"
                entry.update(
                    result="refused",
                    detail=f"alarm {alarm} already has request "
                    + (f"{other.instance} ({other.status})" if other else "that is not failed")
                    + "; still one ticket per alarm",
                )
                results.append(entry)
                continue
            if row is None:
                current = queries.get(s, instance)
                if current is None:
                    entry.update(result="not_found", detail="no such request (removed by retention?)")
                else:
                    entry.update(result="not_failed", detail=f"it is {current.status}: only failed ones retry")
                results.append(entry)
                continue
        try:
            entry["task_id"] = jobs.enqueue_create(redis, instance, settings.queue, settings.stale_after)
        except Exception as exc:
            # The request is queued in the database: the sweep sends its job once it is stale.
            entry.update(
                result="not_queued",
                detail=f"re-queued in the database but the job was not sent "
                f"({describe_exception(exc)}); the sweep sends it within {settings.stale_after:g} s",
            )
        else:
            entry.update(result="requeued", detail=f"job {entry['task_id']} on {settings.queue!r}")
        results.append(entry)
    return results


def run_retry(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket retry INSTANCE...`` / ``--all-failed``: 0 when every request was re-queued."""
    import redis as redis_lib

    if bool(args.instances) == bool(args.all_failed):
        print("oceane-ticket retry: give instance ids or --all-failed (not both)")
        return USAGE
    client = _redis(settings)
    try:
        client.ping()  # before touching the database: a request re-queued without its job waits for the sweep
    except redis_lib.RedisError as exc:
        return _unavailable("redis", exc, args.json)
    try:
        instances = list(args.instances)
        if args.all_failed:
            from oceane_ticket.storage import db, queries

            with db.session(settings.database_url) as s:
                instances = queries.failed_writebacks(s) if args.writeback else queries.retryable_failed(s)
        if args.writeback:
            from oceane_ticket.writeback_jobs import retry_writeback

            results = retry_writeback(settings, instances, client)
        else:
            results = retry(settings, instances, client)
    except Exception as exc:
        if _is_database_outage(exc):
            return _unavailable("database", exc, args.json)
        raise
    finally:
        client.close()
    requeued = sum(1 for r in results if r["result"] == "requeued")
    if args.json:
        print(json.dumps({"requeued": requeued, "results": results}))
    elif not results:
        print("no failed request to retry")
    else:
        table = _table(f"Retry: {requeued} of {len(results)} re-queued", "Instance", "Result", "Detail")
        for r in results:
            style = "green" if r["result"] == "requeued" else "bold red"
            table.add_row(r["instance"], f"[{style}]{r['result']}[/]", r["detail"])
        _console().print(table)
    return OK if requeued == len(results) else PROBLEM


# --- metrics ---


def run_metrics(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket metrics [--port 9808] [--once]``: serve until stopped."""
    import signal
    import sys
    import threading

    from oceane_ticket import metrics

    if metrics.multiproc_dir() is None:
        print(
            f"oceane-ticket metrics: {metrics.MULTIPROC_ENV} is not set: serving only the queue gauges; the "
            "workers' counters need that directory, shared with them",
            file=sys.stderr,
        )
    if args.once:
        sys.stdout.write(metrics.render(settings).decode())
        return OK
    server = metrics.serve(settings, args.port, args.address)
    print(f"serving Prometheus metrics on http://{args.address}:{args.port}/metrics", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.shutdown()
    return OK


# --- errors ---


def _is_database_outage(exc: BaseException) -> bool:
    import sqlalchemy.exc

    return isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)


def _unavailable(service: str, exc: BaseException, as_json: bool) -> int:
    import sys

    from oceane_ticket.settings import mask_url

    message = f"{service} unavailable: {mask_url(describe_exception(exc))}"
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    else:
        print(f"oceane-ticket: {message}", file=sys.stderr)
    return UNAVAILABLE
