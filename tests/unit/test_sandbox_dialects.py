"""The sandbox in the TMF621 dialects answers as the specifications say, and every fault still works there.

Shapes checked here come from TM Forum's TMF621 v4.0.0 swagger and v5.0.1 OAS (repository
``tmforum-apis/TMF621_TroubleTicket``), as summarised in :mod:`oceane_ticket.sandbox.schema`.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cli import sandbox as sandbox_cli
from oceane_ticket.sandbox.server import Sandbox

OUR_ID = "12/345/67890"
V4_TYPE = "application/json;charset=utf-8"


def v4_body(external_id: str = OUR_ID) -> dict[str, Any]:
    return {
        "externalId": external_id,
        "ticketType": "incident",
        "description": "Signal lost",
        "severity": "Major",
        "priority": "High",
        "note": [{"text": "Urgency: High", "date": "2026-12-02T10:00:00Z", "author": "DataMiner"}],
        "relatedParty": [{"id": "u1", "role": "reporter", "@referredType": "Individual"}],
        "relatedEntity": [{"id": "12/345", "name": "Encoder", "role": "impactedResource", "@referredType": "Resource"}],
    }


def v5_body(external_id: str = OUR_ID) -> dict[str, Any]:
    return {
        "@type": "TroubleTicket",
        "ticketType": "incident",
        "description": "Signal lost",
        "severity": "Major",
        "priority": "High",
        "externalIdentifier": [
            {
                "@type": "ExternalIdentifier",
                "id": external_id,
                "owner": "DataMiner",
                "externalIdentifierType": "alarmTreeId",
            }
        ],
        "relatedParty": [
            {
                "role": "reporter",
                "@type": "RelatedPartyRefOrPartyRoleRef",
                "partyOrPartyRole": {"id": "u1", "@type": "PartyRef", "@referredType": "Individual"},
            }
        ],
        "relatedEntity": [
            {
                "role": "impactedResource",
                "@type": "RelatedEntity",
                "entity": {"id": "12/345", "@type": "EntityRef", "@referredType": "Resource", "name": "Encoder"},
            }
        ],
        "troubleTicketCharacteristic": [
            {"name": "urgency", "value": "High", "valueType": "string", "@type": "StringCharacteristic"}
        ],
    }


BODIES = {"tmf621-v4": v4_body, "tmf621-v5": v5_body}
LOOKUP = {"tmf621-v4": "externalId", "tmf621-v5": "externalIdentifier.id"}
MEDIA = {"tmf621-v4": V4_TYPE, "tmf621-v5": "application/json"}


@pytest.fixture(scope="module", params=["tmf621-v4", "tmf621-v5"])
def server(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(dialect=request.param) as sandbox:
        yield sandbox


def name(sb: Sandbox) -> str:
    return sb.dialect.name


def create(sb: Sandbox, api: requests.Session, body: dict[str, Any] | None = None) -> requests.Response:
    return api.post(sb.tickets_url, json=body or BODIES[name(sb)](), timeout=5)


def assert_tmf_error(response: requests.Response, status: int, code: str, mentions: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == MEDIA[response.request.url.split("/tmf-api/troubleTicket/")[1][:2]]
    body = response.json()
    assert body["@type"] == "Error"
    assert body["code"] == code
    assert isinstance(body["reason"], str) and body["reason"]
    assert body["status"] == str(status)
    assert mentions in body["message"]


MEDIA.update({"v4": V4_TYPE, "v5": "application/json"})


def test_base_url_is_the_tmf_base_path_and_the_token_stays_on_the_origin(sb: Sandbox) -> None:
    version = name(sb)[-2:]
    assert sb.base_url == f"{sb.origin}/tmf-api/troubleTicket/{version}"
    assert sb.token_url == f"{sb.origin}/oauth/v3/token"
    response = requests.post(
        sb.token_url,
        auth=("sandbox-client", "sandbox-secret"),
        data={"grant_type": "client_credentials"},
        headers={"Accept": "application/json"},
        timeout=5,
    )
    assert response.status_code == 200


def test_create_answers_the_ticket_with_the_spec_media_type(sb: Sandbox, api: requests.Session) -> None:
    response = create(sb, api)
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == MEDIA[name(sb)]
    ticket = response.json()
    assert ticket["status"] == "acknowledged"
    assert ticket["href"] == f"/tmf-api/troubleTicket/{name(sb)[-2:]}/troubleTicket/{ticket['id']}"
    assert response.headers["Location"] == ticket["href"]
    assert sb.state()["tickets_created"] == 1


def test_the_oceane_path_is_not_served(sb: Sandbox, api: requests.Session) -> None:
    response = api.post(sb.origin + "/troubleTicket", json=BODIES[name(sb)](), timeout=5)
    assert response.status_code == 404
    assert sb.state()["tickets_created"] == 0


V4_BAD = [
    (lambda b: b.pop("severity"), "severity"),
    (lambda b: b.pop("ticketType"), "ticketType"),
    (lambda b: b["relatedParty"][0].pop("@referredType"), "relatedParty[0].@referredType"),
    (lambda b: b["relatedEntity"][0].pop("role"), "relatedEntity[0].role"),
    (lambda b: b.update(note={"text": "x"}), "note"),
    (lambda b: b["note"][0].update(date="yesterday"), "note[0].date"),
    (lambda b: b.update(description=5), "description"),
    (lambda b: b.update(status="done"), "status"),
]
V5_BAD = [
    (lambda b: b.pop("@type"), "@type"),
    (lambda b: b.update({"@type": "Ticket"}), "@type"),
    (lambda b: b.pop("description"), "description"),
    (lambda b: b["externalIdentifier"][0].pop("@type"), "externalIdentifier[0].@type"),
    (lambda b: b["relatedEntity"][0].pop("entity"), "relatedEntity[0].entity"),
    (lambda b: b["relatedParty"][0].pop("role"), "relatedParty[0].role"),
    (lambda b: b["relatedParty"][0]["partyOrPartyRole"].pop("id"), "relatedParty[0].partyOrPartyRole.id"),
    (lambda b: b["troubleTicketCharacteristic"][0].pop("name"), "troubleTicketCharacteristic[0].name"),
    (lambda b: b["troubleTicketCharacteristic"][0].pop("value"), "troubleTicketCharacteristic[0].value"),
    (lambda b: b.update(relatedParty=[{"id": "u1", "role": "reporter"}]), "relatedParty[0].@type"),
]


@pytest.mark.parametrize("index", range(max(len(V4_BAD), len(V5_BAD))))
def test_a_body_missing_a_required_field_or_misshapen_is_refused(
    sb: Sandbox, api: requests.Session, index: int
) -> None:
    cases = V4_BAD if name(sb) == "tmf621-v4" else V5_BAD
    if index >= len(cases):
        pytest.skip("fewer cases for this dialect")
    spoil, field = cases[index]
    body = BODIES[name(sb)]()
    spoil(body)
    assert_tmf_error(create(sb, api, body), 400, "ERR400", field)
    assert sb.state()["tickets_created"] == 0


def test_v4_drops_what_its_schema_does_not_declare(sb: Sandbox, api: requests.Session) -> None:
    if name(sb) != "tmf621-v4":
        pytest.skip("v4 only")
    body = v4_body()
    body["characteristic"] = [{"name": "urgency", "value": "High"}]
    ticket = create(sb, api, body).json()
    assert "characteristic" not in ticket
    assert ticket["note"] == body["note"]


def test_lookup_filter_fields_offset_and_limit(sb: Sandbox, api: requests.Session) -> None:
    ids = [create(sb, api, BODIES[name(sb)](f"12/345/{n}")).json()["id"] for n in range(3)]
    sb.add_hand_made_tickets(2)
    found = api.get(sb.tickets_url, params={LOOKUP[name(sb)]: "12/345/1"}, timeout=5)
    assert found.status_code == 200
    assert found.headers["Content-Type"] == MEDIA[name(sb)]
    assert [t["id"] for t in found.json()] == [ids[1]]
    assert found.headers["X-Total-Count"] == "1"
    page = api.get(sb.tickets_url, params={"offset": 1, "limit": 2, "fields": "status"}, timeout=5)
    assert [t["id"] for t in page.json()] == ids[1:3]
    assert all(set(t) <= {"id", "href", "@type", "status"} for t in page.json())
    one = api.get(f"{sb.tickets_url}/{ids[0]}", params={"fields": "severity"}, timeout=5).json()
    assert one["severity"] == "Major" and "description" not in one


def test_an_unknown_query_parameter_is_refused(sb: Sandbox, api: requests.Session) -> None:
    response = api.get(sb.tickets_url, params={"externalID": OUR_ID}, timeout=5)
    assert_tmf_error(response, 400, "ERR400", "externalID")


def test_ignored_filter_and_offset_and_newest_first(sb: Sandbox, api: requests.Session) -> None:
    ids = [create(sb, api, BODIES[name(sb)](f"12/345/{n}")).json()["id"] for n in range(3)]
    sb.set_faults(find_ignores_filter=True, find_ignores_offset=True, find_newest_first=True)
    page = api.get(sb.tickets_url, params={LOOKUP[name(sb)]: "12/345/0", "offset": 2}, timeout=5).json()
    assert [t["id"] for t in page] == ids[::-1]


def test_foreign_tickets_carry_our_identifier_in_the_dialect_shape(sb: Sandbox, api: requests.Session) -> None:
    (made,) = sb.add_hand_made_tickets(1, external_id=OUR_ID)
    found = api.get(sb.tickets_url, params={LOOKUP[name(sb)]: OUR_ID}, timeout=5).json()
    assert [t["id"] for t in found] == [made["id"]]


def test_accept_no_body_commits_and_answers_202_empty(sb: Sandbox, api: requests.Session) -> None:
    sb.set_faults(accept_no_body={"count": 1})
    response = create(sb, api)
    assert (response.status_code, response.content) == (202, b"")
    assert "Content-Type" not in response.headers
    assert len(sb.tickets) == 1
    assert create(sb, api, BODIES[name(sb)]("12/345/2")).status_code == 201


def test_auth_and_availability_faults_keep_oranges_codes(sb: Sandbox, api: requests.Session) -> None:
    sb.expire_tokens()
    assert_tmf_error(create(sb, api), 401, "42")
    api.headers["Authorization"] = "Bearer nonsense"
    assert_tmf_error(create(sb, api), 401, "41")
    api.headers["Authorization"] = f"Bearer {sb.issue_token()}"
    sb.force(503, group="create")
    assert_tmf_error(create(sb, api), 503, "5")
    sb.force(429, group="all", retry_after=3)
    limited = api.get(sb.tickets_url, timeout=5)
    assert_tmf_error(limited, 429, "53")
    assert limited.headers["Retry-After"] == "3"
    sb.force(400, 24, group="create", message="Invalid body field")
    assert_tmf_error(create(sb, api), 400, "24")
    assert sb.state()["tickets_created"] == 0


def test_timeout_after_commit_and_reset(sb: Sandbox, api: requests.Session) -> None:
    sb.set_faults(after_create={"mode": "hang", "seconds": 30})
    with pytest.raises(requests.Timeout):
        api.post(sb.tickets_url, json=BODIES[name(sb)](), timeout=0.5)
    sb.set_faults(after_create="reset")
    with pytest.raises(requests.ConnectionError):
        create(sb, api, BODIES[name(sb)]("12/345/2"))
    assert len(sb.tickets) == 2


def test_duplicate_conflict_can_be_turned_off(sb: Sandbox, api: requests.Session) -> None:
    assert create(sb, api).status_code == 201
    assert_tmf_error(create(sb, api), 409, "ERR409")
    sb.set_faults(conflict_on_duplicate=False)
    assert create(sb, api).status_code == 201
    assert len(sb.tickets) == 2


def patch(sb: Sandbox, api: requests.Session, ticket_id: str, body: dict[str, Any], kind: str) -> requests.Response:
    headers = {"Content-Type": kind}
    return api.patch(f"{sb.tickets_url}/{ticket_id}", data=json.dumps(body), headers=headers, timeout=5)


def test_patch_resolves_and_adds_notes(sb: Sandbox, api: requests.Session) -> None:
    ticket = create(sb, api).json()
    note = {"id": "evt-1", "text": "alarm cleared", "date": "2026-12-02T11:00:00Z"}
    body: dict[str, Any] = {"status": "resolved", "statusChangeReason": "alarm cleared", "note": [note]}
    if name(sb) == "tmf621-v5":
        body["@type"] = "TroubleTicket"
        note["@type"] = "Note"
    answer = patch(sb, api, ticket["id"], body, "application/merge-patch+json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == MEDIA[name(sb)]
    assert answer.json()["status"] == "resolved"
    assert answer.json()["note"] == [note]
    again = patch(sb, api, ticket["id"], {**body, "status": "inProgress"}, "application/json")
    assert again.status_code == 200  # resolved -> inProgress is a reopening, allowed
    closed = patch(sb, api, ticket["id"], {**body, "status": "closed"}, "application/json")
    assert closed.status_code == 409  # inProgress -> closed skips resolution
    assert_tmf_error(closed, 409, "ERR409")


def test_patch_rules_of_each_version(sb: Sandbox, api: requests.Session) -> None:
    ticket = create(sb, api).json()
    if name(sb) == "tmf621-v5":
        assert_tmf_error(
            patch(sb, api, ticket["id"], {"priority": "Low"}, "application/merge-patch+json"), 400, "ERR400", "@type"
        )
        json_patch = patch(sb, api, ticket["id"], {"op": "add"}, "application/json-patch+json")
        assert json_patch.status_code == 415
    else:
        ok = patch(sb, api, ticket["id"], {"priority": "Low"}, "application/merge-patch+json")
        assert ok.json()["priority"] == "Low"
        # TroubleTicket_Update skips creationDate: not patchable.
        refused = patch(sb, api, ticket["id"], {"creationDate": "2026-01-01T00:00:00Z"}, "application/json")
        assert_tmf_error(refused, 400, "ERR400", "creationDate")
    assert sb.get_ticket(ticket["id"])["severity"] == "Major"  # type: ignore[index]


def test_patch_faults_apply(sb: Sandbox, api: requests.Session) -> None:
    ticket = create(sb, api).json()
    body = {"priority": "Low", "@type": "TroubleTicket"} if name(sb) == "tmf621-v5" else {"priority": "Low"}
    sb.force(503, group="update")
    assert_tmf_error(patch(sb, api, ticket["id"], body, "application/merge-patch+json"), 503, "5")
    sb.set_faults(after_update="reset")
    with pytest.raises(requests.ConnectionError):
        patch(sb, api, ticket["id"], body, "application/merge-patch+json")
    assert sb.get_ticket(ticket["id"])["priority"] == "Low"  # type: ignore[index]


def test_hub_registration_per_version(sb: Sandbox, api: requests.Session) -> None:
    callback = "http://127.0.0.1:9/listener-secret"
    body = {"callback": callback, "query": ""}
    if name(sb) == "tmf621-v5":
        assert_tmf_error(api.post(sb.hub_url, json=body, timeout=5), 400, "ERR400", "@type")
        body = {**body, "@type": "Hub"}
    answer = api.post(sb.hub_url, json=body, timeout=5)
    assert answer.status_code == 201, answer.text
    assert answer.json()["callback"] == callback
    if name(sb) == "tmf621-v5":
        assert answer.json()["@type"] == "Hub"
        assert api.get(f"{sb.hub_url}/{answer.json()['id']}", timeout=5).json()["callback"] == callback
    assert api.delete(f"{sb.hub_url}/{answer.json()['id']}", timeout=5).status_code == 204


def test_control_routes_and_page_also_answer_under_the_base_path(sb: Sandbox) -> None:
    assert requests.get(sb.base_url + "/_sandbox/state", timeout=5).status_code == 200
    assert requests.get(sb.control_url + "/state", timeout=5).status_code == 200


def test_cli_takes_a_dialect() -> None:
    parser = argparse.ArgumentParser()
    sandbox_cli.configure_parser(parser)
    assert parser.parse_args(["--dialect", "tmf621-v5"]).dialect == "tmf621-v5"
    assert parser.parse_args([]).dialect == "oceane"
    with pytest.raises(SystemExit):
        parser.parse_args(["--dialect", "tmf622"])


def test_an_unknown_dialect_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="tmf621-v4"):
        Sandbox(dialect="tmf")


def test_bodies_are_not_changed_by_checking() -> None:
    body = v5_body()
    kept = copy.deepcopy(body)
    with Sandbox(dialect="tmf621-v5") as sb, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sb.issue_token()}"
        session.headers["Accept"] = "application/json"
        stored = session.post(sb.tickets_url, json=body, timeout=5).json()
    assert body == kept
    assert {k: stored[k] for k in kept} == kept


def test_hub_pushes_events_in_the_dialect_shape(sb: Sandbox, api: requests.Session) -> None:
    from tests.unit.test_sandbox_updates import Listener

    listener = Listener(status=204)  # v5 listeners answer 204 Notified, v4 ones 201: both are delivered
    try:
        body: dict[str, Any] = {"callback": listener.url}
        if name(sb) == "tmf621-v5":
            body["@type"] = "Hub"
        assert api.post(sb.hub_url, json=body, timeout=5).status_code == 201
        ticket = create(sb, api).json()
        sb.set_status(ticket["id"], "inProgress")
        received = listener.wait_for(2)
        paths = [path.rsplit("/", 1)[1] for path, _ in received]
        assert paths == ["troubleTicketCreateEvent", "troubleTicketStatusChangeEvent"]
        event = received[1][1]
        assert event["event"]["troubleTicket"]["href"] == ticket["href"]
        if name(sb) == "tmf621-v5":
            assert event["@type"] == "TroubleTicketStatusChangeEvent"
        assert sb.wait_pushes()
        assert sb.hub()["events_pushed"] == 2
    finally:
        listener.close()
