"""oceane_ticket/alarm_writer.py against `responses` mocks: the exact DataMiner calls, errors, no secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from oceane_ticket.alarm_writer import (
    AlarmRef,
    UdapiWriter,
    WebServicesWriter,
    WritebackError,
    make_writer,
)
from tests.conftest import make_settings

DMA = "http://dma.test"
TOKEN = "udapi-token-value-42"
PASSWORD = "dm-password-value-42"
CONNECTION = "conn-id-secret-0001"
ALARM = AlarmRef(12, 345, 67890)
PROPS = {"Oceane Ticket ID": "2611M80375", "Oceane Ticket URL": "https://oceane.example/ticket/2611M80375"}
CONNECT = DMA + "/API/v1/Json.asmx/ConnectApp"
EXECUTE = DMA + "/API/v1/Json.asmx/ExecuteAutomationScriptWithOutput"
SCRIPT_OK = {"d": {"HadErrors": False, "ErrorMessages": [], "ScriptOutput": []}}


def udapi(**overrides: Any) -> UdapiWriter:
    values = {"alarm_writer": "udapi", "dataminer_url": DMA, "dataminer_token": TOKEN, "http_timeout": 1.0}
    writer = make_writer(make_settings(**(values | overrides)))
    assert isinstance(writer, UdapiWriter)
    return writer


def webservices() -> WebServicesWriter:
    settings = make_settings(
        alarm_writer="webservices",
        dataminer_url=DMA,
        dataminer_user="svc-oceane",
        dataminer_password=PASSWORD,
        http_timeout=1.0,
    )
    writer = make_writer(settings)
    assert isinstance(writer, WebServicesWriter)
    return writer


def test_none_means_no_writer() -> None:
    assert make_writer(make_settings()) is None


@responses.activate
def test_udapi_posts_the_documented_body_with_the_bearer_token() -> None:
    route = DMA + "/api/custom/oceane/alarm-properties"
    responses.post(
        route,
        json={"ok": True},
        match=[
            matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
            matchers.json_params_matcher({"dmaId": 12, "elementId": 345, "rootAlarmId": 67890, "properties": PROPS}),
        ],
    )
    udapi().write(ALARM, PROPS)
    assert len(responses.calls) == 1


@responses.activate
def test_udapi_route_is_a_setting() -> None:
    responses.post(DMA + "/api/custom/my/route", json={})
    udapi(dataminer_udapi_route="/my/route/").write(ALARM, PROPS)
    assert responses.calls[0].request.url == DMA + "/api/custom/my/route"


@pytest.mark.parametrize(("status", "transient"), [(500, True), (503, True), (429, True), (401, False), (404, False)])
@responses.activate
def test_udapi_errors_say_whether_a_retry_can_help(status: int, transient: bool) -> None:
    # An error page that echoes the token back must not carry it into our error text.
    responses.post(DMA + "/api/custom/oceane/alarm-properties", status=status, json={"Message": f"bad {TOKEN}"})
    with pytest.raises(WritebackError) as caught:
        udapi().write(ALARM, PROPS)
    assert caught.value.transient is transient and caught.value.http_status == status
    assert TOKEN not in str(caught.value) and str(status) in str(caught.value)


@responses.activate
def test_udapi_unreachable_is_transient() -> None:
    responses.post(DMA + "/api/custom/oceane/alarm-properties", body=requests.ConnectionError("refused"))
    with pytest.raises(WritebackError) as caught:
        udapi().write(ALARM, PROPS)
    assert caught.value.transient and caught.value.http_status == 0


@responses.activate
def test_webservices_connects_once_and_runs_the_script_with_the_five_parameters() -> None:
    responses.post(CONNECT, json={"d": CONNECTION})
    responses.post(EXECUTE, json=SCRIPT_OK)
    writer = webservices()
    writer.write(ALARM, PROPS)
    writer.write(AlarmRef(12, 345, 1), PROPS)
    urls = [c.request.url for c in responses.calls]
    assert urls == [CONNECT, EXECUTE, EXECUTE]
    connect = json.loads(responses.calls[0].request.body)
    assert (connect["login"], connect["password"], connect["host"]) == ("svc-oceane", PASSWORD, "")
    assert {"clientAppName", "clientAppVersion", "clientComputerName"} <= set(connect)
    run = json.loads(responses.calls[1].request.body)
    assert run["connection"] == CONNECTION
    assert run["script"]["Name"] == "Oceane Set Alarm Properties"
    assert [(p["Name"], p["Value"]) for p in run["script"]["Parameters"]] == [
        ("DMA ID", "12"),
        ("Element ID", "345"),
        ("Alarm ID", "67890"),
        ("Oceane Ticket ID", PROPS["Oceane Ticket ID"]),
        ("Oceane Ticket URL", PROPS["Oceane Ticket URL"]),
    ]
    assert run["scriptOptions"]["WaitForScript"] is True
    assert all(isinstance(p["Value"], str) for p in run["script"]["Parameters"])


@responses.activate
def test_webservices_renews_a_lapsed_connection_once() -> None:
    responses.post(CONNECT, json={"d": CONNECTION})
    responses.post(CONNECT, json={"d": "conn-id-secret-0002"})
    lapsed = {"Message": "No connection available", "ExceptionType": "System.Exception"}
    responses.post(
        EXECUTE,
        status=500,
        json=lapsed,
        match=[matchers.json_params_matcher({"connection": CONNECTION}, strict_match=False)],
    )
    responses.post(
        EXECUTE,
        json=SCRIPT_OK,
        match=[matchers.json_params_matcher({"connection": "conn-id-secret-0002"}, strict_match=False)],
    )
    webservices().write(ALARM, PROPS)
    assert [c.request.url for c in responses.calls] == [CONNECT, EXECUTE, CONNECT, EXECUTE]


@responses.activate
def test_webservices_gives_up_for_now_when_a_fresh_connection_is_refused_too() -> None:
    responses.post(CONNECT, json={"d": CONNECTION})
    responses.post(EXECUTE, status=500, json={"Message": "No connection available"})
    with pytest.raises(WritebackError) as caught:
        webservices().write(ALARM, PROPS)
    assert caught.value.transient
    assert [c.request.url for c in responses.calls] == [CONNECT, EXECUTE, CONNECT, EXECUTE]
    assert CONNECTION not in str(caught.value)


@responses.activate
def test_webservices_script_error_is_final_and_bad_login_is_not_retried_at_once() -> None:
    responses.post(CONNECT, json={"d": CONNECTION})
    responses.post(EXECUTE, json={"d": {"HadErrors": True, "ErrorMessages": ["Alarm ID: expected a number"]}})
    with pytest.raises(WritebackError) as caught:
        webservices().write(ALARM, PROPS)
    assert not caught.value.transient and "Alarm ID" in str(caught.value)

    responses.reset()
    responses.post(CONNECT, status=500, json={"Message": f"Login failed for svc-oceane/{PASSWORD}"})
    with pytest.raises(WritebackError) as caught:
        webservices().write(ALARM, PROPS)
    assert PASSWORD not in str(caught.value)


def test_repr_shows_no_secret() -> None:
    for writer in (udapi(), webservices()):
        writer._connection = CONNECTION if isinstance(writer, WebServicesWriter) else None  # type: ignore[attr-defined]
        text = repr(writer) + str(vars(writer).get("base_url"))
        assert TOKEN not in text and PASSWORD not in text and CONNECTION not in text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"alarm_writer": "udapi"}, "OCEANE_DATAMINER_URL"),
        ({"alarm_writer": "udapi", "dataminer_url": DMA}, "OCEANE_DATAMINER_TOKEN"),
        ({"alarm_writer": "webservices", "dataminer_url": DMA, "dataminer_password": "x"}, "OCEANE_DATAMINER_USER"),
        ({"alarm_writer": "webservices", "dataminer_url": DMA, "dataminer_user": "u"}, "OCEANE_DATAMINER_PASSWORD"),
        (
            {"alarm_writer": "udapi", "dataminer_url": "dma.test", "dataminer_token": "t"},
            "OCEANE_DATAMINER_URL: must start with http",
        ),
        ({"alarm_writer": "snmp"}, "OCEANE_ALARM_WRITER: must be one of none, udapi, webservices"),
    ],
)
def test_an_incomplete_writer_configuration_is_refused_naming_the_setting(env: dict[str, str], named: str) -> None:
    from oceane_ticket.settings import SettingsError

    with pytest.raises(SettingsError, match=named):
        make_settings(**env)


# --- against the fake DataMiner, which answers in the User-Defined API endpoint's own shapes ---


def _udapi_at(dm: Any, **overrides: Any) -> UdapiWriter:
    return udapi(dataminer_url=dm.url, **overrides)


def test_a_429_from_the_rate_limit_is_for_later_and_carries_retry_after() -> None:
    from tests.fakedm import FakeDataMiner

    with FakeDataMiner(token=TOKEN) as dm:
        dm.throttle(1, retry_after=7)
        with pytest.raises(WritebackError) as caught:
            _udapi_at(dm).write(ALARM, PROPS)
        _udapi_at(dm).write(ALARM, PROPS)  # the next minute's request goes through
        stored = dm.properties(12, 345, 67890)

    assert (caught.value.transient, caught.value.http_status, caught.value.retry_after) == (True, 429, 7.0)
    assert "RateLimitExceeded" in str(caught.value)
    assert stored == PROPS


def test_a_503_while_dataminer_starts_is_for_later() -> None:
    from tests.fakedm import FakeDataMiner

    with FakeDataMiner(token=TOKEN) as dm:
        dm.set_down(True)
        with pytest.raises(WritebackError) as caught:
            _udapi_at(dm).write(ALARM, PROPS)

    assert (caught.value.transient, caught.value.http_status) == (True, 503)
    assert "errorCode 7" in str(caught.value)  # ManagerNotInitialized, from the endpoint's own error


def test_a_404_names_the_route_that_has_no_api_definition() -> None:
    from tests.fakedm import FakeDataMiner

    with FakeDataMiner(token=TOKEN) as dm, pytest.raises(WritebackError) as caught:
        _udapi_at(dm, dataminer_udapi_route="oceane/typo").write(ALARM, PROPS)

    assert (caught.value.transient, caught.value.http_status) == (False, 404)
    assert "'oceane/typo'" in str(caught.value) and "OCEANE_DATAMINER_UDAPI_ROUTE" in str(caught.value)


@pytest.mark.parametrize("token", ["wrong-token-value-00000000000000"])
def test_a_401_from_the_endpoint_names_the_token_setting_but_not_the_token(token: str) -> None:
    from tests.fakedm import FakeDataMiner

    with FakeDataMiner(token=TOKEN) as dm, pytest.raises(WritebackError) as caught:
        _udapi_at(dm, dataminer_token=token).write(ALARM, PROPS)

    assert (caught.value.transient, caught.value.http_status) == (False, 401)
    assert "OCEANE_DATAMINER_TOKEN" in str(caught.value) and token not in str(caught.value)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("12", 12.0), ("", None), ("soon", None), ("999999", 3600.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_reads_seconds_or_a_date(header: str, seconds: float | None) -> None:
    from oceane_ticket.alarm_writer import retry_after

    assert retry_after(header) == seconds
