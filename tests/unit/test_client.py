"""The Oceane client against a mocked HTTP layer (responses): one case per row of the contract table."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from responses import matchers

from oceane_ticket.oceane.client import OceaneClient
from oceane_ticket.oceane.errors import Action, OceaneError
from oceane_ticket.oceane.tokens import MemoryTokenStore, Token
from tests.conftest import make_settings

BASE = "https://oceane.test"
TOKEN_URL = BASE + "/oauth/v3/token"
TICKETS = BASE + "/troubleTicket"
TICKET = {
    "id": "2106M80375",
    "href": "/troubleTicket/2106M80375",
    "status": "acknowledged",
    "externalId": "1/2/3",
    "creationDate": "2026-11-27T08:12:00Z",
}


def token_body(value: str = "tok-1", expires_in: object = 3600) -> dict:
    return {"token_type": "Bearer", "access_token": value, "expires_in": expires_in}


@pytest.fixture
def client() -> OceaneClient:
    return OceaneClient(make_settings(base_url=BASE, client_id="cid", client_secret="csecret"), MemoryTokenStore())


def error(status: int, code: int, message: str = "m", description: str = "d", **headers: str) -> responses.Response:
    return responses.Response(
        "POST",
        TICKETS,
        status=status,
        headers=headers,
        json={"code": code, "message": message, "description": description},
    )


@responses.activate
def test_token_request_follows_the_contract_and_is_reused(client: OceaneClient) -> None:
    responses.post(
        TOKEN_URL,
        json=token_body(expires_in="3600"),
        match=[
            matchers.header_matcher(
                {"Accept": "application/json", "Authorization": "Basic Y2lkOmNzZWNyZXQ="}
            ),  # base64("cid:csecret")
            matchers.urlencoded_params_matcher({"grant_type": "client_credentials"}),
        ],
    )
    responses.post(TICKETS, status=201, json=TICKET, match=[matchers.header_matcher({"Authorization": "Bearer tok-1"})])
    assert client.create_ticket({"externalId": "1/2/3"}).id == "2106M80375"
    assert client.create_ticket({"externalId": "1/2/3"}).id == "2106M80375"
    token_calls = [c for c in responses.calls if c.request.url == TOKEN_URL]
    assert len(token_calls) == 1
    assert 3500 < client.tokens.get().seconds_left <= 3601  # the string expires_in was understood (oauthlib rounds)


@responses.activate
def test_expired_token_code_42_renews_and_repeats(client: OceaneClient) -> None:
    responses.post(TOKEN_URL, json=token_body("tok-1"))
    responses.post(TOKEN_URL, json=token_body("tok-2"))
    responses.add(error(401, 42, "Expired credentials"))
    responses.post(TICKETS, status=201, json=TICKET)
    assert client.create_ticket({}).id == TICKET["id"]
    creates = [c for c in responses.calls if c.request.url == TICKETS]
    assert [c.request.headers["Authorization"] for c in creates] == ["Bearer tok-1", "Bearer tok-2"]


@responses.activate
def test_invalid_credentials_code_41_gets_one_new_token_then_fails(client: OceaneClient) -> None:
    responses.post(TOKEN_URL, json=token_body("tok-1"))
    responses.post(TOKEN_URL, json=token_body("tok-2"))
    responses.add(error(401, 41, "Invalid credentials"))
    responses.add(error(401, 41, "Invalid credentials"))
    with pytest.raises(OceaneError) as err:
        client.create_ticket({})
    assert (err.value.http_status, err.value.code, err.value.action) == (401, "41", Action.FAIL)
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 2


@pytest.mark.parametrize(
    ("status", "code", "action"),
    [
        (400, 24, Action.FAIL),
        (401, 40, Action.FAIL),
        (403, 50, Action.FAIL),
        (404, 60, Action.FAIL),
        (409, 29, Action.ADOPT),
        (429, 53, Action.RETRY),
        (500, 1, Action.RETRY),
        (503, 5, Action.RETRY),
    ],
)
@responses.activate
def test_each_error_row_of_the_contract(client: OceaneClient, status: int, code: int, action: Action) -> None:
    responses.post(TOKEN_URL, json=token_body())
    responses.add(error(status, code, "short", "long text", **({"Retry-After": "7"} if status == 429 else {})))
    with pytest.raises(OceaneError) as err:
        client.create_ticket({})
    e = err.value
    assert (e.http_status, e.code, e.message, e.description, e.action) == (
        status,
        str(code),
        "short",
        "long text",
        action,
    )
    assert e.retry_after == (7.0 if status == 429 else None)


@responses.activate
def test_html_error_page_becomes_a_readable_transient_failure(client: OceaneClient) -> None:
    responses.post(TOKEN_URL, json=token_body())
    responses.post(
        TICKETS,
        status=502,
        body="<html><head><title>502 Bad Gateway</title></head><body>x</body></html>",
        content_type="text/html",
    )
    with pytest.raises(OceaneError) as err:
        client.create_ticket({})
    assert err.value.action is Action.RETRY
    assert err.value.description == "HTML page: 502 Bad Gateway"


@responses.activate
def test_created_with_a_garbage_body_may_have_reached_oceane(client: OceaneClient) -> None:
    responses.post(TOKEN_URL, json=token_body())
    responses.post(TICKETS, status=201, body="{not json")
    with pytest.raises(OceaneError) as err:
        client.create_ticket({})
    assert err.value.may_have_reached and not err.value.transient
    assert "non-JSON body" in err.value.description


@pytest.mark.parametrize(
    ("exc", "reached"),
    [
        (requests.ConnectTimeout("x"), False),
        (requests.ReadTimeout("x"), True),
        (requests.ConnectionError("reset"), True),
    ],
)
@responses.activate
def test_no_answer_is_transient_and_says_whether_the_create_may_have_landed(
    client: OceaneClient, exc: Exception, reached: bool
) -> None:
    responses.post(TOKEN_URL, json=token_body())
    responses.post(TICKETS, body=exc)
    with pytest.raises(OceaneError) as err:
        client.create_ticket({})
    assert (err.value.http_status, err.value.action, err.value.may_have_reached) == (0, Action.RETRY, reached)


@responses.activate
def test_token_endpoint_errors_carry_oceane_s_four_values(client: OceaneClient) -> None:
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "bad secret"})
    with pytest.raises(OceaneError) as err:
        client.fetch_token()
    assert (err.value.http_status, err.value.message, err.value.description) == (401, "invalid_client", "bad secret")
    assert "csecret" not in str(err.value)


@responses.activate
def test_token_406_code_62(client: OceaneClient) -> None:
    responses.post(TOKEN_URL, status=406, json={"code": 62, "message": "Not acceptable", "description": "Accept"})
    with pytest.raises(OceaneError) as err:
        client.fetch_token()
    assert (err.value.http_status, err.value.code) == (406, "62")


@responses.activate
def test_find_open_ticket_pages_and_ignores_closed_ones(client: OceaneClient) -> None:
    responses.post(TOKEN_URL, json=token_body())
    closed = [dict(TICKET, id=f"C{i}", status="closed") for i in range(40)]
    responses.get(
        TICKETS,
        json=closed,
        match=[matchers.query_param_matcher({"externalId": "1/2/3", "offset": "0", "limit": "40"})],
    )
    responses.get(
        TICKETS,
        json=[dict(TICKET, id="OPEN1")],
        match=[matchers.query_param_matcher({"externalId": "1/2/3", "offset": "40", "limit": "40"})],
    )
    found = client.find_open_ticket("1/2/3")
    assert found is not None and found.id == "OPEN1"


def test_token_and_client_reprs_hide_secrets(client: OceaneClient) -> None:
    assert "tok-secret" not in repr(Token("tok-secret", 0.0))
    assert "csecret" not in repr(client)
    assert json.dumps({"r": repr(client.settings)}).find("csecret") == -1


def test_shared_token_replaced_elsewhere_is_picked_up_after_a_rejection() -> None:
    # Each worker process keeps the shared token in memory. When another process replaced it
    # (Oceane rejected the old one there), this process's next call is rejected too, discards
    # its copy and reads the new shared one instead of fetching a third.
    import time

    import fakeredis

    from oceane_ticket.oceane.tokens import RedisTokenStore

    redis = fakeredis.FakeRedis()
    here, elsewhere = RedisTokenStore(redis), RedisTokenStore(redis)
    old, new = Token("tok-old", time.time() + 3600), Token("tok-new", time.time() + 3600)
    elsewhere.put(old)
    assert here.get() == old
    elsewhere.discard(old)
    elsewhere.put(new)
    here.discard(old)  # a 401 here
    assert here.get() == new
    here.discard(new)
    assert here.get() is None


@responses.activate
def test_a_netrc_entry_does_not_replace_the_bearer_token(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # requests would let ~/.netrc credentials for the host override the Authorization header.
    (tmp_path / ".netrc").write_text("machine oceane.test login someone password not-the-token\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    client = OceaneClient(make_settings(base_url=BASE, client_id="cid", client_secret="csecret"), MemoryTokenStore())
    responses.add("POST", TOKEN_URL, json=token_body("tok-1"))
    responses.add("POST", TICKETS, json=TICKET, status=201)
    client.create_ticket({"externalId": "1/2/3"})
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer tok-1"
