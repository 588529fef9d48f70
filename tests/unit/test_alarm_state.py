"""oceane_ticket/alarm_state.py against tests/fakedm answering as dataminer-docs documents Web Services v1.

GetElement then GetActiveAlarmsForElement, the alarm matched by its root alarm ID (or its alarm ID),
and every answer that proves nothing (DataMiner down, a fault, an unknown or stopped element, an
unreadable list) an AlarmStateUnknown, never "gone".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from oceane_ticket.alarm_state import AlarmStateUnknown, WebServicesAlarmState, make_reader, unavailable_reason
from tests.conftest import make_settings
from tests.fakedm import FakeDataMiner

USER = "svc-oceane"
PASSWORD = "dm-password-9c1e"


@pytest.fixture
def dm() -> Iterator[FakeDataMiner]:
    with FakeDataMiner("127.0.0.1", 0, user=USER, password=PASSWORD) as fake:
        yield fake


def reader(dm: FakeDataMiner, **overrides: object) -> WebServicesAlarmState:
    values = {
        "alarm_writer": "webservices",
        "dataminer_url": dm.url,
        "dataminer_user": USER,
        "dataminer_password": PASSWORD,
        "http_timeout": 2.0,
    }
    made = make_reader(make_settings(**(values | overrides)))
    assert isinstance(made, WebServicesAlarmState)
    return made


def test_the_fake_answers_the_documented_shapes(dm: FakeDataMiner) -> None:
    dm.raise_alarm(12, 345, 6789, alarm_id=6800)
    connection = requests.post(
        dm.url + "/API/v1/Json.asmx/ConnectApp", json={"login": USER, "password": PASSWORD}, timeout=5
    ).json()["d"]
    body = {"connection": connection, "dmaID": 12, "elementID": 345}
    element = requests.post(dm.url + "/API/v1/Json.asmx/GetElement", json=body, timeout=5).json()
    alarms = requests.post(dm.url + "/API/v1/Json.asmx/GetActiveAlarmsForElement", json=body, timeout=5).json()
    assert set(element) == {"d"} and (element["d"]["DataMinerID"], element["d"]["ID"], element["d"]["State"]) == (
        12,
        345,
        "Active",
    )
    [alarm] = alarms["d"]
    assert (alarm["ID"], alarm["RootAlarmID"], alarm["ElementID"], alarm["IsCleared"]) == (6800, 6789, 345, False)
    missing = requests.post(dm.url + "/API/v1/Json.asmx/GetElement", json={"connection": connection}, timeout=5)
    assert missing.status_code == 500 and "missing value for parameter: 'dmaID'" in missing.json()["Message"]


def test_an_active_alarm_is_found_by_its_root_alarm_id_and_by_its_alarm_id(dm: FakeDataMiner) -> None:
    dm.raise_alarm(12, 345, 6789, alarm_id=6800)  # escalated: the tree's latest alarm has its own ID
    dm.raise_alarm(12, 345, 7000)
    active = reader(dm).active_alarm_ids(12, 345)
    assert {6789, 6800, 7000} <= active
    assert 6801 not in active


def test_a_cleared_alarm_is_not_active_whether_gone_or_listed_as_cleared(dm: FakeDataMiner) -> None:
    dm.raise_alarm(12, 345, 6789)
    dm.raise_alarm(12, 345, 7000, cleared=True)  # still listed, IsCleared true (DataMiner 9.5.5+)
    dm.clear_alarm(12, 345, 6789)
    assert reader(dm).active_alarm_ids(12, 345) == frozenset()


def test_an_element_with_no_alarm_left_answers_an_empty_set(dm: FakeDataMiner) -> None:
    dm.add_element(12, 345)
    assert reader(dm).active_alarm_ids(12, 345) == frozenset()


@pytest.mark.parametrize("state", ["Stopped", "Paused"])
def test_an_element_that_does_not_run_proves_nothing(dm: FakeDataMiner, state: str) -> None:
    dm.add_element(12, 345, state=state)
    with pytest.raises(AlarmStateUnknown, match=state):
        reader(dm).active_alarm_ids(12, 345)


def test_an_element_dataminer_does_not_know_proves_nothing(dm: FakeDataMiner) -> None:
    dm.raise_alarm(12, 999, 1)
    with pytest.raises(AlarmStateUnknown, match="12/345"):
        reader(dm).active_alarm_ids(12, 345)


@pytest.mark.parametrize("mode", ["503", "close"])
def test_dataminer_down_proves_nothing(dm: FakeDataMiner, mode: str) -> None:
    dm.add_element(12, 345)
    dm.set_down(True, mode)  # type: ignore[arg-type]
    with pytest.raises(AlarmStateUnknown):
        reader(dm).active_alarm_ids(12, 345)


def test_a_lapsed_connection_is_renewed_once(dm: FakeDataMiner) -> None:
    dm.raise_alarm(12, 345, 6789)
    state = reader(dm)
    assert 6789 in state.active_alarm_ids(12, 345)
    assert dm.expire_connections() == 1
    assert 6789 in state.active_alarm_ids(12, 345)
    connects = [c for c in dm.calls if c.path.endswith("/ConnectApp")]
    assert len(connects) == 2


def test_a_wrong_password_proves_nothing_and_never_shows(dm: FakeDataMiner) -> None:
    dm.add_element(12, 345)
    with pytest.raises(AlarmStateUnknown) as raised:
        reader(dm, dataminer_password="wrong-pass-77").active_alarm_ids(12, 345)
    assert "wrong-pass-77" not in str(raised.value) and PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, "OCEANE_ALARM_WRITER=none"),
        ({"alarm_writer": "udapi", "dataminer_url": "http://dma.test", "dataminer_token": "t"}, "udapi"),
        (
            {
                "alarm_writer": "webservices",
                "dataminer_url": "http://dma.test",
                "dataminer_user": "u",
                "dataminer_password": "p",
                "reconcile_interval": 0,
            },
            "OCEANE_RECONCILE_INTERVAL is 0",
        ),
    ],
)
def test_the_reconcile_is_off_where_dataminer_cannot_be_asked(overrides: dict[str, object], reason: str) -> None:
    settings = make_settings(**overrides)
    assert reason in (unavailable_reason(settings) or "")
    assert make_reader(settings) is None
