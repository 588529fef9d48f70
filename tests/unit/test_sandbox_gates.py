"""The sandbox's test hooks: gates that hold a call at a step, and the count of 409 conflicts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from oceane_ticket.sandbox.server import Sandbox
from tests.conftest import wait_until

CLIENT = ("sandbox-client", "sandbox-secret")
TICKET = {"externalId": "1/2/3", "ticketType": "incident", "description": "x", "priority": "2", "severity": "Major"}


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


def _gates(sb: Sandbox) -> dict[str, Any]:
    return dict(requests.get(f"{sb.base_url}/_sandbox/gates", timeout=5).json())


def _gate(sb: Sandbox, point: str, action: str) -> requests.Response:
    return requests.post(f"{sb.base_url}/_sandbox/gates/{point}/{action}", timeout=5)


def _create(sb: Sandbox, answers: list[requests.Response]) -> None:
    headers = {"Authorization": f"Bearer {sb.issue_token()}", "Accept": "application/json"}
    answers.append(requests.post(sb.tickets_url, json=TICKET, headers=headers, timeout=30))


@pytest.mark.parametrize(("point", "stored_while_held"), [("create", 0), ("after_create", 1)])
def test_a_closed_gate_holds_the_call_until_opened(sb: Sandbox, point: str, stored_while_held: int) -> None:
    assert _gate(sb, point, "close").json() == {"closed": True, "waiting": 0, "passed": 0}
    answers: list[requests.Response] = []
    caller = threading.Thread(target=_create, args=(sb, answers))
    caller.start()
    wait_until(lambda: _gates(sb)[point]["waiting"] == 1, timeout=10)
    assert answers == []
    assert sb.state()["tickets_created"] == stored_while_held
    assert _gate(sb, point, "open").json()["closed"] is False
    caller.join(10)
    assert [a.status_code for a in answers] == [201]
    assert _gates(sb)[point] == {"closed": False, "waiting": 0, "passed": 1}


def test_unknown_gate_and_action_are_404(sb: Sandbox) -> None:
    assert _gate(sb, "nowhere", "close").status_code == 404
    assert _gate(sb, "create", "toggle").status_code == 404
    assert requests.get(f"{sb.base_url}/_sandbox/gates/create/close", timeout=5).status_code == 405


def test_reset_opens_every_gate(sb: Sandbox) -> None:
    _gate(sb, "create", "close")
    answers: list[requests.Response] = []
    caller = threading.Thread(target=_create, args=(sb, answers))
    caller.start()
    wait_until(lambda: _gates(sb)["create"]["waiting"] == 1, timeout=10)
    sb.reset()
    caller.join(10)
    assert [a.status_code for a in answers] == [401]  # let go, into a sandbox that forgot its token


def test_conflicts_are_counted(sb: Sandbox) -> None:
    answers: list[requests.Response] = []
    for _ in range(3):
        _create(sb, answers)
    assert [a.status_code for a in answers] == [201, 409, 409]
    state = sb.state()
    assert (state["create_calls"], state["tickets_created"], state["create_conflicts"]) == (3, 1, 2)
