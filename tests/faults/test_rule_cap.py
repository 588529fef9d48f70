"""The rule cap's release SIGKILLed between marking requests released and sending their jobs.

The release commits ``released_at`` first, then sends the jobs (worker/release.py). A process killed in
between leaves released, queued requests without a job. The kill point is reached deterministically: the
release runs in a child process whose Redis is a socket that accepts and never answers, so it is held in
the send, after its commit (a state the test waits on), until the SIGKILL. Recovery is the product's own:
beat's sweep finds the requests untouched since their release and sends each once (that it never sends a
request still held is tests/unit/test_rule_cap.py's).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.faults.kit import PATIENCE, alarm_params

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The release as beat runs it, but with a Redis that never answers: it blocks in the send.
RELEASE = textwrap.dedent(
    """
    import sys
    import redis
    from oceane_ticket.settings import get_settings
    from worker import release

    silent = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=None)
    release.release(get_settings(), silent)
    """
)


def test_killed_after_marking_released_before_the_jobs_were_sent(stack: Any, ledger: Any) -> None:
    book = ledger("SIGKILL in the rule cap's release, after marking released, before sending")
    cap = 2
    stack.configure(auto_tickets_per_minute=cap)
    released = [book.accept(stack.submit(alarm_params(200 + n), origin="rule")) for n in range(cap)]

    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
    child = subprocess.Popen(
        [sys.executable, "-c", RELEASE, str(black_hole.getsockname()[1])],
        env=stack.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(
            lambda: all(stack.row(i)["released_at"] is not None for i in released) or child.poll() is not None,
            timeout=PATIENCE,
            message="the release never marked its requests",
        )
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        black_hole.close()
    assert stack.redis.llen(stack.settings.queue) == 0, "the jobs were never sent"

    stack.beat()
    stack.worker()
    book.finish(timeout=PATIENCE)
    assert stack.sandbox.state()["create_calls"] == cap, "each released request created once"
