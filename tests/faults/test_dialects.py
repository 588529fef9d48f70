"""The create, lookup, adoption and status rows of the fault matrix in each wire dialect.

The same worker against the sandbox speaking ``oceane`` (our contract), ``tmf621-v4`` and
``tmf621-v5`` (TMF621 as TM Forum publishes it, strict: a body missing a required field is refused
with a TMF error). Each row: 0 lost, 0 duplicates. The lock scope comes from ``--lock-scopes``
like every scenario; the dialect is a parameter of this module (its ``sandbox`` and
``settings_for`` fixtures replace the suite's for it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from oceane_ticket.oceane.dialects import DIALECT_NAMES
from tests.conftest import make_settings, wait_until
from tests.faults.kit import PATIENCE, alarm_params
from tests.faults.ledger import ticket_external_id

pytestmark = pytest.mark.integration


@pytest.fixture(params=DIALECT_NAMES)
def dialect_name(request: pytest.FixtureRequest) -> str:
    """OCEANE_API_DIALECT of this run of the row."""
    return str(request.param)


@pytest.fixture
def sandbox(dialect_name: str) -> Iterator[Any]:
    """A fresh sandbox speaking ``dialect_name`` on a free loopback port."""
    from oceane_ticket.sandbox.server import Sandbox

    server = Sandbox(
        host="127.0.0.1", port=0, client_id="sandbox-client", client_secret="sandbox-secret", dialect=dialect_name
    )
    with server as sb:
        yield sb


@pytest.fixture
def settings_for(redis_url: str, clean_pg: str, sandbox: Any, dialect_name: str) -> Any:
    """The suite's settings, in ``dialect_name``, at the sandbox's API base."""

    def build(**overrides: Any) -> Any:
        values = {
            "redis_url": redis_url,
            "database_url": clean_pg,
            "base_url": sandbox.base_url,  # the API's base path in a TMF dialect
            "ticket_url_template": sandbox.ticket_url_template(),
            "api_dialect": dialect_name,
            "queue": "oceane.tests",
            "http_timeout": 2.0,
            "lock_timeout": 30.0,
        }
        return make_settings(**(values | overrides))

    return build


def external(alarm: int) -> str:
    return f"12/345/{alarm}"


def test_create(stack: Any, ledger: Any, dialect_name: str) -> None:
    book = ledger(f"{dialect_name}: create")
    stack.worker()
    instance = book.accept(stack.submit(alarm_params(1)))
    row = book.finish(timeout=30)
    assert row.tickets == 1
    [ticket] = stack.sandbox.tickets
    assert ticket_external_id(ticket) == external(1)
    stored = stack.row(instance)
    assert (stored["ticket_id"], stored["adopted"], stored["attempts"]) == (ticket["id"], False, 1)


@pytest.mark.slow
def test_lookup_after_a_lost_answer(stack: Any, ledger: Any, dialect_name: str) -> None:
    # The ticket is stored, the answer hangs past the read timeout: the retry looks the alarm up
    # (v4 externalId, v5 externalIdentifier.id) and adopts, never creates again.
    book = ledger(f"{dialect_name}: create stored, answer lost -> lookup, adopt")
    stack.worker()
    stack.sandbox.set_faults(after_create={"mode": "hang", "seconds": 6 * stack.settings.http_timeout, "count": 1})
    instance = book.accept(stack.submit(alarm_params(2)))
    row = book.finish(timeout=30)
    assert row.tickets == 1
    stored = stack.row(instance)
    assert (stored["adopted"], stored["attempts"]) == (True, 1)
    assert stack.sandbox.state()["create_calls"] == 1


@pytest.mark.slow
def test_adoption_after_a_202_without_a_body(stack: Any, ledger: Any, dialect_name: str) -> None:
    # 202 Accepted and no body (v5 createTroubleTicket declares it): the ticket exists but we were
    # not told its id; it is looked up and adopted before anything is sent again.
    book = ledger(f"{dialect_name}: 202 without a body -> lookup, adopt")
    stack.worker()
    stack.sandbox.set_faults(accept_no_body={"count": 1})  # the ticket is stored, the answer is 202 and empty
    instance = book.accept(stack.submit(alarm_params(3)))
    row = book.finish(timeout=30)
    assert row.tickets == 1
    assert stack.row(instance)["adopted"] is True
    assert stack.sandbox.state()["create_calls"] == 1


@pytest.mark.slow
def test_lookup_on_a_server_that_ignores_the_filter(stack: Any, ledger: Any, dialect_name: str) -> None:
    # Tickets made by hand, a list that ignores the filter: only our exact identifier is adopted.
    foreign = {t["id"] for t in stack.sandbox.add_hand_made_tickets(5)}
    stack.sandbox.set_faults(find_ignores_filter=True)
    book = ledger(f"{dialect_name}: filter ignored, answer lost -> exact match adopted")
    book.sandbox = _OursOnly(stack.sandbox, foreign)
    stack.worker()
    stack.sandbox.set_faults(after_create={"mode": "reset", "count": 1})
    instance = book.accept(stack.submit(alarm_params(4)))
    book.finish(timeout=30)
    stored = stack.row(instance)
    assert stored["ticket_id"] not in foreign and stored["adopted"] is True


@pytest.mark.slow
def test_status_poll_reads_the_ticket_in_the_dialect(stack: Any, ledger: Any, dialect_name: str) -> None:
    stack.configure(status_poll_interval=1.0)
    book = ledger(f"{dialect_name}: status poll")
    stack.worker()
    stack.beat()
    instance = book.accept(stack.submit(alarm_params(5)))
    book.finish(timeout=30)
    ticket_id = stack.row(instance)["ticket_id"]
    stack.sandbox.set_status(ticket_id, "resolved")
    wait_until(
        lambda: stack.row(instance)["oceane_status"] == "resolved",
        timeout=PATIENCE,
        message=f"the poll never read {ticket_id} resolved",
    )


class _OursOnly:
    """The sandbox as the ledger counts it: hand-made tickets are not the scenario's."""

    def __init__(self, sandbox: Any, foreign: set[str]) -> None:
        self.sandbox = sandbox
        self.foreign = foreign

    @property
    def tickets(self) -> list[dict[str, Any]]:
        return [t for t in self.sandbox.tickets if t["id"] not in self.foreign]

    def state(self) -> dict[str, Any]:
        return dict(self.sandbox.state())
