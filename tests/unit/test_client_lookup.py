"""The Oceane client against a server that is not ours (responses mocks).

Only a ticket carrying our exact externalId is ours; paging stops at the announced total, at a
repeated page, at a short page or at the page cap, and says whether it saw everything; the other
answers the client used to trust (the created ticket, status values, ``expires_in``) are either
verified or tolerated on purpose.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest
import responses
from responses import matchers

from oceane_ticket.oceane.client import MAX_FIND_PAGES, PAGE_SIZE, OceaneClient
from oceane_ticket.oceane.errors import Action, LookupIncomplete
from oceane_ticket.oceane.tokens import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    MIN_TOKEN_LIFETIME,
    MemoryTokenStore,
)
from tests.conftest import make_settings

BASE = "https://oceane.test"
TOKEN_URL = BASE + "/oauth/v3/token"
TICKETS = BASE + "/troubleTicket"
OURS = "12/345/7"


def ticket(number: int, external_id: str | None = None, status: str = "acknowledged", day: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"2611M{number:05d}",
        "status": status,
        "creationDate": f"2026-11-{day:02d}T08:00:00Z",
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body


def hand_made(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Tickets somebody opened in Oceane's interface: open, and without externalId."""
    return [ticket(start + i) for i in range(count)]


def page(offset: int, body: list[dict[str, Any]], total: int | None = None) -> None:
    headers = {} if total is None else {"X-Total-Count": str(total), "X-Result-Count": str(len(body))}
    responses.get(
        TICKETS,
        json=body,
        headers=headers,
        match=[matchers.query_param_matcher({"externalId": OURS, "offset": str(offset), "limit": str(PAGE_SIZE)})],
    )


def list_calls() -> int:
    return sum(1 for c in responses.calls if c.request.url and c.request.url.startswith(TICKETS + "?"))


@pytest.fixture
def client() -> OceaneClient:
    settings = make_settings(base_url=BASE, client_id="cid", client_secret="csecret")
    return OceaneClient(settings, MemoryTokenStore())


@pytest.fixture(autouse=True)
def token_endpoint() -> Any:
    # The module-level mock, so that page() and the tests add to the same registry.
    responses.start()
    responses.post(TOKEN_URL, json={"token_type": "Bearer", "access_token": "tok", "expires_in": 3600})
    yield responses.mock
    responses.stop()
    responses.reset()


# --- whose ticket it is ---


def test_a_ticket_without_external_id_is_never_ours(client: OceaneClient) -> None:
    page(0, [*hand_made(3), ticket(90, "12/345/8")], total=4)
    lookup = client.find_tickets(OURS)
    assert (lookup.tickets, lookup.complete, lookup.seen) == ([], True, 4)
    assert client.find_open_ticket(OURS) is None


def test_only_our_external_id_is_adopted_among_strangers(client: OceaneClient) -> None:
    page(0, [*hand_made(3), ticket(50, OURS, "closed", day=2), ticket(51, OURS, day=3), ticket(52, "12/345")])
    found = client.find_open_ticket(OURS)
    assert found is not None and found.id == "2611M00051"
    assert [t.id for t in client.find_tickets(OURS).tickets] == ["2611M00051", "2611M00050"]  # newest first


@pytest.mark.parametrize(
    ("status", "adopted"),
    [("inProgress", True), ("INPROGRESS", True), ("open", True), ("", True), ("Closed", False), ("resolved", False)],
)
def test_status_values_outside_tmf621_count_as_open(client: OceaneClient, status: str, adopted: bool) -> None:
    # Adopting a ticket of ours whose status we cannot read is safe; creating beside it is not.
    page(0, [ticket(1, OURS, status)])
    assert (client.find_open_ticket(OURS) is not None) is adopted


# --- paging stops ---


def test_paging_stops_at_the_announced_total(client: OceaneClient) -> None:
    everything = [*hand_made(44), ticket(99, OURS)]
    page(0, everything[:40], total=45)
    page(40, everything[40:], total=45)
    lookup = client.find_tickets(OURS)
    assert (lookup.complete, lookup.pages, lookup.seen, lookup.total) == (True, 2, 45, 45)
    assert [t.id for t in lookup.tickets] == ["2611M00099"]


def test_a_full_last_page_that_reaches_the_total_asks_no_further(client: OceaneClient) -> None:
    page(0, hand_made(40), total=40)
    assert client.find_tickets(OURS).complete
    assert list_calls() == 1


def test_a_repeated_page_stops_paging_incomplete_and_is_logged_once(
    client: OceaneClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The server ignores offset (and the filter): every page is the same first 40 of 45.
    for offset in (0, 40):
        page(offset, hand_made(40), total=45)
    caplog.set_level(logging.WARNING, logger="oceane_ticket.oceane")
    for _ in range(3):
        lookup = client.find_tickets(OURS)
        assert (lookup.complete, lookup.pages, lookup.seen, lookup.tickets) == (False, 2, 40, [])
    assert list_calls() == 6
    # One warning per kind of misbehaviour (offset, filter) for the client's life, not per lookup.
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_a_repeated_page_without_a_total_stops_too(client: OceaneClient) -> None:
    for offset in (0, 40):
        page(offset, hand_made(40))
    lookup = client.find_tickets(OURS)
    assert (lookup.complete, lookup.pages) == (False, 2)


def test_a_short_page_without_a_total_is_the_last(client: OceaneClient) -> None:
    page(0, hand_made(40))
    page(40, hand_made(5, start=40))
    lookup = client.find_tickets(OURS)
    assert (lookup.complete, lookup.pages, lookup.seen) == (True, 2, 45)


def test_pages_smaller_than_asked_move_the_offset_by_what_came(client: OceaneClient) -> None:
    # A server that caps pages at 20: the total, not the short page, says there is more.
    everything = hand_made(45)
    for offset in (0, 20, 40):
        page(offset, everything[offset : offset + 20], total=45)
    lookup = client.find_tickets(OURS)
    assert (lookup.complete, lookup.pages, lookup.seen) == (True, 3, 45)


def test_an_empty_page_before_the_announced_total_is_incomplete(client: OceaneClient) -> None:
    page(0, hand_made(40), total=100)
    page(40, [], total=100)
    lookup = client.find_tickets(OURS)
    assert (lookup.complete, lookup.pages, lookup.seen) == (False, 2, 40)


def test_endless_new_pages_stop_at_the_page_cap(client: OceaneClient) -> None:
    for n in range(MAX_FIND_PAGES + 2):
        page(n * PAGE_SIZE, hand_made(PAGE_SIZE, start=n * PAGE_SIZE))
    lookup = client.find_tickets(OURS)
    assert (lookup.complete, lookup.pages, lookup.seen) == (False, MAX_FIND_PAGES, MAX_FIND_PAGES * PAGE_SIZE)
    assert list_calls() == MAX_FIND_PAGES


# --- what an incomplete lookup means for the caller ---


def test_an_incomplete_lookup_that_finds_nothing_raises_lookup_incomplete(client: OceaneClient) -> None:
    for offset in (0, 40):
        page(offset, hand_made(40), total=45)
    with pytest.raises(LookupIncomplete) as unsure:
        client.find_open_ticket(OURS)
    assert unsure.value.action is Action.RETRY and unsure.value.transient
    assert (unsure.value.http_status, unsure.value.code) == (200, "")
    assert OURS in unsure.value.description


def test_an_incomplete_lookup_that_finds_ours_adopts_it(client: OceaneClient) -> None:
    first = [ticket(7, OURS), *hand_made(39)]
    for offset in (0, 40):
        page(offset, first, total=45)
    found = client.find_open_ticket(OURS)
    assert found is not None and found.id == "2611M00007"


# --- the other answers the client relied on ---


def test_a_create_answer_naming_another_alarm_is_recorded_never_created_again(client: OceaneClient) -> None:
    # The server made this ticket for our POST, whatever it says its externalId is: recording it is
    # what keeps a retry from creating a second one.
    responses.post(TICKETS, status=201, json=ticket(5, "99/99/99"))
    assert client.create_ticket({"externalId": OURS}).id == "2611M00005"


def test_a_create_answer_without_external_id_is_accepted(client: OceaneClient) -> None:
    responses.post(TICKETS, status=201, json=ticket(5))
    assert client.create_ticket({"externalId": OURS}).id == "2611M00005"


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (None, DEFAULT_TOKEN_LIFETIME),
        (-5, DEFAULT_TOKEN_LIFETIME),
        (0, DEFAULT_TOKEN_LIFETIME),
        ("soon", DEFAULT_TOKEN_LIFETIME),
        ("inf", DEFAULT_TOKEN_LIFETIME),
        (True, DEFAULT_TOKEN_LIFETIME),
        (5, MIN_TOKEN_LIFETIME),
        (10**12, MAX_TOKEN_LIFETIME),
        ("1800", 1800),
    ],
)
def test_expires_in_is_clamped_to_a_sane_lifetime(
    client: OceaneClient, token_endpoint: Any, expires_in: object, lifetime: int
) -> None:
    body: dict[str, Any] = {"token_type": "Bearer", "access_token": "tok-2"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    token_endpoint.replace(responses.POST, TOKEN_URL, json=body)
    token = client.fetch_token()
    assert lifetime - 5 < token.seconds_left <= lifetime + 1
    assert client.tokens.get() == token  # shared: it is not fetched again for every call


def test_plain_http_token_fetch_leaves_the_environment_alone() -> None:
    local = "http://127.0.0.1:8999"
    previous = os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
    try:
        responses.post(local + "/oauth/v3/token", json={"access_token": "t", "expires_in": 3600})
        http_client = OceaneClient(make_settings(base_url=local, client_id="c", client_secret="s"))
        assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ
        assert http_client.fetch_token().access_token == "t"  # oauthlib accepted the plain-HTTP URL
        assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ
    finally:
        if previous is not None:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = previous
