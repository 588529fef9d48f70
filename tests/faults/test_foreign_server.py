"""A real worker against a trouble-ticket server that is not Oceane.

The sandbox plays a TMF621 server whose list ignores the ``externalId`` filter and the ``offset``,
and which holds 45 tickets opened by hand (open, without ``externalId``). The worker must never
adopt one of them, never page forever, and keep exactly-once: a create refused with a 503 is
created on its retry; a create whose answer was lost is adopted when the lookup can see it, and
otherwise fails readably rather than being sent twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.kit import alarm_params

pytestmark = pytest.mark.integration

HAND_MADE = 45
# A lookup against this server is two list requests (the second repeats the first page): far
# below this bound (a runaway pager would reach it) even with one lookup per retry.
MAX_LIST_REQUESTS = 50


class OursOnly:
    """The sandbox as the ledger should count it: the hand-made tickets are not the scenario's."""

    def __init__(self, sandbox: Any, foreign: set[str]) -> None:
        self.sandbox = sandbox
        self.foreign = foreign

    @property
    def tickets(self) -> list[dict[str, Any]]:
        return [t for t in self.sandbox.tickets if t["id"] not in self.foreign]

    def state(self) -> dict[str, Any]:
        # The counters (409s among them) are the scenario's: hand-made tickets never cause a conflict.
        return dict(self.sandbox.state())


def foreign_server(stack: Any, book: Any, *, newest_first: bool = False) -> set[str]:
    """Make the sandbox a filter- and offset-ignoring server holding 45 tickets made by hand."""
    foreign = {t["id"] for t in stack.sandbox.add_hand_made_tickets(HAND_MADE)}
    stack.sandbox.set_faults(find_ignores_filter=True, find_ignores_offset=True, find_newest_first=newest_first)
    book.sandbox = OursOnly(stack.sandbox, foreign)
    return foreign


def assert_no_stranger_adopted(stack: Any, instance: str, foreign: set[str]) -> None:
    row = stack.row(instance)
    assert row["ticket_id"] not in foreign, f"adopted a ticket made by hand: {row}"
    assert all(t.get("externalId") is None for t in stack.sandbox.tickets if t["id"] in foreign)


def test_503_then_retry_creates_a_new_ticket_among_strangers(stack: Any, ledger: Any) -> None:
    book = ledger(f"filter+offset ignored, {HAND_MADE} by hand; 503 then retry -> created, no stranger adopted")
    foreign = foreign_server(stack, book)
    stack.worker()
    stack.sandbox.force(503, 5, group="create", count=1)
    instance = book.accept(stack.submit(alarm_params(7)))
    row = book.finish(timeout=60)
    assert row.tickets == 1
    stored = stack.row(instance)
    assert (stored["status"], stored["adopted"], stored["attempts"]) == ("created", False, 2)
    ticket = stack.sandbox.get_ticket(stored["ticket_id"])
    assert ticket is not None and ticket["externalId"] == "12/345/7"
    assert_no_stranger_adopted(stack, instance, foreign)
    state = stack.sandbox.state()
    assert state["create_calls"] == 2
    assert 0 < state["find_calls"] < MAX_LIST_REQUESTS


def test_timeout_after_commit_unseen_fails_readably_not_twice(stack: Any, ledger: Any) -> None:
    # Oldest first: our ticket is the 46th and never on the one page this server shows.
    book = ledger(f"filter+offset ignored, {HAND_MADE} by hand; timeout after commit, unseen -> failed, not re-sent")
    foreign = foreign_server(stack, book)
    stack.worker()
    # A hang well past the worker's read timeout: the answer is lost after Oceane stored the ticket.
    stack.sandbox.set_faults(after_create={"mode": "hang", "seconds": 6 * stack.settings.http_timeout, "count": 1})
    instance = book.accept(stack.submit(alarm_params(8)), expect="failed")
    row = book.finish(timeout=60)
    assert row.tickets == 1  # the one the lost answer created, and no second
    failures = book.failures()
    assert [(f["http_error_code"], f["error_message"]) for f in failures] == [
        (0, "Timeout"),
        (200, "Lookup incomplete"),
    ]
    assert "12/345/8" in failures[-1]["error_description"]
    assert_no_stranger_adopted(stack, instance, foreign)
    state = stack.sandbox.state()
    assert state["create_calls"] == 1
    assert 0 < state["find_calls"] < MAX_LIST_REQUESTS


def test_timeout_after_commit_seen_on_the_first_page_is_adopted(stack: Any, ledger: Any) -> None:
    # Newest first: our ticket heads the one page this server shows, among 40 strangers.
    book = ledger(f"filter+offset ignored, {HAND_MADE} by hand, newest first; timeout after commit -> adopted")
    foreign = foreign_server(stack, book, newest_first=True)
    stack.worker()
    # A hang well past the worker's read timeout: the answer is lost after Oceane stored the ticket.
    stack.sandbox.set_faults(after_create={"mode": "hang", "seconds": 6 * stack.settings.http_timeout, "count": 1})
    instance = book.accept(stack.submit(alarm_params(9)))
    row = book.finish(timeout=60)
    assert row.tickets == 1
    stored = stack.row(instance)
    assert (stored["status"], stored["adopted"], stored["attempts"]) == ("created", True, 1)
    assert_no_stranger_adopted(stack, instance, foreign)
    state = stack.sandbox.state()
    assert state["create_calls"] == 1
    assert 0 < state["find_calls"] < MAX_LIST_REQUESTS
