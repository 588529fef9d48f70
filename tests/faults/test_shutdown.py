"""SIGTERM lets the ticket in flight finish or hands it back; none is lost.

No beat runs here: what the stopped worker does not finish must be back on the queue for the next
worker, not left for the sweep to rescue.

"In flight" is made certain rather than timed: the sandbox holds the create at its ``create`` gate
until the worker's main process has taken the SIGTERM (no longer pending, per /proc), and only
then lets it go; the worker's HTTP timeout outlasts the hold (``kit.PATIENT``).
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.faults.kit import (
    PATIENCE,
    PATIENT,
    Gate,
    alarm_params,
    queued_creates,
    signal_delivered,
    unacked_creates,
)

pytestmark = pytest.mark.integration

# Oceane's Retry-After in the retry scenario: the SIGTERM comes once the retry's job is observed
# waiting in the worker, and must not be outrun by the countdown. Long enough for any load, short
# enough that the next worker (which honours the countdown) finishes the test soon after.
RETRY_AFTER = 20


def _sigterm_while_held(worker: Any, gate: Gate) -> None:
    """SIGTERM the worker, wait until it has taken the signal, then let the held create go on."""
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    wait_until(
        lambda: signal_delivered(worker.proc.pid, signal.SIGTERM),
        timeout=PATIENCE,
        message="the worker never took the SIGTERM",
    )
    gate.release()


def test_sigterm_lets_the_ticket_in_flight_finish(stack: Any, ledger: Any) -> None:
    book = ledger("SIGTERM during a create call -> it finishes")
    stack.configure(**PATIENT)
    worker = stack.worker()
    gate = Gate(stack.sandbox, "create").close()
    instance = book.accept(stack.submit(alarm_params(900)))
    gate.wait_held()
    _sigterm_while_held(worker, gate)
    assert worker.proc.wait(PATIENCE) == 0
    # Finished before the worker exited: nothing was left for anyone else.
    assert stack.row(instance)["status"] == "created"
    assert stack.redis.llen(stack.settings.queue) == 0
    book.finish(timeout=1)


@pytest.mark.slow
def test_sigterm_with_a_backlog_hands_the_rest_back(stack: Any, ledger: Any) -> None:
    book = ledger("SIGTERM with a backlog -> the rest handed back")
    stack.configure(**PATIENT)
    first = stack.worker()
    gate = Gate(stack.sandbox, "create").close()
    instances = [book.accept(stack.submit(alarm_params(910 + i))) for i in range(4)]
    gate.wait_held()
    _sigterm_while_held(first, gate)
    assert first.proc.wait(PATIENCE) == 0
    done_before = sum(stack.row(i)["status"] == "created" for i in instances)
    assert 1 <= done_before < len(instances)
    assert stack.redis.llen(stack.settings.queue) == len(instances) - done_before
    stack.worker()
    book.finish(timeout=PATIENCE)


@pytest.mark.slow
def test_sigterm_while_a_retry_waits_hands_it_back(stack: Any, ledger: Any) -> None:
    book = ledger("SIGTERM while a retry waits (Retry-After) -> handed back")
    first = stack.worker()
    stack.sandbox.force(429, group="create", count=1, retry_after=RETRY_AFTER)
    instance = book.accept(stack.submit(alarm_params(920)))
    # The 429 is recorded and the retry's job is back in the worker, held for its countdown.
    wait_until(lambda: book.failures(), timeout=PATIENCE, message="the 429 was never recorded")
    wait_until(
        lambda: (
            instance in unacked_creates(stack.redis, retries=True)
            and instance not in queued_creates(stack.redis, stack.settings.queue)
        ),
        timeout=PATIENCE,
        message="the worker never took the retry's job",
    )
    assert first.stop(signal.SIGTERM, timeout=PATIENCE) == 0
    assert stack.row(instance)["status"] == "processing"
    assert stack.redis.llen(stack.settings.queue) == 1, "the retry's message must be back on the queue"
    stack.worker()
    book.finish(timeout=RETRY_AFTER + PATIENCE)
    assert stack.row(instance)["retries_used"] == 1
