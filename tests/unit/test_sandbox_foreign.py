"""The sandbox plays a trouble-ticket server that is not Oceane.

Its list can ignore the externalId filter, ignore the offset, or list newest first, and it can hold
tickets opened by hand, without externalId; the real client then sees what it would see there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cli import sandbox as cli
from oceane_ticket.oceane.client import OceaneClient
from oceane_ticket.oceane.errors import LookupIncomplete
from oceane_ticket.sandbox.faults import FaultSpecError
from oceane_ticket.sandbox.protocol import ApiError
from oceane_ticket.sandbox.server import Sandbox, SandboxConfig
from tests.conftest import make_settings, wait_until

OURS = "12/345/7"


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(config=SandboxConfig(seed=3)) as sandbox:
        yield sandbox


def client_for(sb: Sandbox) -> OceaneClient:
    return OceaneClient(
        make_settings(base_url=sb.base_url, client_id="sandbox-client", client_secret="sandbox-secret", http_timeout=5)
    )


def listing(sb: Sandbox, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
    headers = {"Authorization": f"Bearer {sb.issue_token()}", "Accept": "application/json"}
    response = requests.get(sb.tickets_url, params=params, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    return response.json(), response.headers.get("X-Total-Count")


def test_hand_made_tickets_carry_no_external_id_and_block_nothing(sb: Sandbox) -> None:
    made = sb.add_hand_made_tickets(3)
    assert len(made) == 3 and all("externalId" not in t and t["status"] == "acknowledged" for t in made)
    assert listing(sb, externalId=OURS) == ([], "0")  # an honest filter hides them
    ticket = client_for(sb).create_ticket(
        {"externalId": OURS, "ticketType": "incident", "description": "d", "severity": "Major", "priority": "2"}
    )
    assert ticket.external_id == OURS and len(sb.tickets) == 4


def test_the_control_api_adds_hand_made_tickets_and_checks_its_input(sb: Sandbox) -> None:
    url = sb.base_url + "/_sandbox/hand-made-tickets"
    answer = requests.post(url, json={"count": 2, "externalId": "9/9/9", "status": "closed"}, timeout=5)
    assert answer.status_code == 201 and [t["externalId"] for t in answer.json()] == ["9/9/9"] * 2
    for bad in ({"count": 0}, {"count": "2"}, {"count": 1, "status": "open"}, {"count": 1, "colour": "red"}):
        refused = requests.post(url, json=bad, timeout=5)
        assert (refused.status_code, refused.json()["code"]) == (400, 24), bad
    assert len(sb.tickets) == 2
    with pytest.raises(ApiError):
        sb.add_hand_made_tickets(1, external_id="")


def test_a_list_that_ignores_filter_and_offset(sb: Sandbox) -> None:
    sb.add_hand_made_tickets(45)
    sb.set_faults(find_ignores_filter=True, find_ignores_offset=True)
    first, total = listing(sb, externalId=OURS, offset=0, limit=40)
    again, _ = listing(sb, externalId=OURS, offset=40, limit=40)
    assert (len(first), total) == (40, "45") and again == first


def test_newest_first(sb: Sandbox) -> None:
    sb.add_hand_made_tickets(3)
    sb.set_faults(find_ignores_filter=True, find_newest_first=True)
    newest_first, _ = listing(sb)
    assert [t["id"] for t in newest_first] == [t["id"] for t in reversed(sb.tickets)]


def test_list_settings_are_checked_and_survive_clearing_the_faults() -> None:
    config = SandboxConfig(find_ignores_offset=True, hand_made_tickets=2)
    with Sandbox(config=config) as sandbox:
        assert len(sandbox.tickets) == 2
        with pytest.raises(FaultSpecError, match="find_ignores_filter"):
            sandbox.set_faults(find_ignores_filter="yes")
        sandbox.set_faults(find_ignores_filter=True)
        cleared = sandbox.clear_faults()
        assert (cleared["find_ignores_offset"], cleared["find_ignores_filter"]) == (True, False)


def test_the_client_against_such_a_sandbox_never_adopts_a_stranger(sb: Sandbox) -> None:
    sb.add_hand_made_tickets(45)
    sb.set_faults(find_ignores_filter=True, find_ignores_offset=True)
    client = client_for(sb)
    with pytest.raises(LookupIncomplete):
        client.find_open_ticket(OURS)
    assert sb.state()["find_calls"] == 2


def test_cli_refuses_a_negative_hand_made_count(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    assert cli.run(parser.parse_args(["--port", "0", "--hand-made-tickets", "-1"])) == 2
    assert "--hand-made-tickets" in capsys.readouterr().err


def test_a_list_that_lags_behind_its_creates(sb: Sandbox) -> None:
    # What the lookup-before-create cannot tell from "none": the list, its total included, does not
    # show a ticket stored in its last lookup_lag seconds, while a second create is still refused.
    sb.set_faults(lookup_lag=0.5)
    body = {"externalId": OURS, "ticketType": "incident", "description": "d", "severity": "Major", "priority": "2"}
    client = client_for(sb)
    ticket = client.create_ticket(body)
    assert listing(sb, externalId=OURS) == ([], "0")
    assert client.find_open_ticket(OURS) is None  # "saw everything, found none"
    headers = {"Authorization": f"Bearer {sb.issue_token()}", "Accept": "application/json"}
    second = requests.post(sb.tickets_url, json=body, headers=headers, timeout=5)
    assert (second.status_code, second.json()["code"]) == (409, 29)
    shown = wait_until(lambda: listing(sb, externalId=OURS)[0], timeout=10, message="the ticket never showed")
    assert [t["id"] for t in shown] == [ticket.id]
    with pytest.raises(FaultSpecError, match="lookup_lag"):
        sb.set_faults(lookup_lag=-1)
    assert sb.clear_faults()["lookup_lag"] == 0
