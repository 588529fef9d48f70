"""Row 1 (and the producer's memory, row 8): ``oceane-ticket create --json`` as a new process.

Floor: a fresh Python process that imports only psycopg and redis-py, does one INSERT and one
LPUSH. Producer: a fresh ``oceane-ticket create --json`` for a new alarm (validate, record,
enqueue). Runs alternate between the two so machine noise hits both alike; medians are compared.
Also: the producer's ``-X importtime`` top 10 (cumulative) and its peak RSS (``wait4`` from a small
launcher, see :data:`RSS_LAUNCHER`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from bench.common import BIN, REDIS, Row, fresh_database, libpq, median, ms, p99, redis_client

QUEUE = "bench.producer"

FLOOR = """
import psycopg, redis
c = psycopg.connect({dsn!r}, autocommit=True)
c.execute("INSERT INTO floor (x) VALUES (%s)", ("x",))
redis.Redis.from_url({redis!r}).lpush("bench:floor", "x")
"""

# A child's ru_maxrss counts its parent's high-water mark: Popen starts it with vfork + exec, and
# exec records the old address space's peak, which is the parent's (this benchmark has psycopg,
# redis-py and the sandbox loaded: about 75 MB, whatever the child does). So a run is measured from
# a bare Python that starts the command and prints the command's ru_maxrss (kB) and exit status: the
# figure is then max(launcher, command), and the launcher (about 10 MB) is below both commands.
RSS_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def peak_rss(cmd: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MB) of one run of ``cmd``, measured from a small launcher (see RSS_LAUNCHER)."""
    done = subprocess.run(
        [sys.executable, "-c", RSS_LAUNCHER, *cmd], env=env, capture_output=True, text=True, check=True
    )
    maxrss, code = (int(x) for x in done.stdout.split())
    if code != 0:
        raise RuntimeError(f"{cmd[:2]} exited {code}")
    return maxrss / 1024


def create_cmd(alarm: int) -> list[str]:
    """``oceane-ticket create --json`` for one new alarm."""
    return [
        str(BIN / "oceane-ticket"),
        "create",
        "--json",
        *("--dma-id", "1", "--element-id", "2", "--alarm-id", str(alarm), "--element-name", "bench"),
        *("--priority", "1", "--urgency", "Major", "--technical-impact", "Major"),
    ]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, _ = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:2]} exited {proc.returncode}")
    return elapsed


def run(size: str) -> list[Row]:
    """Row 1 and the producer's peak RSS."""
    import psycopg

    runs = 15 if size == "full" else 3
    with fresh_database() as url:
        dsn = libpq(url)
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE TABLE floor (id serial PRIMARY KEY, x text)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")}
        env |= {"OCEANE_DATABASE_URL": url, "OCEANE_REDIS_URL": REDIS, "OCEANE_QUEUE": QUEUE}
        floor_cmd = [sys.executable, "-c", FLOOR.format(dsn=dsn, redis=REDIS)]
        floor, producer, rss, floor_rss = [], [], [], []
        try:
            for i in range(runs):
                floor.append(timed(floor_cmd, env))
                producer.append(timed(create_cmd(i), env))
            # Memory apart: the launcher would add its own start-up to the times above.
            for i in range(min(runs, 5)):
                floor_rss.append(peak_rss(floor_cmd, env))
                rss.append(peak_rss(create_cmd(runs + 2 + i), env))
            # The script form runs the console script through the interpreter (the same code path).
            script = [sys.executable, "-X", "importtime", str(BIN / "oceane-ticket"), *create_cmd(runs + 1)[1:]]
            stderr = subprocess.run(script, env=env, capture_output=True, text=True, check=False).stderr
            top = _parse_importtime(stderr)
        finally:
            redis_client().delete(QUEUE, "bench:floor")
    f, p = median(floor), median(producer)
    top_text = ", ".join(f"{e['module']} {e['cumulative_ms']:.0f} ms" for e in top)
    return [
        Row(
            "1",
            "producer cold: oceane-ticket create --json (new process)",
            ms(p),
            "ms",
            floor=ms(f),
            p99=ms(p99(producer)),
            target=1.5,
            note=f"{runs} alternating runs; floor = python importing psycopg + redis-py, one INSERT, one LPUSH. "
            f"-X importtime top 10 (cumulative): {top_text}",
            extra={
                "importtime_top10": top,
                "floor_ms": [ms(x) for x in floor],
                "producer_ms": [ms(x) for x in producer],
            },
        ).judge(),
        Row(
            "8",
            "memory: producer (create) peak RSS",
            max(rss),
            "MB",
            target=60.0,
            note=f"ru_maxrss via wait4 from a bare launcher, max of {len(rss)} runs; the floor process "
            f"(psycopg + redis-py, one INSERT, one LPUSH) peaks at {max(floor_rss):.1f} MB",
            extra={"producer_mb": rss, "floor_mb": floor_rss},
        ).judge(),
    ]


def _parse_importtime(stderr: str, n: int = 10) -> list[dict[str, Any]]:
    entries = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        entries.append(
            {
                "module": parts[2].strip(),
                "self_ms": int(parts[0]) / 1000,
                "cumulative_ms": int(parts[1]) / 1000,
            }
        )
    return sorted(entries, key=lambda e: -e["cumulative_ms"])[:n]
