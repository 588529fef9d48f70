"""The client in each dialect against a mocked HTTP layer (responses): bodies, errors, 202, lookups, tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from oceane_ticket.oceane.client import OceaneClient
from oceane_ticket.oceane.errors import Action, CreateAccepted, LookupIncomplete, OceaneError
from oceane_ticket.oceane.tokens import MemoryTokenStore
from oceane_ticket.settings import SettingsError
from tests.conftest import make_settings
from tests.unit.test_dialects import request

ORIGIN = "https://oceane.test"
BASES = {
    "oceane": ORIGIN,
    "tmf621-v4": ORIGIN + "/tmf-api/troubleTicket/v4",
    "tmf621-v5": ORIGIN + "/tmf-api/troubleTicket/v5",
}
TOKEN_URL = ORIGIN + "/oauth/v3/token"
OURS = "12/345/6789"
TMF = ("tmf621-v4", "tmf621-v5")


def client_for(name: str, **overrides: Any) -> OceaneClient:
    settings = make_settings(base_url=BASES[name], api_dialect=name, client_id="c", client_secret="s", **overrides)
    return OceaneClient(settings, MemoryTokenStore())


def tickets_url(name: str) -> str:
    return BASES[name] + "/troubleTicket"


def token(value: str = "tok-1") -> None:
    responses.post(TOKEN_URL, json={"access_token": value, "token_type": "Bearer", "expires_in": 3600})


def ticket(name: str, ticket_id: str, external_id: str | None = OURS, status: str = "acknowledged") -> dict[str, Any]:
    body: dict[str, Any] = {"id": ticket_id, "status": status, "creationDate": "2026-12-02T13:00:00Z"}
    if external_id is None:
        return body
    if name == "tmf621-v5":
        return body | {"externalIdentifier": [{"id": external_id, "owner": "DataMiner", "@type": "ExternalIdentifier"}]}
    return body | {"externalId": external_id}


def tmf_error(status: int, code: str, reason: str, message: str) -> dict[str, Any]:
    return {"@type": "Error", "code": code, "reason": reason, "message": message, "status": str(status)}


@pytest.mark.parametrize("name", BASES)
def test_the_token_url_default_is_right_for_each_base(name: str) -> None:
    assert client_for(name).settings.effective_token_url == TOKEN_URL
    explicit = client_for(name, token_url="https://sso.test/token").settings.effective_token_url
    assert explicit == "https://sso.test/token"


@pytest.mark.parametrize("name", BASES)
@responses.activate
def test_the_create_is_sent_in_the_dialect_with_its_media_type(name: str) -> None:
    token()
    responses.post(
        tickets_url(name), status=201, json=ticket(name, "T1"), content_type="application/json;charset=utf-8"
    )
    client = client_for(name)
    assert client.create_ticket(request()).id == "T1"
    sent = responses.calls[-1].request
    assert json.loads(sent.body) == client.dialect.create_body(request())
    assert sent.headers["Content-Type"] == client.dialect.media_type
    assert sent.headers["Accept"] == "application/json"


@pytest.mark.parametrize("name", TMF)
@responses.activate
def test_a_tmf_error_is_read_into_the_failed_requests_columns(name: str) -> None:
    token()
    responses.post(
        tickets_url(name),
        status=400,
        json=tmf_error(400, "ERR400", "Bad Request", "severity is required"),
        content_type="application/json;charset=utf-8",
    )
    with pytest.raises(OceaneError) as err:
        client_for(name).create_ticket(request())
    e = err.value
    assert (e.http_status, e.code, e.message, e.description, e.action) == (
        400,
        "ERR400",
        "Bad Request",
        "severity is required",
        Action.FAIL,
    )


@pytest.mark.parametrize("name", BASES)
@pytest.mark.parametrize("code", ["ERR401", "40", None])
@responses.activate
def test_a_401_without_orange_codes_renews_the_token_once_and_repeats(name: str, code: str | None) -> None:
    token("tok-1")
    token("tok-2")
    body = tmf_error(401, code, "Unauthorized", "token not valid") if code else {}
    responses.post(tickets_url(name), status=401, json=body)
    responses.post(tickets_url(name), status=201, json=ticket(name, "T1"))
    assert client_for(name).create_ticket(request()).id == "T1"
    creates = [c.request.headers["Authorization"] for c in responses.calls if c.request.url == tickets_url(name)]
    assert creates == ["Bearer tok-1", "Bearer tok-2"]


@pytest.mark.parametrize("name", TMF)
@responses.activate
def test_a_tmf_401_that_persists_fails_after_one_renewal(name: str) -> None:
    token("tok-1")
    token("tok-2")
    responses.post(tickets_url(name), status=401, json=tmf_error(401, "ERR401", "Unauthorized", "no"))
    with pytest.raises(OceaneError) as err:
        client_for(name).create_ticket(request())
    assert (err.value.code, err.value.action) == ("ERR401", Action.FAIL)
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 2


@pytest.mark.parametrize("name", TMF)
@pytest.mark.parametrize(("code", "renewals"), [("42", 2), ("41", 1)])
@responses.activate
def test_orange_codes_as_tmf_strings_keep_their_meaning(name: str, code: str, renewals: int) -> None:
    for n in range(3):
        token(f"tok-{n}")
    responses.post(tickets_url(name), status=401, json=tmf_error(401, code, "Unauthorized", "token"))
    with pytest.raises(OceaneError):
        client_for(name).create_ticket(request())
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 1 + renewals


@pytest.mark.parametrize("name", BASES)
@responses.activate
def test_a_202_without_a_body_must_be_looked_up(name: str) -> None:
    token()
    responses.post(tickets_url(name), status=202, body=b"")
    with pytest.raises(CreateAccepted) as err:
        client_for(name).create_ticket(request())
    assert (err.value.http_status, err.value.may_have_reached, err.value.transient) == (202, True, True)
    assert OURS in err.value.description


@pytest.mark.parametrize("name", BASES)
@pytest.mark.parametrize("answered", [None, "99/99/99"])
@responses.activate
def test_a_created_ticket_without_our_identifier_is_still_this_creates_ticket(name: str, answered: str | None) -> None:
    # v5 may not echo externalIdentifier; a server may rewrite it. The id is what it made for our
    # POST: the ticket is returned (and recorded), never created a second time.
    token()
    responses.post(tickets_url(name), status=201, json=ticket(name, "T7", answered))
    assert client_for(name).create_ticket(request()).id == "T7"


@pytest.mark.parametrize("media_type", ["application/json;charset=utf-8", "application/problem+json", "text/plain"])
@responses.activate
def test_any_media_type_with_a_json_body_is_read_as_json(media_type: str) -> None:
    token()
    responses.post(
        tickets_url("tmf621-v4"), status=201, body=json.dumps(ticket("tmf621-v4", "T1")), content_type=media_type
    )
    assert client_for("tmf621-v4").create_ticket(request()).id == "T1"


@pytest.mark.parametrize("name", BASES)
@responses.activate
def test_the_lookup_filters_on_the_dialects_attribute_and_keeps_exact_matches(name: str) -> None:
    token()
    parameter = client_for(name).dialect.lookup_parameter
    page = [ticket(name, "T1"), ticket(name, "T2", "12/345/67890"), ticket(name, "T3", None)]
    responses.get(
        tickets_url(name),
        json=page,
        match=[matchers.query_param_matcher({parameter: OURS, "offset": "0", "limit": "40"})],
    )
    lookup = client_for(name).find_tickets(OURS)
    assert ([t.id for t in lookup.tickets], lookup.complete) == (["T1"], True)


@pytest.mark.parametrize("name", TMF)
@responses.activate
def test_a_lookup_that_cannot_see_everything_is_never_read_as_not_there(name: str) -> None:
    # A server that ignores both the filter and the offset: the same full page again.
    token()
    page = [ticket(name, f"X{i}", f"1/1/{i}") for i in range(40)]
    responses.get(tickets_url(name), json=page)
    with pytest.raises(LookupIncomplete):
        client_for(name).find_open_ticket(OURS)


@pytest.mark.parametrize("name", BASES)
@responses.activate
def test_retrieve_reads_the_ticket_and_a_404_is_none(name: str) -> None:
    token()
    responses.get(tickets_url(name) + "/T1", json=ticket(name, "T1", status="resolved"))
    responses.get(tickets_url(name) + "/T2", status=404, json=tmf_error(404, "ERR404", "Not Found", "no ticket"))
    client = client_for(name)
    found = client.get_ticket("T1")
    assert found is not None and (found.status, found.external_id, found.is_open) == ("resolved", OURS, False)
    assert client.get_ticket("T2") is None


def test_bad_dialect_and_priority_map_settings_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="OCEANE_API_DIALECT"):
        make_settings(api_dialect="tmf621")
    with pytest.raises(SettingsError, match="OCEANE_PRIORITY_MAP"):
        make_settings(priority_map="9=Critical")
    assert make_settings(priority_map="1=Critical,2=High").priority_map == {"1": "Critical", "2": "High"}


@pytest.mark.parametrize("name", TMF)
@responses.activate
def test_a_token_url_that_is_not_there_names_the_setting_to_give(name: str) -> None:
    responses.post(TOKEN_URL, status=404, json=tmf_error(404, "ERR404", "Not Found", "no such path"))
    with pytest.raises(OceaneError) as err:
        client_for(name).fetch_token()
    assert "OCEANE_TOKEN_URL" in err.value.description and TOKEN_URL in err.value.description
