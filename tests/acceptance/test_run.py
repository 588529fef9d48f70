"""`make run ARGS=--once` on embedded defaults: a SQLite file, the sandbox, a worker, a sample ticket."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("oceane-ticket"))


def test_run_once_creates_the_sample_ticket_and_stops_everything(tmp_path: Path, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")} | {"OCEANE_REDIS_URL": redis_url}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # where the default SQLite file goes
    done = subprocess.run(
        [CLI, "run", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"ticket (\d{4}M\d{5}) created: (\S+)", done.stdout)
    assert match, done.stdout
    assert match.group(2).endswith("/ticket/" + match.group(1))
    assert match.group(1) in done.stdout.split("Tickets (", 1)[1]  # the table lists it
    assert (tmp_path / "data" / "oceane-ticket" / "oceane-tickets.db").exists()
    # Everything it started is stopped: its worker (with beat) is the process run with its schedule.
    leftovers = subprocess.run(["pgrep", "-f", f"celery.*-s {tmp_path}"], capture_output=True, text=True)
    assert leftovers.stdout == ""
