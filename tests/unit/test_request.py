"""The hyperlink parameter string and the form fields: parsing and validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oceane_ticket.request import (
    PARAM_NAMES,
    AllowedValues,
    InputError,
    build_alarm,
    build_details,
    parse_alarm_params,
    summary,
)

ALLOWED = AllowedValues(
    ("1", "2", "3", "4"),
    ("Critical", "Major", "Minor", "None"),
    ("Critical", "Major", "Minor", "None"),
    ("Critical", "Major", "Minor", "None"),
)


def test_parses_the_hyperlink_string() -> None:
    raw = parse_alarm_params(
        "DMA ID=12;Element ID=345;Alarm ID=67890;Element Name=Encoder 1;Alarm Value=Signal lost;"
        "Root Time=2026-11-27T08:12:00Z"
    )
    assert raw == {
        "dma_id": "12",
        "element_id": "345",
        "alarm_id": "67890",
        "element_name": "Encoder 1",
        "alarm_value": "Signal lost",
        "root_time": "2026-11-27T08:12:00Z",
    }
    alarm = build_alarm(raw)
    assert alarm.external_id == "12/345/67890"
    assert alarm.root_time == datetime(2026, 11, 27, 8, 12, tzinfo=UTC)


def test_semicolons_and_equals_inside_name_and_value_stay_in_the_value() -> None:
    raw = parse_alarm_params("DMA ID=1;Element ID=2;Alarm ID=3;Element Name=a;b=c;;d=;Alarm Value=x=1;y;=")
    assert raw["element_name"] == "a;b=c;;d="
    assert raw["alarm_value"] == "x=1;y;="


def test_a_repeated_name_belongs_to_the_value_before_it() -> None:
    raw = parse_alarm_params("DMA ID=1;Element ID=2;Alarm ID=3;Element Name=n;Alarm Value=v;Element Name=zz")
    assert raw["element_name"] == "n"
    assert raw["alarm_value"] == "v;Element Name=zz"


def test_order_of_parameters_does_not_matter() -> None:
    raw = parse_alarm_params("Element Name=n;Alarm ID=3;DMA ID=1;Element ID=2")
    assert build_alarm(raw).external_id == "1/2/3"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "alarm"),
        ("garbage", "alarm"),
        ("Foo=1;DMA ID=1", "alarm"),
        ("DMA ID=1;Element ID=2;Alarm ID=3", "element_name"),
        ("DMA ID=x;Element ID=2;Alarm ID=3;Element Name=n", "dma_id"),
        ("DMA ID=1;Element ID=-2;Alarm ID=3;Element Name=n", "element_id"),
        ("DMA ID=1;Element ID=2;Alarm ID=3.5;Element Name=n", "alarm_id"),
        ("DMA ID=1;Element ID=2;Alarm ID=99999999999;Element Name=n", "alarm_id"),
        ("DMA ID=1;Element ID=2;Alarm ID=٣;Element Name=n", "alarm_id"),
        ("DMA ID=1;Element ID=2;Alarm ID=3;Element Name=n;Root Time=yesterday", "root_time"),
        ("DMA ID=1;Element ID=2;Alarm ID=3;Element Name=n;Root Time=2026-11-27T08:12:00", "root_time"),
        ("DMA ID=1;Element ID=2;Alarm ID=3;Element Name=a\x00b", "element_name"),
        ("DMA ID=1;Element ID=2;Alarm ID=3;Element Name=   ", "element_name"),
    ],
)
def test_bad_alarms_name_the_field(text: str, field: str) -> None:
    with pytest.raises(InputError) as err:
        build_alarm(parse_alarm_params(text))
    assert err.value.field == field
    assert str(err.value).startswith(field + ":")


def test_details_are_matched_case_insensitively_to_the_configured_spelling() -> None:
    details = build_details({"priority": "2", "urgency": "major", "technical_impact": "CRITICAL"}, ALLOWED)
    assert (details.priority, details.urgency, details.technical_impact) == ("2", "Major", "Critical")
    assert details.client_impact is None and details.description is None


@pytest.mark.parametrize(
    ("raw", "field", "hint"),
    [
        ({"urgency": "Major", "technical_impact": "Major"}, "priority", "1, 2, 3, 4"),
        ({"priority": "5", "urgency": "Major", "technical_impact": "Major"}, "priority", "allowed: 1, 2, 3, 4"),
        ({"priority": "1", "urgency": "Huge", "technical_impact": "Major"}, "urgency", "Critical, Major"),
        ({"priority": "1", "urgency": "Major"}, "technical_impact", "required"),
        (
            {"priority": "1", "urgency": "Major", "technical_impact": "Major", "client_impact": "x"},
            "client_impact",
            "None",
        ),
        (
            {"priority": "1", "urgency": "Major", "technical_impact": "Major", "description": "x" * 4001},
            "description",
            "at most 4000",
        ),
        (
            {"priority": "1", "urgency": "Major", "technical_impact": "Major", "description": "a\x07b"},
            "description",
            "control",
        ),
    ],
)
def test_bad_details_name_the_field_and_the_allowed_values(raw: dict, field: str, hint: str) -> None:
    with pytest.raises(InputError) as err:
        build_details(raw, ALLOWED)
    assert err.value.field == field
    assert hint in str(err.value)


def test_empty_description_falls_back_to_a_summary_of_the_alarm() -> None:
    details = build_details(
        {"priority": "1", "urgency": "Major", "technical_impact": "Major", "description": "  "}, ALLOWED
    )
    assert details.description is None
    alarm = build_alarm({"dma_id": 1, "element_id": 2, "alarm_id": 3, "element_name": "Enc", "alarm_value": "LOS"})
    assert summary(alarm) == "DataMiner alarm 1/2/3 on Enc; value: LOS"


_KEYS = tuple(PARAM_NAMES)
free_text = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60).filter(
    lambda s: s.strip() == s and not any(f";{k}=" in s for k in _KEYS)
)


@given(
    dma=st.integers(0, 2**31 - 1),
    element=st.integers(0, 2**31 - 1),
    alarm=st.integers(0, 2**31 - 1),
    name=free_text,
    value=free_text,
)
def test_any_name_and_value_round_trip(dma: int, element: int, alarm: int, name: str, value: str) -> None:
    text = f"DMA ID={dma};Element ID={element};Alarm ID={alarm};Element Name={name};Alarm Value={value}"
    parsed = build_alarm(parse_alarm_params(text))
    assert (parsed.dma_id, parsed.element_id, parsed.alarm_id) == (dma, element, alarm)
    assert parsed.element_name == name
    assert parsed.alarm_value == value
