"""Issue 20: the record leaves the global lock but not the alarm's, and nothing is lost or duplicated.

Under OCEANE_LOCK_SCOPE=global a request holds its alarm's lock (keys.alarm_lock, carrying the
token its row stores) from the claim to the record, and the global lock only around the Oceane
call. So there is a gap, between Oceane's answer and the record, in which the global lock is free
and the row still says ``processing`` with an attempt counted. These scenarios put a second copy
of the request's job in that gap, with real worker processes:

* worker A holds the gap: its database goes through a proxy that holds A's record (``TcpProxy.hold``)
  once Oceane answered (the sandbox's ``after_create`` gate held the answer until then);
* a copy of the job (as a duplicate message, the sweep's re-send or a redelivery would be) reaches
  worker B, which must wait for the alarm's lock (a ``BLPOP`` on its wake-up list: the only lock
  held) instead of looking the alarm up; with the sandbox's ``lookup_lag`` that lookup would miss
  the ticket just created and the copy would create a second one, which the sandbox refuses with a
  409 the ledger counts as a duplicate;
* then A's record goes on (B finds the request done), or A is SIGKILLed in the gap (B adopts the
  ticket once A's alarm lock is broken as a dead holder's).

Under ``alarm`` scope the same scenarios run on the alarm's lock alone, which was always held to
the record.
"""

from __future__ import annotations

from typing import Any

import pytest

from oceane_ticket import jobs
from tests.conftest import wait_until
from tests.faults.kit import PATIENCE, PATIENT, Gate, alarm_params, dead_holder_locks_broken, lock_waiters

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Longer than the whole scenario: while it lasts, no lookup shows the ticket A created.
LAG = 600.0


def _a_in_the_gap(stack: Any, book: Any, alarm: int, *, metrics: Any | None = None) -> tuple[Any, Any, str]:
    """Worker A with Oceane's answer in hand and its record held; returns (A, its proxy, the instance)."""
    proxy, proxied = stack.proxied_database()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics)} if metrics is not None else None
    a = stack.worker(proxied, env=env)
    gate = Gate(stack.sandbox, "after_create").close()
    instance = book.accept(stack.submit(alarm_params(alarm)))
    gate.wait_held()  # the ticket is stored in Oceane, the answer not yet sent
    proxy.hold()
    gate.release()
    wait_until(lambda: proxy.stalled_bytes > 0, timeout=PATIENCE, interval=0.01, message="A never reached its record")
    # The gap: the global lock is free for the next alarm's call, the alarm's is still A's.
    assert stack.global_lock().info() is None
    holder = stack.lock(alarm).info()
    assert holder is not None and holder.instance == instance
    assert stack.row(instance)["status"] == "processing"
    return a, proxy, instance


def _copy_waits_for_the_alarms_lock(stack: Any, instance: str) -> None:
    """Send a copy of the job, which worker B (direct database) takes; wait until it blocks on the lock."""
    jobs.enqueue_create(stack.redis, instance, stack.settings.queue, stack.settings.stale_after)
    wait_until(
        lambda: lock_waiters(stack.redis) == 1, timeout=PATIENCE, message="the copy never waited for the alarm's lock"
    )
    calls = stack.sandbox.state()
    assert (calls["create_calls"], calls["find_calls"]) == (1, 0), "the copy asked Oceane in the gap"


@pytest.mark.parametrize("lag", [0.0, LAG], ids=["list-up-to-date", "lagging-list"])
def test_a_copy_of_the_job_in_the_gap_between_the_answer_and_the_record(stack: Any, ledger: Any, lag: float) -> None:
    what = "a lagging list" if lag else "an up-to-date list"
    book = ledger(f"copy of the job between Oceane's answer and the record, {what}")
    stack.configure(**PATIENT)  # neither the held answer nor the held record may time out
    _a, proxy, instance = _a_in_the_gap(stack, book, 800 + int(bool(lag)))
    if lag:
        stack.sandbox.set_faults(lookup_lag=lag)
    stack.worker()  # B
    _copy_waits_for_the_alarms_lock(stack, instance)
    proxy.restore()  # A's record goes on
    book.finish(timeout=PATIENCE)
    done = stack.row(instance)
    assert (done["status"], done["adopted"], done["attempts"], done["retries_used"]) == ("created", False, 1, 0)
    # B got the alarm's lock once A recorded, found the request created and asked Oceane nothing.
    wait_until(lambda: lock_waiters(stack.redis) == 0, timeout=PATIENCE, message="the copy never got the lock")
    calls = stack.sandbox.state()
    assert (calls["create_calls"], calls["find_calls"], calls["create_conflicts"]) == (1, 0, 0)


def test_a_worker_killed_in_the_gap_while_a_copy_waits(stack: Any, ledger: Any) -> None:
    # A dies with the ticket created and unrecorded. Its alarm's lock (the only one it holds) is
    # broken as a dead holder's by B's worker (liveness: A's heartbeat lapses), and B, which was
    # already waiting, claims the request, looks the alarm up and adopts the ticket.
    book = ledger("SIGKILL between Oceane's answer and the record, a copy waiting")
    stack.configure(**PATIENT)
    metrics = stack.workdir / "metrics-b"
    metrics.mkdir()
    a, proxy, instance = _a_in_the_gap(stack, book, 810)
    stack.worker(env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)})  # B
    _copy_waits_for_the_alarms_lock(stack, instance)
    a.kill()
    proxy.stall()  # A's held record dies with it: swallowed, and its connection reset
    proxy.restore()
    book.finish(timeout=PATIENCE)
    done = stack.row(instance)
    assert (done["status"], done["adopted"], done["retries_used"]) == ("created", True, 0)
    calls = stack.sandbox.state()
    assert (calls["create_calls"], calls["create_conflicts"]) == (1, 0)
    assert dead_holder_locks_broken(metrics) == 1, "only the dead holder's alarm lock was left to break"
