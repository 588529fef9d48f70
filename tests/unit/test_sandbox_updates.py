"""The sandbox's ticket updates (PATCH, merge-patch) and hub (registrations, pushed events), oceane dialect."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests

from oceane_ticket.sandbox.server import Sandbox

MERGE = {"Content-Type": "application/merge-patch+json"}


class Listener:
    """A loopback HTTP listener that records every event POSTed to it."""

    def __init__(self, status: int = 201) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.status = status
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.arrived:
                    outer.received.append((self.path, body))
                    outer.arrived.notify_all()
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/secret-segment"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=30)
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.close()


def create(sb: Sandbox, api: requests.Session, external_id: str = "12/345/1") -> dict[str, Any]:
    body = {
        "externalId": external_id,
        "ticketType": "incident",
        "description": "Signal lost",
        "priority": "2",
        "severity": "Major",
    }
    response = api.post(sb.tickets_url, json=body, timeout=5)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def patch(sb: Sandbox, api: requests.Session, ticket_id: str, body: Any) -> requests.Response:
    return api.patch(f"{sb.tickets_url}/{ticket_id}", data=json.dumps(body), headers=MERGE, timeout=5)


def test_notes_are_replaced_whole(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    first = {"id": "evt-1", "author": "op", "date": "2026-12-02T10:00:00Z", "text": "first"}
    assert patch(sb, api, made["id"], {"note": [first]}).json()["note"] == [first]
    second = {"id": "evt-2", "text": "second"}
    answer = patch(sb, api, made["id"], {"note": [first, second]})
    assert answer.status_code == 200
    assert [n["id"] for n in answer.json()["note"]] == ["evt-1", "evt-2"]
    assert sb.get_ticket(made["id"])["note"] == [first, second]  # type: ignore[index]
    assert sb.state()["update_calls"] == 2


def test_resolve_with_reason_and_date(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    body = {"status": "resolved", "statusChangeReason": "alarm cleared", "resolutionDate": "2026-12-02T10:00:00Z"}
    answer = patch(sb, api, made["id"], body).json()
    assert answer["status"] == "resolved"
    assert answer["statusChangeReason"] == "alarm cleared"
    assert answer["resolutionDate"] == "2026-12-02T10:00:00Z"


def test_severity_and_priority(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    answer = patch(sb, api, made["id"], {"severity": "Critical", "priority": "1"}).json()
    assert (answer["severity"], answer["priority"]) == ("Critical", "1")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"note": {"text": "x"}}, "note"),
        ({"note": [{"id": "a"}]}, "note[0].text"),
        ({"note": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, "note[1].id"),
        ({"externalId": "other"}, "externalId"),
        ({"id": "X"}, "id"),
        ({"colour": "red"}, "colour"),
        ({"severity": None}, "severity"),
    ],
)
def test_bad_patch_is_refused_naming_the_field(
    sb: Sandbox, api: requests.Session, body: dict[str, Any], field: str
) -> None:
    made = create(sb, api)
    answer = patch(sb, api, made["id"], body)
    assert answer.status_code == 400
    assert answer.json()["code"] == 24
    assert field in answer.json()["description"]
    assert sb.get_ticket(made["id"]) == made


def test_refused_transition_is_a_conflict(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    sb.set_status(made["id"], "closed")
    answer = patch(sb, api, made["id"], {"status": "inProgress"})
    assert answer.status_code == 409
    assert answer.json()["code"] == 29
    assert sb.get_ticket(made["id"])["status"] == "closed"  # type: ignore[index]


def test_patch_needs_merge_patch_type_and_a_known_ticket(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    wrong = api.patch(f"{sb.tickets_url}/{made['id']}", json={"priority": "1"}, timeout=5)
    assert (wrong.status_code, wrong.json()["code"]) == (400, 26)
    missing = patch(sb, api, "2601M00000", {"priority": "1"})
    assert (missing.status_code, missing.json()["code"]) == (404, 60)


def test_faults_apply_to_updates(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    sb.force(503, group="update")
    assert patch(sb, api, made["id"], {"priority": "1"}).status_code == 503
    sb.force(429, group="update", retry_after=2)
    limited = patch(sb, api, made["id"], {"priority": "1"})
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    sb.expire_tokens()
    expired = patch(sb, api, made["id"], {"priority": "1"})
    assert (expired.status_code, expired.json()["code"]) == (401, 42)


def test_reset_after_update_commits_then_drops(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    sb.set_faults(after_update="reset")
    with pytest.raises(requests.ConnectionError):
        patch(sb, api, made["id"], {"priority": "1"})
    assert sb.get_ticket(made["id"])["priority"] == "1"  # type: ignore[index]


def test_hang_after_update_commits_then_times_out(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    sb.set_faults(after_update={"mode": "hang", "seconds": 30})
    with pytest.raises(requests.Timeout):
        api.patch(f"{sb.tickets_url}/{made['id']}", data='{"priority": "1"}', headers=MERGE, timeout=0.5)
    assert sb.get_ticket(made["id"])["priority"] == "1"  # type: ignore[index]


def register(sb: Sandbox, api: requests.Session, callback: str) -> requests.Response:
    return api.post(sb.base_url + "/hub", json={"callback": callback, "query": ""}, timeout=5)


def test_hub_pushes_status_changes_to_the_listener(sb: Sandbox, api: requests.Session, listener: Listener) -> None:
    made = create(sb, api)
    answer = register(sb, api, listener.url)
    assert answer.status_code == 201
    assert answer.json() == {"id": answer.json()["id"], "callback": listener.url, "query": ""}
    sb.set_status(made["id"], "resolved", reason="fixed by staff")
    received = listener.wait_for(2)
    paths = [path for path, _ in received]
    assert paths == [
        "/secret-segment/listener/troubleTicketStatusChangeEvent",
        "/secret-segment/listener/troubleTicketResolvedEvent",
    ]
    event = received[0][1]
    assert event["eventType"] == "TroubleTicketStatusChangeEvent"
    assert event["event"]["troubleTicket"]["id"] == made["id"]
    assert event["event"]["troubleTicket"]["status"] == "resolved"
    assert {"eventId", "eventTime"} <= set(event)
    assert "secret-segment" not in json.dumps(sb.state())


def test_hub_pushes_a_patch_and_stops_after_delete(sb: Sandbox, api: requests.Session, listener: Listener) -> None:
    made = create(sb, api)
    hub_id = register(sb, api, listener.url).json()["id"]
    patch(sb, api, made["id"], {"note": [{"id": "evt-1", "text": "hello"}]})
    assert listener.wait_for(1)[0][0].endswith("/listener/troubleTicketAttributeValueChangeEvent")
    deleted = api.delete(f"{sb.base_url}/hub/{hub_id}", timeout=5)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert api.delete(f"{sb.base_url}/hub/{hub_id}", timeout=5).status_code == 404
    sb.set_status(made["id"], "closed")
    assert sb.wait_pushes()
    assert len(listener.received) == 1


def test_hub_refuses_non_loopback_callbacks(sb: Sandbox, api: requests.Session) -> None:
    for callback in ("http://192.0.2.1/x", "http://example.com/x", "ftp://127.0.0.1/x", "", 5):
        answer = register(sb, api, callback)  # type: ignore[arg-type]
        assert answer.status_code == 400, callback
        assert answer.json()["code"] == 24


def test_hub_retries_are_bounded_and_do_not_block(sb: Sandbox, api: requests.Session) -> None:
    made = create(sb, api)
    failing = Listener(status=503)
    try:
        register(sb, api, failing.url)
        sb.set_status(made["id"], "inProgress")  # answers while the pushes are still being tried
        assert sb.wait_pushes(30)
        assert len(failing.received) == 3
        assert sb.hub()["events_failed"] == 1
    finally:
        failing.close()


def test_faults_apply_to_hub_calls(sb: Sandbox, api: requests.Session, listener: Listener) -> None:
    sb.force(503, group="hub")
    assert register(sb, api, listener.url).status_code == 503
    sb.expire_tokens()
    assert register(sb, api, listener.url).json()["code"] == 42
    assert sb.hub()["subscriptions"] == []
