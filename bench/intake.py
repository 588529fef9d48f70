"""Row 3 (and the intake's memory, row 8): ``POST /tickets`` on the HTTP intake, warm.

The intake (``oceane-ticket serve``) and the floor (``bench/intake_floor.py``: a bare endpoint on
the same server, FastAPI under uvicorn with the same options, doing the same INSERT + LPUSH) run
as separate processes; 1 and 8 clients, each on a kept-alive session, send requests for new
alarms. Intake and floor alternate in halves so noise hits both alike. Median and p99 latency.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    BIN,
    LOGS,
    REDIS,
    ROOT,
    Row,
    fresh_database,
    median,
    ms,
    p99,
    peak_rss_mb,
    redis_client,
    wait_until,
)

QUEUE = "bench.intake"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], port: int, name: str) -> subprocess.Popen[bytes]:
    """Start a server and wait until it accepts connections."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"{name}.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {(LOGS / f'{name}.log').read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    wait_until(up, 60, 0.1, f"{name} to listen")
    return proc


def load(url: str, clients: int, per_client: int, first_alarm: int, check: Callable[[Any], None]) -> list[float]:
    """``clients`` threads, each on its own kept-alive session, ``per_client`` POSTs each."""
    import requests

    times: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(k: int) -> None:
        session = requests.Session()
        mine = []
        try:
            for i in range(per_client):
                alarm = first_alarm + k * per_client + i
                body = {
                    "dmaId": 1, "elementId": 2, "alarmId": alarm, "elementName": "bench",
                    "priority": "1", "urgency": "Major", "technicalImpact": "Major",
                }  # fmt: skip
                start = time.perf_counter()
                answer = session.post(url, json=body, timeout=30)
                mine.append(time.perf_counter() - start)
                check(answer)
        except BaseException as exc:
            errors.append(exc)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return times


def _created(answer: Any) -> None:
    if answer.status_code != 201:
        raise RuntimeError(f"POST answered {answer.status_code}: {answer.text[:200]}")


def run(size: str) -> list[Row]:
    """Row 3 and the intake's peak RSS."""
    full = size == "full"
    total = 1000 if full else 16
    rows: list[Row] = []
    with fresh_database() as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")}
        env |= {"OCEANE_DATABASE_URL": url, "OCEANE_REDIS_URL": REDIS, "OCEANE_QUEUE": QUEUE}
        intake_port, floor_port = free_port(), free_port()
        intake = start([str(BIN / "oceane-ticket"), "serve", "--port", str(intake_port)], env, intake_port, "intake")
        floor = start([sys.executable, str(Path(__file__).with_name("intake_floor.py")), str(floor_port)], env,
                      floor_port, "intake-floor")  # fmt: skip
        rss = None
        try:
            intake_url = f"http://127.0.0.1:{intake_port}/tickets"
            floor_url = f"http://127.0.0.1:{floor_port}/floor"
            alarm = 1
            for url_, n_ in ((intake_url, 8), (floor_url, 8)):  # warm both
                load(url_, 1, n_, alarm, _created)
                alarm += n_
            for clients in (1, 8):
                per_half = max(1, total // clients // 2)
                ours: list[float] = []
                base: list[float] = []
                for _ in range(2):
                    ours += load(intake_url, clients, per_half, alarm, _created)
                    alarm += clients * per_half
                    base += load(floor_url, clients, per_half, alarm, _created)
                    alarm += clients * per_half
                rows.append(
                    Row(
                        "3",
                        f"intake warm: POST /tickets, {clients} client(s)",
                        ms(median(ours)),
                        "ms",
                        floor=ms(median(base)),
                        p99=ms(p99(ours)),
                        floor_p99=ms(p99(base)),
                        target=1.5,
                        target_p99=3.0,
                        note=f"{len(ours)} requests each; floor = bare FastAPI endpoint under the same uvicorn, "
                        f"same INSERT + LPUSH; p99 ratio {p99(ours) / p99(base):.2f}x",
                    ).judge()
                )
            rss = peak_rss_mb(intake.pid)
        finally:
            for proc in (intake, floor):
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            redis_client().delete(QUEUE)
    rows.append(Row("8", "memory: intake (serve) peak RSS", rss, "MB", target=120.0, note="VmHWM after row 3").judge())
    return rows
