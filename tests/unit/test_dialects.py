"""Each dialect's bodies against the shapes its specification requires, written as our own schemas.

The schemas below restate facts of TM Forum's TMF621 (repository ``tmforum-apis/TMF621_TroubleTicket``):
v4 from ``TMF621_Trouble_Ticket_Management_API_v4.0.0_swagger.json`` (``definitions``), v5 from
``TMF621-Trouble_Ticket-v5.0.1.oas.yaml`` (``components/schemas``). Only what is required and the
types that matter to us; ``additionalProperties: false`` where the dialect must not send what the
version does not define (a conformant server drops it without a word).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from oceane_ticket.oceane.dialects import DIALECT_NAMES, dialect
from oceane_ticket.oceane.dialects.tmf621_v4 import DETAILS_NOTE_ID
from oceane_ticket.request import RequestRecord

STRING = {"type": "string"}
DATE_TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"}

# --- v4: definitions/TroubleTicket_Create and what it refers to ---
V4_NOTE = {  # definitions/Note: nothing required
    "type": "object",
    "properties": {"id": STRING, "author": STRING, "date": DATE_TIME, "text": STRING},
    "additionalProperties": False,
}
V4_RELATED_PARTY = {  # definitions/RelatedParty: id and @referredType required
    "type": "object",
    "required": ["id", "@referredType"],
    "properties": {"id": STRING, "name": STRING, "role": STRING, "@referredType": STRING},
    "additionalProperties": False,
}
V4_RELATED_ENTITY = {  # definitions/RelatedEntity: id, role, @referredType required
    "type": "object",
    "required": ["id", "role", "@referredType"],
    "properties": {"id": STRING, "name": STRING, "role": STRING, "@referredType": STRING},
    "additionalProperties": False,
}
V4_CREATE = {  # definitions/TroubleTicket_Create: description, severity, ticketType required; no characteristic
    "type": "object",
    "required": ["description", "severity", "ticketType"],
    "properties": {
        "description": STRING,
        "severity": STRING,
        "ticketType": STRING,
        "priority": STRING,
        "externalId": STRING,
        "name": STRING,
        "note": {"type": "array", "items": V4_NOTE},
        "relatedParty": {"type": "array", "items": V4_RELATED_PARTY},
        "relatedEntity": {"type": "array", "items": V4_RELATED_ENTITY},
    },
    "additionalProperties": False,
}

# --- v5: components/schemas/TroubleTicket_FVO; every Extensible object requires @type ---


def typed(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """An Extensible v5 object: ``@type`` required beside ``required``."""
    return {
        "type": "object",
        "required": ["@type", *required],
        "properties": {"@type": STRING, **properties},
        "additionalProperties": False,
    }


V5_ENTITY_REF = typed(["id"], {"id": STRING, "href": STRING, "name": STRING, "@referredType": STRING})  # EntityRef
V5_PARTY_REF = V5_ENTITY_REF | {"properties": V5_ENTITY_REF["properties"] | {"@type": {"const": "PartyRef"}}}
V5_RELATED_PARTY = typed(
    ["role"], {"role": STRING, "partyOrPartyRole": V5_PARTY_REF}
)  # RelatedPartyRefOrPartyRoleRef_FVO
V5_RELATED_ENTITY = typed(["role", "entity"], {"role": STRING, "entity": V5_ENTITY_REF})  # RelatedEntity_FVO
V5_EXTERNAL_IDENTIFIER = typed(  # ExternalIdentifier_FVO
    ["id"], {"id": STRING, "owner": STRING, "externalIdentifierType": STRING}
)
V5_STRING_CHARACTERISTIC = typed(  # StringCharacteristic_FVO: Characteristic_FVO (name) plus value
    ["name", "value"], {"id": STRING, "name": STRING, "value": STRING, "valueType": STRING}
)
V5_NOTE = typed([], {"id": STRING, "author": STRING, "date": DATE_TIME, "text": STRING})  # Note_FVO
V5_CREATE = typed(  # TroubleTicket_FVO
    ["description", "severity", "ticketType"],
    {
        "description": STRING,
        "severity": STRING,
        "ticketType": STRING,
        "priority": STRING,
        "name": STRING,
        "externalIdentifier": {"type": "array", "items": V5_EXTERNAL_IDENTIFIER},
        "troubleTicketCharacteristic": {"type": "array", "items": V5_STRING_CHARACTERISTIC},
        "note": {"type": "array", "items": V5_NOTE},
        "relatedParty": {"type": "array", "items": V5_RELATED_PARTY},
        "relatedEntity": {"type": "array", "items": V5_RELATED_ENTITY},
    },
)
V5_MVO = {"type": "object", "required": ["@type"]}  # TroubleTicket_MVO is an Entity too
V5_HUB = typed(["callback"], {"callback": STRING, "query": STRING})  # Hub_FVO
V4_HUB = {  # EventSubscriptionInput
    "type": "object",
    "required": ["callback"],
    "properties": {"callback": STRING, "query": STRING},
    "additionalProperties": False,
}

SCHEMAS = {"tmf621-v4": V4_CREATE, "tmf621-v5": V5_CREATE}


def request(**changes: Any) -> RequestRecord:
    values: dict[str, Any] = {
        "instance": "a" * 32,
        "dma_id": 12,
        "element_id": 345,
        "alarm_id": 6789,
        "element_name": "Encoder; Paris=1",
        "alarm_value": "Signal lost",
        "root_time": datetime(2026, 11, 27, 8, 12, tzinfo=UTC),
        "priority": "2",
        "urgency": "Major",
        "technical_impact": "Critical",
        "client_impact": "Minor",
        "root_cause": "Signal lost on Encoder; Paris=1",
        "user": "CORP/alice",
        "oceane_user_id": "U123",
        "created_at": datetime(2026, 11, 27, 8, 13, 5, tzinfo=UTC),
    }
    return RequestRecord(**(values | changes))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_create_body_has_the_required_fields_and_shapes_of_its_specification(name: str) -> None:
    jsonschema.validate(dialect(name).create_body(request()), SCHEMAS[name])


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_a_body_without_the_optional_values_still_validates(name: str) -> None:
    body = dialect(name).create_body(request(client_impact=None, alarm_value=None, root_time=None))
    jsonschema.validate(body, SCHEMAS[name])


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_schemas_refuse_what_the_other_version_sends(name: str) -> None:
    # The schemas must be able to fail: each refuses the other version's body.
    other = next(n for n in SCHEMAS if n != name)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dialect(other).create_body(request()), SCHEMAS[name])


def test_v4_carries_every_value_without_a_v4_attribute_in_a_readable_note() -> None:
    body = dialect("tmf621-v4").create_body(request())
    assert "characteristic" not in body
    [note] = body["note"]
    assert note["id"] == DETAILS_NOTE_ID and note["date"] == "2026-11-27T08:13:05Z"
    assert note["text"].splitlines() == [
        "Urgency: Major",
        "Technical impact: Critical",
        "Client impact: Minor",
        "Alarm value: Signal lost",
        "Root time: 2026-11-27T08:12:00Z",
    ]
    assert (body["externalId"], body["severity"], body["priority"]) == ("12/345/6789", "Critical", "2")


def test_v5_identifies_the_alarm_by_an_external_identifier_and_keeps_the_characteristics() -> None:
    body = dialect("tmf621-v5").create_body(request())
    assert "externalId" not in body
    assert body["externalIdentifier"] == [
        {
            "@type": "ExternalIdentifier",
            "id": "12/345/6789",
            "owner": "DataMiner",
            "externalIdentifierType": "alarmTreeId",
        }
    ]
    values = {c["name"]: c["value"] for c in body["troubleTicketCharacteristic"]}
    assert values == {
        "urgency": "Major",
        "technicalImpact": "Critical",
        "clientImpact": "Minor",
        "alarmValue": "Signal lost",
        "rootTime": "2026-11-27T08:12:00Z",
    }


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_the_priority_map_translates_the_form_value(name: str) -> None:
    mapped = dialect(name, {"1": "Critical", "2": "High"})
    assert mapped.create_body(request())["priority"] == "High"
    assert mapped.create_body(request(priority="3"))["priority"] == "3"  # unmapped: as typed
    assert dialect(name).create_body(request())["priority"] == "2"


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_the_same_request_gives_the_same_body(name: str) -> None:
    # A retried create must send what the first attempt sent.
    assert dialect(name).create_body(request()) == dialect(name).create_body(request())


def test_v5_reads_only_our_external_identifier() -> None:
    v5 = dialect("tmf621-v5")
    ours = {
        "id": "T1",
        "externalIdentifier": [{"id": "x", "owner": "CRM"}, {"id": "12/345/6789", "owner": "DataMiner"}],
    }
    assert v5.read_ticket(ours).external_id == "12/345/6789"
    foreign = {"id": "T2", "externalIdentifier": [{"id": "12/345/6789", "owner": "CRM"}]}
    assert v5.read_ticket(foreign).external_id is None
    bare = {"id": "T3", "externalIdentifier": [{"id": "12/345/6789"}]}  # a server that drops the owner
    assert v5.read_ticket(bare).external_id == "12/345/6789"
    assert v5.read_ticket({"id": "T4", "externalId": "12/345/6789"}).external_id is None  # no such v5 attribute


def test_lookups_filter_on_each_dialects_attribute() -> None:
    assert dialect("oceane").lookup_params("1/2/3", 0, 40) == {"externalId": "1/2/3", "offset": 0, "limit": 40}
    assert dialect("tmf621-v4").lookup_params("1/2/3", 40, 40)["externalId"] == "1/2/3"
    assert dialect("tmf621-v5").lookup_params("1/2/3", 0, 40)["externalIdentifier.id"] == "1/2/3"


WHEN = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_a_note_patch_keeps_the_notes_as_read_and_is_none_when_already_there(name: str) -> None:
    d = dialect(name)
    ticket = d.read_ticket({"id": "T1", "note": [{"id": "n1", "text": "by hand", "@type": "Note"}]})
    patch = d.note_patch(ticket, "e-7", "alarm cleared", "alice", WHEN)
    assert patch is not None
    assert [n["id"] for n in patch["note"]] == ["n1", "evt-e-7"]
    assert patch["note"][1] | {"@type": None} == {
        "id": "evt-e-7",
        "author": "alice",
        "date": "2026-12-02T13:00:00Z",
        "text": "alarm cleared",
        "@type": None,
    }
    again = d.read_ticket({"id": "T1", "note": patch["note"]})
    assert d.note_patch(again, "e-7", "alarm cleared", "alice", WHEN) is None


def test_v5_patches_and_hub_bodies_carry_their_type() -> None:
    v5 = dialect("tmf621-v5")
    note = v5.note_patch({"id": "T1", "note": [{"id": "n1", "text": "no type"}]}, "e", "t", "a", WHEN)
    assert note is not None
    for body in (note, v5.resolve_patch("alarm cleared", WHEN), v5.severity_patch("Minor", "1")):
        jsonschema.validate(body, V5_MVO)
    jsonschema.validate(note["note"][0], V5_NOTE)  # a note read without @type is sent back with one
    jsonschema.validate(v5.hub_body("https://intake/cb/s3cret"), V5_HUB)
    jsonschema.validate(dialect("tmf621-v4").hub_body("https://intake/cb/s3cret"), V4_HUB)


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_resolve_and_severity_patches(name: str) -> None:
    d = dialect(name, {"1": "Critical"})
    resolve = d.resolve_patch("alarm cleared in DataMiner", WHEN)
    assert (resolve["status"], resolve["statusChangeReason"], resolve["resolutionDate"]) == (
        "resolved",
        "alarm cleared in DataMiner",
        "2026-12-02T13:00:00Z",
    )
    severity = d.severity_patch("Minor", "1")
    assert severity is not None and (severity["severity"], severity["priority"]) == ("Minor", "Critical")
    assert d.severity_patch() is None


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_a_listener_event_is_read_into_what_we_act_on(name: str) -> None:
    d = dialect(name)
    ticket = d.read_ticket(d.create_body(request()) | {"id": "T9", "status": "resolved"}).raw
    event = d.read_event(
        {
            "eventId": "ev1",
            "eventTime": "2026-12-02T13:00:00Z",
            "eventType": "TroubleTicketResolvedEvent",
            "event": {"troubleTicket": ticket},
        }
    )
    assert (event.ticket_id, event.external_id, event.status, event.event_id, event.event_type) == (
        "T9",
        "12/345/6789",
        "resolved",
        "ev1",
        "TroubleTicketResolvedEvent",
    )
    with pytest.raises(ValueError, match="eventId"):
        d.read_event({"event": {"troubleTicket": ticket}})
    with pytest.raises(ValueError, match="troubleTicket"):
        d.read_event({"eventId": "e", "eventType": "x", "event": {}})


def test_an_unknown_dialect_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="oceane, tmf621-v4, tmf621-v5"):
        dialect("tmf621-v6")
