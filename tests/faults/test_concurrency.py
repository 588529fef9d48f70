"""Many callers for one alarm at once give one Oceane ticket, and all hear of it.

The partial unique index decides who records the request; every other caller is told the winner's
instance, and with ``--wait`` the winner's ticket.

And what the processing lock lets through to Oceane at once, per lock scope: ``global``,
one ticket in flight across all worker processes; ``alarm``, different alarms together but never
two jobs for one alarm.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

import pytest

from oceane_ticket import jobs
from tests.conftest import settings_env, wait_until
from tests.faults.kit import CLI, CLI_DETAILS, PATIENCE, PATIENT, Gate, alarm_params, unacked_creates

pytestmark = pytest.mark.integration

CALLERS = 50


def test_50_concurrent_producer_calls_in_process(stack: Any, ledger: Any) -> None:
    book = ledger(f"{CALLERS} concurrent create calls, one alarm (threads)")
    stack.worker()
    barrier = threading.Barrier(CALLERS)
    answers: list[Any] = []
    errors: list[BaseException] = []

    def call() -> None:
        from producer import core

        barrier.wait()
        try:
            answers.append(
                core.create_ticket(
                    alarm_params(500),
                    wait=30,
                    settings=stack.settings,
                    priority="2",
                    urgency="Major",
                    technical_impact="Major",
                )
            )
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for answer in answers:
        book.accept(answer)
    book.finish(timeout=30)
    assert len(answers) == CALLERS
    told = {(a.instance, a.ticket_id, a.status) for a in answers}
    assert len(told) == 1, told
    assert sum(not a.existing for a in answers) == 1
    assert len(book.rows()) == 1


@pytest.mark.slow
def test_50_concurrent_console_script_processes(stack: Any, ledger: Any) -> None:
    book = ledger(f"{CALLERS} concurrent `oceane-ticket create` processes, one alarm")
    stack.worker()
    env = settings_env(stack.settings)
    command = [CLI, "create", "--alarm", alarm_params(501), *CLI_DETAILS, "--wait", "60", "--json"]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
        )
        for _ in range(CALLERS)
    ]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _, _ in results), [r for r in results if r[0] != 0][:3]
    answers = [json.loads(out) for _, out, _ in results]
    for answer in answers:
        book.accept(answer)
    book.finish(timeout=30)
    assert {(a["instance"], a["ticket_id"], a["status"]) for a in answers} == {
        (answers[0]["instance"], answers[0]["ticket_id"], "created")
    }
    assert sum(not a["existing"] for a in answers) == 1


@pytest.mark.slow
def test_what_the_lock_lets_through_to_oceane_at_once(stack: Any, ledger: Any) -> None:
    # Three worker processes, three jobs: alarms A and B, and a second copy of A's job (as the sweep
    # or a retry sends). Oceane holds every create on arrival, so the calls in flight pile up there.
    in_flight = {"global": 1, "alarm": 2}[stack.lock_scope]  # alarm: A and B, never A twice
    book = ledger(f"3 jobs for 2 alarms (one sent twice), 3 processes: {in_flight} create(s) in flight at once")
    stack.configure(**PATIENT)  # the held creates must not time out
    stack.worker(concurrency=3)
    gate = Gate(stack.sandbox, "create").close()
    a = book.accept(stack.submit(alarm_params(520)))
    b = book.accept(stack.submit(alarm_params(521)))
    jobs.enqueue_create(stack.redis, a, stack.settings.queue, stack.settings.stale_after)
    wait_until(
        lambda: sorted(unacked_creates(stack.redis)) == sorted([a, a, b]),
        timeout=PATIENCE,
        message="the three jobs never all reached a worker process",
    )
    gate.wait_held(in_flight)

    # Each alarm's lock comes to be held by its request (A's copy waits for A's); under global scope
    # the global lock is held by the one call in flight, the other alarm waiting for it. Waited for,
    # not read at once: a job on a worker (unacked) may not have reached its pool child's claim yet.
    def held() -> set[str]:
        return {info.instance for info in (stack.lock(520).info(), stack.lock(521).info()) if info is not None}

    wait_until(lambda: held() == {a, b}, timeout=PATIENCE, message="the two alarms' locks were never both held")
    in_call = stack.global_lock().info()
    assert (in_call is not None and in_call.instance in {a, b}) if stack.lock_scope == "global" else in_call is None
    # Every process has its job; give one the lock should hold back time to reach Oceane anyway.
    time.sleep(3)
    assert gate.status()["waiting"] == in_flight
    gate.release()
    book.finish(timeout=PATIENCE)
    # A's copy found its request done: one create per alarm.
    assert stack.sandbox.state()["create_calls"] == 2
    wait_until(lambda: not unacked_creates(stack.redis), timeout=PATIENCE, message="a job was never finished")
