"""A create that may have reached Oceane is never blindly repeated.

Each scenario makes the create land in Oceane while the worker gets no usable answer (a hang past
its read timeout, a reset or a closed connection after the ticket was stored, an HTML page instead
of the ticket) or a 409 for a ticket that already exists; the worker must look the externalId up
and adopt the ticket. The ledger counts a 409 refusal of a blind re-create as a duplicate, so the
sandbox's assumed 409 cannot hide one.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.faults.kit import alarm_params

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("mode", "retried"),
    [("hang", True), ("reset", True), ("close", True), ("garbage", False)],
    ids=["read-timeout", "connection-reset", "connection-closed", "html-instead-of-ticket"],
)
def test_lost_create_answer_is_adopted_not_repeated(stack: Any, ledger: Any, mode: str, retried: bool) -> None:
    what = {
        "hang": "read timeout",
        "reset": "connection reset",
        "close": "connection closed",
        "garbage": "HTML instead of the ticket",
    }[mode]
    book = ledger(f"create stored, answer lost ({what}) -> lookup, adopt")
    stack.worker()
    # A hang lasts well past the worker's read timeout (the sandbox ends it when it stops).
    hang = 6 * stack.settings.http_timeout
    stack.sandbox.set_faults(after_create={"mode": mode, "seconds": hang, "count": 1})
    instance = book.accept(stack.submit(alarm_params(1)))
    row = book.finish(timeout=30)
    assert row.tickets == 1
    stored = stack.row(instance)
    assert stored["adopted"] is True and stored["attempts"] == 1
    # Lost answers that may mean "created" are transient (a retry, after a lookup); an HTML 201 is
    # not worth a retry but still looked up at once.
    assert stored["retries_used"] == (1 if retried else 0)
    assert stack.sandbox.state()["create_calls"] == 1


def test_409_for_an_existing_open_ticket_is_adopted(stack: Any, ledger: Any) -> None:
    book = ledger("409 conflict -> lookup, adopt", expected_conflicts=1)
    # Someone (an earlier bridge, a person) already opened the alarm's ticket in Oceane.
    token = stack.sandbox.issue_token()
    existing = requests.post(
        stack.sandbox.tickets_url,
        json={
            "externalId": "12/345/2",
            "ticketType": "incident",
            "description": "opened by hand",
            "severity": "Major",
            "priority": "2",
        },
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=5,
    ).json()
    stack.worker()
    instance = book.accept(stack.submit(alarm_params(2)))
    book.finish(timeout=30)
    assert book.create_conflicts == 1  # the ledger saw the 409 it counts duplicates by
    stored = stack.row(instance)
    assert stored["ticket_id"] == existing["id"] and stored["adopted"] is True
    assert stored["retries_used"] == 0
