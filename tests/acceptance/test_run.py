"""`make run ARGS=--once` on embedded defaults: a SQLite file, the sandbox, a worker, a sample ticket."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.conftest import wait_until

CLI = str(Path(sys.executable).with_name("oceane-ticket"))


def _ctrl_c_as_in_a_terminal() -> None:
    """In the demo's process before it starts: Ctrl-C (SIGINT) does what it does at a terminal.

    A job started in the background of a script (``bash .ci/run &``, nohup) inherits SIGINT ignored, and
    Python then installs no KeyboardInterrupt for it: the SIGINT these tests send, standing in for the
    operator's Ctrl-C, would never arrive.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def _serving_demo(cwd: Path, env: dict[str, str], err: Path, out: Path | None = None) -> Iterator[None]:
    """``oceane-ticket run`` until it says it is serving; stopped with Ctrl-C (SIGINT) on the way out."""
    with err.open("w") as stderr, (out or Path(os.devnull)).open("w") as stdout:
        demo = subprocess.Popen(
            [CLI, "run"],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            preexec_fn=_ctrl_c_as_in_a_terminal,
        )
    try:
        deadline = time.monotonic() + 180
        while "serving; Ctrl-C stops everything" not in err.read_text():
            assert demo.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.2)
        yield
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(60)


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


def _get(url: str) -> str | None:
    try:
        return requests.get(url, timeout=10).text
    except requests.ConnectionError:
        return None


def _sandbox_of(stderr: str) -> str:
    match = re.search(r"Oceane: started the sandbox at (\S+)", stderr)
    assert match, stderr
    return match.group(1)


def test_two_demos_on_one_redis_never_take_each_others_jobs(tmp_path: Path, redis_url: str) -> None:
    # Two people on one machine, one Redis (configured) and one database: each demo's ticket is
    # created by its own worker in its own sandbox, and nothing says None.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")} | {"OCEANE_REDIS_URL": redis_url}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    first_err = tmp_path / "first.err"
    with _serving_demo(tmp_path, env, first_err):
        second = subprocess.run(
            [CLI, "run", "--once"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert "None" not in second.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    match = re.search(r"ticket (\d{4}M\d{5}) created: (\S+)", second.stdout)
    assert match, second.stdout
    assert match.group(2) == _sandbox_of(second.stderr) + "/ticket/" + match.group(1)
    assert _sandbox_of(second.stderr) != _sandbox_of(first_err.read_text())


def test_the_debug_page_it_advertises_has_received_the_demo_ticket(tmp_path: Path, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")} | {"OCEANE_DEBUG_PAGE": "true"}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    out, err = tmp_path / "run.out", tmp_path / "run.err"
    with _serving_demo(tmp_path, env, err, out):
        assert re.search(r"ticket \d{4}M\d{5} created: ", out.read_text()), out.read_text()
        flower = re.search(r"debug page: Flower at (\S+)", err.read_text())
        assert flower, err.read_text()
        # Flower counts the events it received: the sample ticket's job, run before this line, is among them.
        metrics = wait_until(lambda: _get(flower.group(1) + "/metrics"), timeout=60, message="Flower never answered")
        succeeded = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("flower_events_total{")
            and 'task="oceane.create_ticket"' in line
            and 'type="task-succeeded"' in line
        ]
        assert sum(succeeded) >= 1, metrics
