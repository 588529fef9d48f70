"""``make bench`` at tiny sizes: it runs against the real services and writes a table with every row.

No timing is asserted (the benchmark's verdicts are for humans reading ``bench/results.json``);
this only keeps the benchmark from rotting: every row of docs/performance.md is there, each with a verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import PG_ADMIN_URL, ROOT

ROWS = {str(n) for n in range(1, 11)}  # 10: the worker's CPU per ticket


def test_bench_smoke_writes_every_row(redis_url: str, pg_url: str, tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")}
    # The benchmark flushes its Redis database: give it the test database, never a shared one.
    env |= {"OCEANE_BENCH_REDIS_URL": redis_url, "OCEANE_TEST_PG_URL": PG_ADMIN_URL}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data: dict[str, Any] = json.loads(output.read_text())
    assert data["size"] == "smoke"
    rows = data["rows"]
    assert {r["row"] for r in rows} == ROWS, done.stdout[-3000:]
    errors = [r for r in rows if r["verdict"] == "error"]
    assert not errors, errors
    for row in rows:
        assert row["verdict"] in {"pass", "miss", "info"}, row
        if row["target"] is not None:
            assert row["verdict"] in {"pass", "miss"}, row
            assert row["value"] is not None, row
        if row["verdict"] == "miss" and row["row"] in {"4", "5", "6", "9", "10"}:
            assert row["reason"], row  # a miss carries its measured reason in the file itself
    assert "verdict" in done.stdout  # the table was printed
