"""``oceane-ticket health``: Redis, the database schema, a worker on our queue, the token endpoint.

It exits 0 only when every check that ran passed, so container probes can use it
(``--skip-worker``, ``--skip-oceane`` for a service that does not depend on them).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cli.common import OK, PROBLEM, Add, print_json
from oceane_ticket.logs import describe_exception
from oceane_ticket.storage.schema import schema_problem

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings


def register(add: Add) -> None:
    """Add ``health``."""
    p = add("health", run, "check Redis, the database, a worker and the token endpoint; exit 0 if all pass")
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


def _check(name: str, probe: Callable[[], str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as exc:
        detail, ok = schema_problem(exc) or describe_exception(exc), False
    return {"name": name, "ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}


def check_redis(settings: Settings) -> str:
    """Ping Redis."""
    from oceane_ticket import connections

    client = connections.redis_client(settings, purpose="command")
    try:
        client.ping()
        # Under Sentinel: the master the Sentinels named, the one every process is writing to.
        return f"PONG from {connections.redis_location(settings, client)}"
    finally:
        client.close()


def check_database(settings: Settings) -> str:
    """``SELECT 1`` and the schema at the newest migration."""
    import sqlalchemy as sa
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from oceane_ticket.storage import db, schema

    head = ScriptDirectory(str(db.MIGRATIONS)).get_current_head()
    try:
        with db.get_engine(settings.database_url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            current = MigrationContext.configure(conn).get_current_revision()
            dialect = conn.dialect.name
    except Exception as exc:
        # A database not set up yet (no SQLite file, no tables) gets the same fix as every command.
        problem = schema.schema_problem(exc)
        if problem is None:
            raise
        raise RuntimeError(problem) from exc
    if current != head:
        raise RuntimeError(f"schema at {current or 'nothing'}, newest is {head}: {schema.FIX}")
    return f"{dialect}, schema at {head} (newest)"


def check_worker(settings: Settings, timeout: float) -> str:
    """A worker answers a control ping and consumes ``OCEANE_QUEUE``."""
    from celery import Celery

    from oceane_ticket import connections

    # A bare app on the same broker, not worker.app: the ping must use these settings, and
    # importing the worker's app would load its settings from the environment again.
    app = Celery("oceane-health", broker=connections.broker_url(settings), set_as_current=False)
    app.conf.update(
        broker_connection_retry=False,
        broker_connection_max_retries=1,
        broker_transport_options=connections.broker_transport_options(settings, "command"),
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
    from cli.rendering import duration
    from oceane_ticket.oceane.client import OceaneClient

    client = OceaneClient(settings)
    try:
        token = client.fetch_token()
    finally:
        client.close()
    return f"token for {settings.client_id} from {settings.effective_token_url}, valid {duration(token.seconds_left)}"


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


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``oceane-ticket health``: exit 0 when every check that ran passed, 1 otherwise."""
    from cli import rendering

    data = collect_health(settings, worker=not args.skip_worker, oceane=not args.skip_oceane, timeout=args.timeout)
    if args.json:
        print_json(data)
    else:
        table = rendering.table("Health: " + ("OK" if data["ok"] else "FAILING"), "Check", "Result", "Detail", "Time")
        table.columns[3].justify = "right"
        for c in data["checks"]:
            result = {True: "[green]ok[/]", False: "[bold red]FAIL[/]", None: "skipped"}[c["ok"]]
            table.add_row(c["name"], result, c["detail"], f"{c['ms']:.0f} ms")
        rendering.console().print(table)
    return OK if data["ok"] else PROBLEM
