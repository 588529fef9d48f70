"""The alarm-event scripts under Mono (OceaneAlarmEvent.cs for Correlation rules, OceaneAddNote.cs interactive).

They run in the kit's harness against its stand-in intake; what they post is then replayed against the
real intake in-process, so the body the C# builds is one ``POST /alarms/events`` accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oceane_ticket import events
from tests.unit import test_dataminer_kit as kit
from tests.unit.test_dataminer_kit import ALARM, TOKEN, FakeIntake

# The kit's fixtures, reused (its Mono build of each script, its stand-in intake).
mcs, stub_dll, harness, intake = kit.mcs, kit.stub_dll, kit.harness, kit.intake


def _params(intake: FakeIntake, **extra: str) -> dict[str, str]:
    return {k: ALARM[k] for k in ("DMA ID", "Element ID", "Alarm ID")} | extra


def _config(intake: FakeIntake) -> dict[str, str]:
    # The Agent's intake.json (the token is never a script parameter).
    return {"intakeUrl": intake.url, "intakeToken": TOKEN}


def _posts(intake: FakeIntake) -> list[dict[str, Any]]:
    return [r for r in intake.requests if r["method"] == "POST"]


def _accepted_by_the_intake(body: dict[str, Any]) -> events.AlarmEventIn:
    snake = {"dma_id": "dmaId", "element_id": "elementId", "alarm_id": "alarmId", "event_id": "eventId"}
    raw = {k: body.get(v) for k, v in snake.items()} | {
        k: body.get(k) for k in ("event", "time", "severity", "value", "text", "user")
    }
    return events.validate(raw)


def test_the_rule_script_sends_the_clear_with_a_stable_event_id(harness: Any, intake: FakeIntake) -> None:
    intake.answer("POST", "/alarms/events", 202, {"result": "recorded", "eventId": "x"})
    params = _params(intake, Event="cleared", Severity="Normal", **{"Alarm Value": "Link up", "Alarm Event ID": "991"})
    outcome = harness("OceaneAlarmEvent.cs", {"entry": "run", "params": params, "config": _config(intake)})
    assert outcome["exit"] == "completed"
    (post,) = _posts(intake)
    assert post["path"] == "/alarms/events" and post["authorization"] == f"Bearer {TOKEN}"
    body = post["json"]
    assert (body["event"], body["severity"], body["value"], body["eventId"]) == (
        "cleared",
        "Normal",
        "Link up",
        "dm-12-67890-991-cleared",
    )
    event = _accepted_by_the_intake(body)
    assert (event.alarm, event.event_id) == ("12/345/67890", "dm-12-67890-991-cleared")


def test_the_rule_script_refuses_an_unknown_event_without_calling(harness: Any, intake: FakeIntake) -> None:
    outcome = harness(
        "OceaneAlarmEvent.cs", {"entry": "run", "params": _params(intake, Event="exploded"), "config": _config(intake)}
    )
    assert outcome["exit"] == "fail" and "Event" in outcome["reason"]
    assert intake.requests == []


def test_the_rule_script_fails_with_the_intakes_reason(harness: Any, intake: FakeIntake) -> None:
    intake.answer("POST", "/alarms/events", 422, {"error": "dmaId: is required", "field": "dmaId"})
    outcome = harness(
        "OceaneAlarmEvent.cs", {"entry": "run", "params": _params(intake, Event="updated"), "config": _config(intake)}
    )
    assert outcome["exit"] == "fail" and "dmaId: is required" in outcome["reason"]


def test_add_note_asks_and_sends_the_note_as_the_operator(harness: Any, intake: FakeIntake, tmp_path: Path) -> None:
    intake.answer("POST", "/alarms/events", 202, {"result": "recorded", "eventId": "x"})
    scenario = {
        "entry": "run",
        "user": "CORP/alice",
        "params": _params(intake),
        "config": _config(intake),
        "ui": [{"values": {"note": "  "}, "press": "add"}, {"values": {"note": "Customer called"}, "press": "add"}],
    }
    outcome = harness("OceaneAddNote.cs", scenario)
    assert outcome["exit"] == "completed"
    (post,) = _posts(intake)  # the empty note was asked again, not sent
    body = post["json"]
    assert (body["event"], body["text"], body["user"]) == ("note", "Customer called", "CORP/alice")
    assert _accepted_by_the_intake(body).event_id == body["eventId"]


@pytest.mark.parametrize("press", ["cancel"])
def test_add_note_cancelled_sends_nothing(harness: Any, intake: FakeIntake, press: str) -> None:
    outcome = harness(
        "OceaneAddNote.cs",
        {"entry": "run", "params": _params(intake), "config": _config(intake), "ui": [{"values": {}, "press": press}]},
    )
    assert outcome["exit"] == "completed" and intake.requests == []
