"""The fake DataMiner over loopback: UDAPI route, Web Services ConnectApp / ExecuteAutomationScriptWithOutput."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakedm import FakeDataMiner

TOKEN = "udapi-secret-1"
USER = "oceane-svc"
PASSWORD = "ws-password-2"
BODY = {
    "dmaId": 12,
    "elementId": 345,
    "rootAlarmId": 67890,
    "properties": {"Oceane Ticket ID": "OCE-1", "Oceane Ticket URL": "http://oceane/t/OCE-1"},
}


@pytest.fixture
def dm() -> Iterator[FakeDataMiner]:
    with FakeDataMiner(token=TOKEN, user=USER, password=PASSWORD) as server:
        yield server


def _udapi(dm: FakeDataMiner, body: Any, token: str | None = TOKEN, route: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.post(
        f"{dm.url}/api/custom/{route or dm.route}",
        data=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers=headers,
        timeout=10,
    )


def _ws(dm: FakeDataMiner, method: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{dm.url}/API/v1/Json.asmx/{method}", json=body, timeout=10)


def _connect(dm: FakeDataMiner, password: str = PASSWORD) -> requests.Response:
    return _ws(
        dm,
        "ConnectApp",
        {
            "host": "",
            "login": USER,
            "password": password,
            "clientAppName": "oceane-ticket",
            "clientAppVersion": "1",
            "clientComputerName": "worker-1",
        },
    )


def _execute(
    dm: FakeDataMiner, connection: str, values: dict[str, str], script: str = "Oceane Set Alarm Properties"
) -> requests.Response:
    parameters = [{"ParameterId": i, "Name": k, "Value": v} for i, (k, v) in enumerate(values.items(), start=1)]
    return _ws(
        dm,
        "ExecuteAutomationScriptWithOutput",
        {
            "connection": connection,
            "script": {
                "Name": script,
                "Folder": "",
                "Description": "",
                "Parameters": parameters,
                "Dummies": [],
                "MemoryFiles": [],
            },
            "scriptOptions": {"WaitForScript": True},
        },
    )


PARAMS = {
    "DMA ID": "12",
    "Element ID": "345",
    "Alarm ID": "67890",
    "Oceane Ticket ID": "OCE-7",
    "Oceane Ticket URL": "http://oceane/t/OCE-7",
}


# --- User-Defined API ---


def test_udapi_sets_the_properties_of_the_root_alarm(dm: FakeDataMiner) -> None:
    answer = _udapi(dm, BODY)

    assert answer.status_code == 200
    assert answer.json() == BODY
    assert dm.properties(12, 345, 67890) == BODY["properties"]
    assert dm.properties(12, 345, 1) == {}
    (call,) = dm.calls
    assert (call.method, call.path, call.body, call.status, call.authorized) == (
        "POST",
        "/api/custom/oceane/alarm-properties",
        BODY,
        200,
        True,
    )


def test_udapi_updates_only_the_properties_given(dm: FakeDataMiner) -> None:
    _udapi(dm, BODY)
    answer = _udapi(dm, {**BODY, "properties": {"Oceane Ticket Status": "resolved"}})

    assert answer.status_code == 200
    assert dm.properties(12, 345, 67890) == {**BODY["properties"], "Oceane Ticket Status": "resolved"}


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"])
def test_udapi_refuses_a_missing_or_wrong_token(dm: FakeDataMiner, token: str | None) -> None:
    answer = _udapi(dm, BODY, token=token)

    assert answer.status_code == 401
    (error,) = answer.json()["errors"]  # the endpoint's own error (UD_APIs_Triggering_an_API.md, "Errors")
    assert error["errorCode"] == (1008 if token is None else 1010)
    assert dm.all_properties() == {}
    assert dm.calls[0].authorized is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "dmaId": None}, "dmaId"),
        ({**BODY, "elementId": "x1"}, "elementId"),
        ({**BODY, "rootAlarmId": 0}, "rootAlarmId"),
        ({**BODY, "rootAlarmId": 1.5}, "rootAlarmId"),
        ({**BODY, "properties": {"Severity": "Critical"}}, "properties"),
        ({**BODY, "properties": {"Oceane Ticket URL": ["x"]}}, "properties.Oceane Ticket URL"),
        ({**BODY, "properties": {"Oceane Ticket ID": "x" * 2049}}, "properties.Oceane Ticket ID"),
        (b"not json", "body"),
    ],
)
def test_udapi_refuses_a_bad_body_naming_the_field(dm: FakeDataMiner, body: Any, field: str) -> None:
    answer = _udapi(dm, body)

    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["detail"].startswith(field + ":")
    assert dm.all_properties() == {}


def test_udapi_answers_404_for_another_route_and_405_for_another_method(dm: FakeDataMiner) -> None:
    missing = _udapi(dm, BODY, route="oceane/other")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["errorCode"] == 5  # DefinitionNotFound
    get = requests.get(f"{dm.url}/api/custom/{dm.route}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert get.status_code == 405
    assert "errorCode" not in get.json()["errors"][0]  # the script's answer, not the endpoint's
    patch = requests.patch(f"{dm.url}/api/custom/{dm.route}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert (patch.status_code, patch.json()["errors"][0]["errorCode"]) == (405, 3)  # InvalidRequestMethod
    assert dm.all_properties() == {}


def test_udapi_refuses_an_unsupported_content_type_with_415(dm: FakeDataMiner) -> None:
    answer = requests.post(
        f"{dm.url}/api/custom/{dm.route}",
        data=b"x",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert (answer.status_code, answer.json()["errors"][0]["errorCode"]) == (415, 1003)
    assert dm.all_properties() == {}


def test_udapi_answers_429_with_retry_after_past_the_tokens_rate_limit() -> None:
    with FakeDataMiner(token=TOKEN, rate_limit=2) as limited:
        codes = [_udapi(limited, BODY).status_code for _ in range(3)]
        refused = _udapi(limited, BODY)

    assert codes == [200, 200, 429]
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["errors"][0]["errorCode"] == "RateLimitExceeded"


def test_throttle_refuses_the_next_calls_then_serves_again(dm: FakeDataMiner) -> None:
    dm.throttle(1, retry_after=None)
    first, second = _udapi(dm, BODY), _udapi(dm, BODY)

    assert first.status_code == 429 and "Retry-After" not in first.headers
    assert second.status_code == 200


# --- Web Services v1 ---


def test_web_services_connect_then_run_the_property_script(dm: FakeDataMiner) -> None:
    connected = _connect(dm)
    assert connected.status_code == 200
    connection = connected.json()["d"]
    assert isinstance(connection, str) and connection

    ran = _execute(dm, connection, {**PARAMS, "Oceane Ticket Status": "open"})

    assert ran.status_code == 200
    result = ran.json()["d"]
    assert (result["HadErrors"], result["ErrorMessages"]) == (False, [])
    assert dm.properties(12, 345, 67890) == {
        "Oceane Ticket ID": "OCE-7",
        "Oceane Ticket URL": "http://oceane/t/OCE-7",
        "Oceane Ticket Status": "open",
    }


def test_web_services_refuse_a_wrong_password_and_never_log_it(dm: FakeDataMiner) -> None:
    answer = _connect(dm, password="not-it")

    assert answer.status_code == 500
    assert "d" not in answer.json()
    assert "password" in answer.json()["Message"]
    _connect(dm)
    log = repr(dm.calls) + repr(dm)
    assert PASSWORD not in log and "not-it" not in log
    assert dm.calls[0].body["password"] == "***"
    assert TOKEN not in repr(dm)


def test_an_expired_connection_answers_no_connection_available_until_reconnected(dm: FakeDataMiner) -> None:
    old = _connect(dm).json()["d"]
    assert dm.expire_connections() == 1

    dead = _execute(dm, old, PARAMS)

    assert dead.status_code == 500
    assert "No connection available" in dead.json()["Message"]
    assert dm.all_properties() == {}
    fresh = _connect(dm).json()["d"]
    assert _execute(dm, fresh, PARAMS).json()["d"]["HadErrors"] is False
    assert dm.properties(12, 345, 67890)["Oceane Ticket ID"] == "OCE-7"


def test_an_unknown_connection_is_refused(dm: FakeDataMiner) -> None:
    answer = _execute(dm, "made-up", PARAMS)
    assert answer.status_code == 500
    assert "No connection available" in answer.json()["Message"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**PARAMS, "DMA ID": "twelve"}, "DMA ID:"),
        ({k: v for k, v in PARAMS.items() if k != "Alarm ID"}, "Alarm ID:"),
        ({**PARAMS, "Oceane Ticket ID": "", "Oceane Ticket URL": ""}, "properties:"),
        ({**PARAMS, "Severity": "x"}, "script parameter 'Severity'"),
    ],
)
def test_the_property_script_reports_a_bad_parameter(dm: FakeDataMiner, values: dict[str, str], message: str) -> None:
    connection = _connect(dm).json()["d"]

    result = _execute(dm, connection, values).json()["d"]

    assert result["HadErrors"] is True
    assert result["ErrorMessages"][0].startswith(message)
    assert dm.all_properties() == {}


def test_a_value_that_is_not_a_string_is_refused(dm: FakeDataMiner) -> None:
    connection = _connect(dm).json()["d"]
    body = {
        "connection": connection,
        "script": {
            "Name": "Oceane Set Alarm Properties",
            "Parameters": [{"ParameterId": 1, "Name": "DMA ID", "Value": 12}],
        },
    }
    result = _ws(dm, "ExecuteAutomationScriptWithOutput", body).json()["d"]
    assert result["HadErrors"] is True
    assert result["ErrorMessages"] == ["DMA ID: every value is a string"]


def test_another_script_or_method_is_a_fault(dm: FakeDataMiner) -> None:
    connection = _connect(dm).json()["d"]
    assert _execute(dm, connection, PARAMS, script="Something Else").status_code == 500
    assert _ws(dm, "GetElements", {"connection": connection}).status_code == 500
    assert dm.all_properties() == {}


# --- going down and coming back ---


def test_down_with_503_then_back(dm: FakeDataMiner) -> None:
    dm.set_down(True)
    assert _udapi(dm, BODY).status_code == 503
    assert _connect(dm).status_code == 503
    assert dm.all_properties() == {}

    dm.set_down(False)
    assert _udapi(dm, BODY).status_code == 200
    assert dm.properties(12, 345, 67890) == BODY["properties"]


def test_down_closing_connections_then_back(dm: FakeDataMiner) -> None:
    dm.set_down(True, mode="close")
    with pytest.raises(requests.ConnectionError):
        _udapi(dm, BODY)
    assert dm.calls[-1].status == 0
    assert dm.all_properties() == {}

    dm.set_down(False)
    assert _udapi(dm, BODY).status_code == 200


def test_set_down_refuses_an_unknown_mode(dm: FakeDataMiner) -> None:
    with pytest.raises(ValueError, match="mode"):
        dm.set_down(True, mode="explode")  # type: ignore[arg-type]


def test_reset_forgets_everything(dm: FakeDataMiner) -> None:
    _udapi(dm, BODY)
    _connect(dm)
    dm.reset()
    assert (dm.calls, dm.all_properties(), dm.expire_connections()) == ([], {}, 0)


# --- console entry ---


def test_console_entry_serves_until_terminated() -> None:
    env_free_args = [sys.executable, "-m", "tests.fakedm", "--port", "0", "--token", TOKEN]
    process = subprocess.Popen(env_free_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once it listens
        url = line.split()[3]
        assert url.startswith("http://127.0.0.1:")
        answer = requests.post(
            f"{url}/api/custom/oceane/alarm-properties",
            json=BODY,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 200
        assert TOKEN not in line
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert TOKEN not in stderr


def test_console_entry_refuses_a_bad_port() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakedm", "--port", "70000"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr
