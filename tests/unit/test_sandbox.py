"""The sandbox speaks the wire contract (docs/oceane-api.md) and its faults behave as documented.

Over 400 lines on purpose: the wire contract's sections (token, create, find, faults) against one module-
wide sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from oceane_ticket.sandbox.server import Sandbox, SandboxConfig

CLIENT = ("sandbox-client", "sandbox-secret")
ID_PATTERN = re.compile(r"^\d{2}(0[1-9]|1[0-2])M\d{5}$")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox(config=SandboxConfig(seed=7)) as sandbox:
        yield sandbox


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get_token(sb: Sandbox, http: requests.Session) -> str:
    response = http.post(
        sb.token_url,
        auth=CLIENT,
        data={"grant_type": "client_credentials"},
        headers={"Accept": "application/json"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def ticket(external_id: str = "12/345/67890", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalId": external_id,
        "ticketType": "incident",
        "description": "Signal lost on encoder",
        "priority": "2",
        "severity": "Major",
        "characteristic": [{"name": "urgency", "value": "High"}, {"name": "clientImpact", "value": "Minor"}],
        "relatedParty": [{"id": "U1", "role": "reporter", "@referredType": "Individual"}],
        "relatedEntity": [{"id": "12/345", "name": "Encoder 1", "role": "impactedResource"}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def create(sb: Sandbox, http: requests.Session, body: Any = None, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", bearer(get_token(sb, http)))
    kwargs.setdefault("timeout", 5)
    return http.post(sb.tickets_url, json=ticket() if body is None else body, **kwargs)


def assert_error(response: requests.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["description"], str) and body["description"]


# --- token ---


def test_token_success(sb: Sandbox, http: requests.Session) -> None:
    response = http.post(
        sb.token_url, auth=CLIENT, data={"grant_type": "client_credentials", "scope": "tickets"}, timeout=5
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) >= 20
    assert sb.state()["token_calls"] == 1


@pytest.mark.parametrize(
    "auth_header",
    [None, "Basic " + "c2FuZGJveC1jbGllbnQ6d3Jvbmc=", "Basic !!!notbase64", "Bearer abc"],
    ids=["missing", "wrong-secret", "garbage", "wrong-scheme"],
)
def test_token_bad_client_is_401_invalid_client(sb: Sandbox, http: requests.Session, auth_header: str | None) -> None:
    headers = {"Accept": "application/json", "Authorization": auth_header}
    response = http.post(sb.token_url, data={"grant_type": "client_credentials"}, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "error_description" in response.json()


@pytest.mark.parametrize(
    ("data", "error"),
    [({"grant_type": "password"}, "unsupported_grant_type"), ({"scope": "x"}, "invalid_request")],
)
def test_token_bad_grant_is_400(sb: Sandbox, http: requests.Session, data: dict[str, str], error: str) -> None:
    response = http.post(sb.token_url, auth=CLIENT, data=data, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_token_needs_a_form_body(sb: Sandbox, http: requests.Session) -> None:
    response = http.post(sb.token_url, auth=CLIENT, json={"grant_type": "client_credentials"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("accept", [None, "text/html", "application/json;q=0"])
def test_token_without_json_accept_is_406_code_62(sb: Sandbox, http: requests.Session, accept: str | None) -> None:
    response = http.post(
        sb.token_url, auth=CLIENT, data={"grant_type": "client_credentials"}, headers={"Accept": accept}
    )
    assert_error(response, 406, 62)


def test_token_expires_in_as_string(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(expires_in_as_string=True, token_lifetime=120)
    response = http.post(sb.token_url, auth=CLIENT, data={"grant_type": "client_credentials"}, timeout=5)
    assert response.json()["expires_in"] == "120"


# --- create ---


def test_create_returns_the_whole_ticket(sb: Sandbox, http: requests.Session) -> None:
    sent = ticket()
    response = create(sb, http, sent)
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert ID_PATTERN.match(body["id"])
    assert body["id"].startswith(datetime.now(UTC).strftime("%y%m"))
    assert body["href"] == f"/troubleTicket/{body['id']}"
    assert response.headers["Location"] == body["href"]
    assert body["status"] == "acknowledged"
    assert ISO_Z.match(body["creationDate"]) and ISO_Z.match(body["lastUpdate"])
    assert {k: body[k] for k in sent} == sent
    assert sb.tickets == [body]
    assert sb.state()["tickets_created"] == 1


def test_ticket_ids_are_unique(sb: Sandbox, http: requests.Session) -> None:
    headers = bearer(get_token(sb, http))
    ids = {
        http.post(sb.tickets_url, json=ticket(f"1/1/{n}"), headers=headers, timeout=5).json()["id"] for n in range(30)
    }
    assert len(ids) == 30


MISSING = {name: ticket(**{name: None}) for name in ("externalId", "description", "severity", "ticketType")}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", 21),
        (b"   ", 21),
        (b"not json", 22),
        (b"[1, 2]", 22),
        (b'"a string"', 22),
        (b'{"externalId": "1/2/3", "description": "caf\xe9"}', 22),  # Latin-1, not UTF-8
        (b"[" * 100_000, 22),
        (b'{"externalId": NaN}', 22),  # nesting deep enough to blow the decoder's recursion
        *[(body, 23) for body in MISSING.values()],
        (ticket(priority=None), 23),
        (ticket(priority=2), 24),
        (ticket(severity=["Major"]), 24),
        (ticket(externalId=""), 24),
        (ticket(description="   "), 24),
        (ticket(characteristic={"urgency": "High"}), 24),
        (ticket(characteristic=[{"name": "urgency"}]), 24),
        (ticket(characteristic=["urgency=High"]), 24),
        (ticket(relatedParty=[{"role": "reporter"}]), 24),
        (ticket(id="2106M80375"), 24),
        (ticket(status="closed"), 24),
    ],
)
def test_create_validation_codes(sb: Sandbox, http: requests.Session, body: Any, code: int) -> None:
    headers = {**bearer(get_token(sb, http)), "Content-Type": "application/json"}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = http.post(sb.tickets_url, data=data, headers=headers, timeout=5)
    assert_error(response, 400, code)
    assert sb.tickets == []


@pytest.mark.parametrize(("content_type", "code"), [(None, 25), ("text/plain", 26)])
def test_create_needs_json_content_type(
    sb: Sandbox, http: requests.Session, content_type: str | None, code: int
) -> None:
    headers = {**bearer(get_token(sb, http)), "Content-Type": content_type}
    response = http.post(sb.tickets_url, data=b'{"a": 1}', headers=headers, timeout=5)
    assert_error(response, 400, code)


def test_missing_bearer_is_401_code_40(sb: Sandbox, http: requests.Session) -> None:
    assert_error(create(sb, http, headers={"Accept": "application/json"}), 401, 40)
    assert_error(create(sb, http, headers={"Authorization": "Basic eDp5"}), 401, 40)
    assert_error(create(sb, http, headers={"Authorization": "Bearer "}), 401, 40)


def test_unknown_token_is_401_code_41(sb: Sandbox, http: requests.Session) -> None:
    assert_error(create(sb, http, headers=bearer("not-a-token")), 401, 41)


def test_expired_token_is_401_code_42(sb: Sandbox, http: requests.Session) -> None:
    token = get_token(sb, http)
    sb.expire_tokens()
    assert_error(create(sb, http, headers=bearer(token)), 401, 42)
    assert create(sb, http).status_code == 201  # a fresh token works again


def test_zero_lifetime_tokens_are_expired_at_once(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(token_lifetime=0)
    assert_error(create(sb, http), 401, 42)


def test_ticket_calls_need_json_accept(sb: Sandbox, http: requests.Session) -> None:
    headers = {**bearer(get_token(sb, http)), "Accept": "text/html"}
    assert_error(create(sb, http, headers=headers), 406, 62)


def test_duplicate_open_external_id_is_409_until_closed(sb: Sandbox, http: requests.Session) -> None:
    first = create(sb, http).json()
    assert_error(create(sb, http), 409, 29)
    closed = http.post(f"{sb.base_url}/_sandbox/tickets/{first['id']}/status", json={"status": "closed"})
    assert closed.json()["status"] == "closed"
    second = create(sb, http)
    assert second.status_code == 201
    assert second.json()["id"] != first["id"]
    assert sb.state()["tickets_created"] == 2


# --- find and get ---


def test_find_filters_and_counts(sb: Sandbox, http: requests.Session) -> None:
    headers = bearer(get_token(sb, http))
    made = [create(sb, http, ticket(f"1/2/{n}"), headers=headers).json() for n in range(5)]
    sb.set_ticket_status(made[0]["id"], "closed")
    create(sb, http, ticket("1/2/0"), headers=headers)

    def find(**params: Any) -> requests.Response:
        return http.get(sb.tickets_url, params=params, headers=headers, timeout=5)

    by_external = find(externalId="1/2/0")
    assert by_external.headers["X-Total-Count"] == "2"
    assert [t["status"] for t in by_external.json()] == ["closed", "acknowledged"]
    open_one = find(externalId="1/2/0", status="acknowledged,inProgress").json()
    assert len(open_one) == 1 and open_one[0]["id"] != made[0]["id"]
    assert [t["id"] for t in find(status="closed").json()] == [made[0]["id"]]
    page = find(offset=2, limit=3)
    assert (page.headers["X-Total-Count"], page.headers["X-Result-Count"]) == ("6", "3")
    assert [t["id"] for t in page.json()] == [t["id"] for t in sb.tickets[2:5]]
    empty = find(externalId="nope")
    assert (empty.json(), empty.headers["X-Total-Count"], empty.headers["X-Result-Count"]) == ([], "0", "0")
    assert sb.state()["find_calls"] == 5


@pytest.mark.parametrize(
    "query",
    [
        "offset=-1",
        "limit=abc",
        "limit=100000",
        "offset=",
        "externalID=1/2/3",
        "status=open",
        "externalId=a&externalId=b",
    ],
)
def test_find_rejects_bad_query_with_code_28(sb: Sandbox, http: requests.Session, query: str) -> None:
    response = http.get(f"{sb.tickets_url}?{query}", headers=bearer(get_token(sb, http)), timeout=5)
    assert_error(response, 400, 28)


def test_get_by_id_and_404(sb: Sandbox, http: requests.Session) -> None:
    made = create(sb, http).json()
    headers = bearer(get_token(sb, http))
    assert http.get(f"{sb.tickets_url}/{made['id']}", headers=headers, timeout=5).json() == made
    assert_error(http.get(f"{sb.tickets_url}/2101M00000", headers=headers, timeout=5), 404, 60)
    assert_error(http.get(f"{sb.base_url}/nowhere", headers=headers, timeout=5), 404, 60)
    assert_error(http.delete(sb.tickets_url, headers=headers, timeout=5), 405, 61)


def test_ticket_web_page(sb: Sandbox, http: requests.Session) -> None:
    made = create(sb, http).json()
    page = http.get(sb.ticket_url_template().replace("{id}", made["id"]), timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert made["id"] in page.text
    assert http.get(f"{sb.base_url}/ticket/2101M00000", timeout=5).status_code == 404


# --- faults ---


def test_after_create_hang_times_the_client_out_but_stores_the_ticket(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(after_create={"mode": "hang", "seconds": 20})
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(sb, http, timeout=(5, 0.3))
    assert [t["externalId"] for t in sb.tickets] == ["12/345/67890"]
    assert sb.state()["faults"]["after_create"] is None  # one-shot by default
    assert_error(create(sb, http), 409, 29)


@pytest.mark.parametrize("mode", ["reset", "close"])
def test_after_create_drop_gives_connection_error_but_stores_the_ticket(
    sb: Sandbox, http: requests.Session, mode: str
) -> None:
    sb.set_faults(after_create=mode)
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sb, http)
    assert len(sb.tickets) == 1
    assert sb.state()["create_calls"] == 1  # no silent retry hid the drop
    assert create(sb, http, ticket("9/9/9")).status_code == 201


def test_after_create_garbage_is_201_html(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(after_create="garbage")
    response = create(sb, http)
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()
    assert len(sb.tickets) == 1


def test_forced_429_carries_retry_after_then_returns_to_normal(sb: Sandbox, http: requests.Session) -> None:
    sb.force(429, group="create", count=2, retry_after=7)
    for _ in range(2):
        response = create(sb, http)
        assert_error(response, 429, 53)
        assert response.headers["Retry-After"] == "7"
    assert create(sb, http).status_code == 201
    state = sb.state()
    assert (state["create_calls"], state["tickets_created"], state["faults"]["forced"]) == (3, 1, {})


def test_forced_429_uses_the_global_retry_after(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(retry_after=42, forced={"group": "find", "status": 429})
    response = http.get(sb.tickets_url, headers=bearer(get_token(sb, http)), timeout=5)
    assert response.headers["Retry-After"] == "42"


def test_forced_until_cleared(sb: Sandbox, http: requests.Session) -> None:
    sb.force(503, group="all", count=None, message="Down", description="Maintenance")
    for _ in range(3):
        response = http.get(sb.tickets_url, headers=bearer("x"), timeout=5)
        assert_error(response, 503, 5)
        assert response.json()["message"] == "Down"
    sb.clear_faults()
    assert create(sb, http).status_code == 201


def test_forced_on_token_group_keeps_oauth_shape_for_401(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(forced={"token": {"status": 401}, "create": {"status": 500}})
    response = http.post(sb.token_url, auth=CLIENT, data={"grant_type": "client_credentials"}, timeout=5)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert_error(create(sb, http), 500, 1)


def test_error_rate_one_always_fails(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(error_rate=1)
    seen = set()
    for _ in range(20):
        token = http.post(sb.token_url, auth=CLIENT, data={"grant_type": "client_credentials"}, timeout=5)
        find = http.get(sb.tickets_url, headers=bearer("x"), timeout=5)
        made = http.post(sb.tickets_url, json=ticket(), headers=bearer("x"), timeout=5)
        seen |= {(r.status_code, r.json()["code"]) for r in (token, find, made)}
    assert seen == {(500, 1), (503, 5)}
    assert sb.tickets == []


def test_error_rate_per_group(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(error_rate={"create": 1})
    token = get_token(sb, http)  # the token group is untouched
    for _ in range(10):
        assert create(sb, http, headers=bearer(token)).status_code in (500, 503)
    assert sb.tickets == []


def test_latency_fires_a_short_read_timeout_only_on_its_group(sb: Sandbox, http: requests.Session) -> None:
    sb.set_faults(latency={"find": 20})
    headers = bearer(get_token(sb, http))
    assert create(sb, http, headers=headers).status_code == 201
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(sb.tickets_url, headers=headers, timeout=(5, 0.3))


def test_malformed_answers(sb: Sandbox, http: requests.Session) -> None:
    headers = bearer(get_token(sb, http))
    sb.set_faults(malformed={"find": {"status": 502}})
    proxy = http.get(sb.tickets_url, headers=headers, timeout=5)
    assert proxy.status_code == 502
    assert proxy.headers["Content-Type"].startswith("text/html") and proxy.text.startswith("<html>")
    sb.set_faults(malformed={"group": "find", "status": 200, "count": 1})
    truncated = http.get(sb.tickets_url, headers=headers, timeout=5)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    assert http.get(sb.tickets_url, headers=headers, timeout=5).json() == []


def test_fault_settings_are_validated_atomically(sb: Sandbox, http: requests.Session) -> None:
    before = sb.state()["faults"]
    bad = [{"latency": -1}, {"error_rate": 2}, {"forced": {"code": 1}}, {"after_create": "explode"}, {"nope": 1}]
    for spec in bad:
        response = http.post(f"{sb.base_url}/_sandbox/faults", json={"latency": 1, **spec}, timeout=5)
        assert_error(response, 400, 24)
    assert_error(http.post(f"{sb.base_url}/_sandbox/faults", data=b"{", timeout=5), 400, 22)
    assert sb.state()["faults"] == before


def test_start_up_config_sets_faults() -> None:
    config = SandboxConfig(fail_status=503, fail_count=2, fault_group="create", latency=0.5, token_lifetime=60)
    faults = Sandbox(config=config).state()["faults"]
    assert faults["forced"]["create"] == {
        "status": 503,
        "code": 5,
        "message": None,
        "description": None,
        "remaining": 2,
        "retry_after": None,
    }
    assert (faults["latency"], faults["token_lifetime"]) == ({"create": 0.5}, 60)


def test_control_api_over_http(sb: Sandbox, http: requests.Session) -> None:
    control = f"{sb.base_url}/_sandbox"
    token = get_token(sb, http)
    assert http.post(f"{control}/faults", json={"error_rate": {"find": 0.5}}).json()["error_rate"] == {"find": 0.5}
    assert http.delete(f"{control}/faults").json()["error_rate"] == {}
    assert http.post(f"{control}/expire-tokens").json() == {"expired": 1}
    assert_error(create(sb, http, headers=bearer(token)), 401, 42)
    assert_error(http.post(f"{control}/tickets/2101M00000/status", json={"status": "closed"}), 404, 60)
    state = http.post(f"{control}/reset").json()
    assert (state["tickets"], state["token_calls"], state["create_calls"]) == ([], 0, 0)
    assert_error(http.get(f"{control}/bogus"), 404, 60)


def test_stop_closes_kept_alive_connections() -> None:
    with requests.Session() as http:
        sb = Sandbox().start()
        assert http.get(f"{sb.base_url}/_sandbox/state", timeout=5).status_code == 200
        sb.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            http.get(f"{sb.base_url}/_sandbox/state", timeout=5)
