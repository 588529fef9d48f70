"""Where a worker's CPU goes during a drain: py-spy's samples, each charged to the package responsible.

A drain's CPU per ticket (row 10) says how much; a miss must also say what in Celery, kombu, the
database driver, the HTTP stack or our own code takes it. py-spy samples the live worker and its
pool children from outside (``--subprocesses``, ``--nonblocking``: the processes are never paused),
so Celery's prefork pool needs no instrumenting. Each sample is a stack; it is charged to the
innermost frame that is not the standard library (a ``socket.recv`` called by redis-py is redis-py's
cost), or to "Python's standard library" when every frame is. Idle threads are not sampled.

The attribution runs on a drain of its own, after the measured one, so that sampling can never
change the figures the rows are judged on.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

# The top-level package of a frame's file -> the name a reader of the row knows it by.
OWNERS = {
    "celery": "Celery",
    "billiard": "Celery's pool (billiard)",
    "kombu": "kombu",
    "vine": "Celery",
    "amqp": "kombu",
    "redis": "redis-py",
    "psycopg": "the database driver (psycopg)",
    "psycopg_pool": "the database driver (psycopg)",
    "sqlalchemy": "SQLAlchemy",
    "sqlmodel": "SQLAlchemy",
    "requests": "the HTTP client (requests, urllib3)",
    "urllib3": "the HTTP client (requests, urllib3)",
    "requests_oauthlib": "the HTTP client (requests, urllib3)",
    "oauthlib": "the HTTP client (requests, urllib3)",
    "charset_normalizer": "the HTTP client (requests, urllib3)",
    "idna": "the HTTP client (requests, urllib3)",
    "oceane_ticket": "our code",
    "worker": "our code",
}
STDLIB = "Python's standard library"
OTHER = "other packages"
SAMPLE_RATE = 250  # per second: about 1,000 samples over a few seconds' drain
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):\d+\)$")


def available() -> bool:
    """Whether py-spy can be run here (the ``dev`` extra installs it)."""
    return _py_spy() is not None


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"  # the venv's own, when the venv is not on PATH
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def sampled(pid: int, wall: bool = False) -> Iterator[dict[str, float]]:
    """Sample ``pid`` and its children while the block runs; afterwards the dict holds the shares.

    The shares are fractions of the samples, by owner (see :data:`OWNERS`), largest first; empty when
    py-spy could not attach (the block runs regardless: an attribution is an explanation, not a row).

    ``wall``: where the pool children's *time* goes, waiting included (py-spy's ``--idle``), and only
    theirs (the main process idles in its event loop by design). A child waiting for the sandbox's
    answer is then charged to the HTTP client, one blocked on a lock's wake-up list to redis-py, one
    waiting for its next task to Celery's pool, one waiting for a commit to the database driver.
    """
    shares: dict[str, float] = {}
    program = _py_spy()
    if program is None:
        yield shares
        return
    with tempfile.TemporaryDirectory(prefix="oceane-bench-spy-") as tmp:
        out = Path(tmp) / "samples.txt"
        spy = subprocess.Popen(
            [
                program,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--nonblocking",
                "--rate",
                str(SAMPLE_RATE),
                "--format",
                "raw",
                "--output",
                str(out),
                *(["--idle"] if wall else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield shares
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(10)
        if out.exists():
            if os.environ.get("OCEANE_BENCH_KEEP_SAMPLES"):
                shutil.copy(out, os.environ["OCEANE_BENCH_KEEP_SAMPLES"])
            shares.update(attribute(out.read_text(errors="replace"), children_only=wall))


def attribute(raw: str, children_only: bool = False) -> dict[str, float]:
    """py-spy's raw (collapsed) output -> share of the samples per owner, largest first.

    ``children_only``: only the stacks of the sampled process's children (py-spy's ``--subprocesses``
    starts a child's stack with two ``process`` frames, its parent's and its own).
    """
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        frames = stack.split(";")
        if children_only and sum(1 for f in frames if f.startswith("process ")) < 2:
            continue
        counts[owner(frames)] += int(number)
    total = sum(counts.values())
    return {name: count / total for name, count in counts.most_common()} if total else {}


def owner(frames: list[str]) -> str:
    """Who is charged for one stack (outermost frame first): its innermost non-stdlib frame's package."""
    for frame in reversed(frames):
        match = _FRAME.match(frame.strip())
        if match is None:
            continue
        name = _package(match["file"])
        if name is not None:
            return name
    return STDLIB


def _package(path: str) -> str | None:
    """The owner of one frame's file; None for the standard library (and built-in frames).

    py-spy names a file relative to the ``sys.path`` entry it was found under (``kombu/utils/eventio.py``,
    ``worker/processing.py``, ``socket.py``), so the first component is the top-level package; a path
    it left absolute is looked up after ``site-packages`` or under the standard library.
    """
    parts = Path(path).parts
    if not parts or path.startswith("<"):
        return None  # <frozen importlib._bootstrap> and the like
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif path.startswith(sysconfig.get_paths()["stdlib"]):
        return None
    elif Path(path).is_absolute():
        return next((OWNERS[p] for p in parts if p in ("oceane_ticket", "worker")), OTHER)
    top = parts[0].removesuffix(".py") if parts else ""
    if top in OWNERS:
        return OWNERS[top]
    return None if top in sys.stdlib_module_names else OTHER


def summary(
    shares: dict[str, float], ms_per_ticket: float | None = None, label: str = "worker CPU by py-spy samples"
) -> str:
    """``kombu 31 % (1.8 ms), Celery 22 % (1.3 ms), ...``: the owners above 2 %, largest first.

    ``ms_per_ticket``: what the shares divide (CPU per ticket, or a pool child's time per ticket).
    """
    if not shares:
        return f"no {label} (py-spy not installed or could not attach)"
    parts = []
    for name, share in shares.items():
        if share < 0.02:
            continue
        cost = f" ({share * ms_per_ticket:.1f} ms)" if ms_per_ticket else ""
        parts.append(f"{name} {share:.0%}{cost}")
    return f"{label}: " + ", ".join(parts)
