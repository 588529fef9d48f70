"""Producer cold start, as a ratio to a floor measured in the same run.

Floor: a fresh Python process that imports psycopg and redis-py, does one INSERT and one LPUSH.
Producer: a fresh ``oceane-ticket create`` process for a new alarm (validate, record, enqueue).
Runs alternate between the two so machine noise hits both alike; the medians are compared.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import redis

ADMIN = os.environ.get("OCEANE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("OCEANE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
BIN = Path(sys.executable).parent

FLOOR = """
import psycopg, redis
c = psycopg.connect({dsn!r}, autocommit=True)
c.execute("INSERT INTO floor (x) VALUES (%s)", ("x",))
redis.Redis.from_url({redis!r}).lpush("bench:floor", "x")
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    name = f"oceane_bench_{uuid.uuid4().hex[:6]}"
    admin = psycopg.connect(ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE TABLE floor (id serial PRIMARY KEY, x text)")
        env = dict(
            os.environ,
            OCEANE_DATABASE_URL=dsn.replace("postgresql://", "postgresql+psycopg://"),
            OCEANE_REDIS_URL=REDIS,
            OCEANE_QUEUE="bench.producer",
        )
        subprocess.run([str(BIN / "oceane-ticket"), "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        floor_cmd = [sys.executable, "-c", FLOOR.format(dsn=dsn, redis=REDIS)]
        floor, producer = [], []
        for i in range(RUNS):
            floor.append(timed(floor_cmd, env))
            producer.append(
                timed(
                    [
                        str(BIN / "oceane-ticket"),
                        "create",
                        "--dma-id",
                        "1",
                        "--element-id",
                        "2",
                        "--alarm-id",
                        str(i),
                        "--element-name",
                        "bench",
                        "--priority",
                        "1",
                        "--urgency",
                        "Major",
                        "--technical-impact",
                        "Major",
                    ],
                    env,
                )
            )
        f, p = statistics.median(floor), statistics.median(producer)
        print(
            f"producer cold start: median {p * 1000:.0f} ms over {RUNS} runs; floor (import psycopg+redis, "
            f"INSERT, LPUSH) {f * 1000:.0f} ms; ratio {p / f:.2f}x"
        )
    finally:
        redis.Redis.from_url(REDIS).delete("bench.producer", "bench:floor")
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
