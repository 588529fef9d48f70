"""Redis restarted empty; every accepted request still completes, once.

Redis here keeps nothing on disk (``--save "" --appendonly no``), so a restart loses the queue,
the unacked messages, the processing lock and the token cache. The database still holds every
accepted request; beat's sweep puts the lost ones back. The Redis restarted is the fault matrix's
private one, never the shared server other tests use.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.kit import PATIENCE, PATIENT, Gate, alarm_params, queued_creates

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_redis_restarted_empty_under_load(stack: Any, ledger: Any) -> None:
    book = ledger("Redis restarted empty mid-queue (10 requests)")
    stack.configure(**PATIENT)  # the first create is held while Redis restarts; it must not time out
    stack.beat()
    stack.worker()
    gate = Gate(stack.sandbox, "create").close()  # a backlog builds up behind the first request
    instances = [book.accept(stack.submit(alarm_params(200 + i))) for i in range(10)]
    gate.wait_held()
    # The backlog, the lock and the unacked job are gone with Redis; the rest only the sweep can
    # bring back (the worker holds only the job in its call: one message at a time).
    stack.redis_server.restart_empty()
    # No ticket job survived (beat's own sweep message, which shares the queue, may already be
    # there: it was published after the restart, and counting it made this check a race).
    assert queued_creates(stack.redis, stack.settings.queue) == []
    gate.open()
    book.finish(timeout=PATIENCE)
    assert all(stack.row(i)["status"] == "created" for i in instances)
    assert stack.sandbox.state()["create_calls"] == len(instances)


def test_redis_restarted_empty_before_any_worker_ran(stack: Any, ledger: Any) -> None:
    book = ledger("Redis restarted empty before any worker ran (5 requests)")
    for i in range(5):
        book.accept(stack.submit(alarm_params(300 + i)))
    assert stack.redis.llen(stack.settings.queue) == 5
    stack.redis_server.restart_empty()
    assert stack.redis.dbsize() == 0
    stack.beat()
    stack.worker()
    book.finish(timeout=60)
