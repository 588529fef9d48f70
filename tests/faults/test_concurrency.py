"""Issue 3, item 1: many callers for one alarm at once give one Oceane ticket, and all hear of it.

The partial unique index decides who records the request; every other caller is told the winner's
instance, and with ``--wait`` the winner's ticket.
"""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

import pytest

from tests.conftest import settings_env
from tests.faults.kit import CLI, CLI_DETAILS, alarm_params

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


@pytest.mark.faults
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
