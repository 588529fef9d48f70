"""Issue 3, item 10: SIGTERM lets the ticket in flight finish or hands it back; none is lost.

No beat runs here: what the stopped worker does not finish must be back on the queue for the next
worker, not left for the sweep to rescue.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.faults.kit import alarm_params

pytestmark = pytest.mark.integration


def test_sigterm_lets_the_ticket_in_flight_finish(stack: Any, ledger: Any) -> None:
    book = ledger("SIGTERM during a create call -> it finishes")
    stack.configure(http_timeout=3.0, lock_timeout=31.0)
    worker = stack.worker()
    stack.sandbox.set_faults(latency={"create": 1.5})
    instance = book.accept(stack.submit(alarm_params(900)))
    wait_until(lambda: stack.sandbox.state()["create_calls"] == 1, timeout=10, interval=0.01)
    assert worker.stop(signal.SIGTERM, timeout=30) == 0
    # Finished before the worker exited: nothing was left for anyone else.
    assert stack.row(instance)["status"] == "created"
    book.finish(timeout=1)


@pytest.mark.faults
def test_sigterm_with_a_backlog_hands_the_rest_back(stack: Any, ledger: Any) -> None:
    book = ledger("SIGTERM with a backlog -> the rest handed back")
    stack.configure(http_timeout=3.0, lock_timeout=31.0)
    first = stack.worker()
    stack.sandbox.set_faults(latency={"create": 0.5})
    instances = [book.accept(stack.submit(alarm_params(910 + i))) for i in range(4)]
    wait_until(lambda: stack.sandbox.state()["create_calls"] >= 1, timeout=10, interval=0.01)
    assert first.stop(signal.SIGTERM, timeout=30) == 0
    done_before = sum(stack.row(i)["status"] == "created" for i in instances)
    assert 1 <= done_before < len(instances)
    assert stack.redis.llen(stack.settings.queue) == len(instances) - done_before
    stack.worker()
    book.finish(timeout=30)


@pytest.mark.faults
def test_sigterm_while_a_retry_waits_hands_it_back(stack: Any, ledger: Any) -> None:
    book = ledger("SIGTERM while a retry waits (Retry-After) -> handed back")
    first = stack.worker()
    stack.sandbox.force(429, group="create", count=1, retry_after=4)
    instance = book.accept(stack.submit(alarm_params(920)))
    first.wait_for_log("retry 1/1 in 4.0 s", timeout=10)
    assert first.stop(signal.SIGTERM, timeout=30) == 0
    assert stack.row(instance)["status"] == "processing"
    assert stack.redis.llen(stack.settings.queue) == 1, "the retry's message must be back on the queue"
    stack.worker()
    book.finish(timeout=30)
    assert stack.row(instance)["retries_used"] == 1
