"""Writing the Oceane ticket onto its DataMiner alarm (``OCEANE_ALARM_WRITER``), docs/oceane-api.md §5.

Two ways in from outside DataMiner, one class each, each with its own ``requests.Session``:

- :class:`UdapiWriter`: ``POST {url}/api/custom/{route}`` with a bearer token and a JSON body, handled
  by a User-Defined API script on the Agent;
- :class:`WebServicesWriter`: Web Services v1, ``ConnectApp`` once, then
  ``ExecuteAutomationScriptWithOutput`` running the property script; the connection is kept and
  renewed when DataMiner says "No connection available".

A writer makes one attempt per :meth:`write` (plus one reconnect for a lapsed connection) and
reports a failure as :class:`WritebackError`, saying whether a later attempt may succeed; the worker
(``worker/writeback.py``) owns retries and state. Writing the same values twice is harmless, so a
repeat after a lost answer is safe. No Celery and no database here.

Secrets: the token, the password and the connection id (it is a credential: anyone holding it acts
as the account) are never put in an exception, a log line or a ``repr``.
"""

from __future__ import annotations

import email.utils
import logging
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Protocol

import requests

from oceane_ticket.oceane.errors import parse_json, printable, readable_body
from oceane_ticket.settings import Settings

log = logging.getLogger(__name__)

PROPERTY_ID = "Oceane Ticket ID"
PROPERTY_URL = "Oceane Ticket URL"
PROPERTY_STATUS = "Oceane Ticket Status"

CONNECT_PATH = "/API/v1/Json.asmx/ConnectApp"
EXECUTE_PATH = "/API/v1/Json.asmx/ExecuteAutomationScriptWithOutput"
# What Web Services v1 says when the connection id has lapsed (idle timeout, Agent restart).
NO_CONNECTION = "no connection available"
CLIENT_APP_NAME = "oceane-ticket"
# Answers worth another attempt later; any other 4xx (bad token, unknown route or script) needs
# someone to fix the configuration first, then ``oceane-ticket retry --writeback``. The User-Defined API
# endpoint answers 429 RateLimitExceeded once a token has made its 60 requests of the minute (DataMiner
# 10.6.9+) and 503 ManagerNotInitialized / MessageBrokerNotInitialized while DataMiner starts: both "later".
TRANSIENT_HTTP = frozenset({408, 425, 429})
# Longest Retry-After honoured: a value beyond it is a misconfigured proxy, not a plan.
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class AlarmRef:
    """An alarm across a DataMiner System: DMA ID, Element ID and root Alarm ID."""

    dma_id: int
    element_id: int
    alarm_id: int


class WritebackError(Exception):
    """A failed write-back; ``str()`` is one safe line (no token, password or connection id).

    Attributes:
        transient: a later attempt may succeed (DataMiner down, 5xx, 429, timeout, lapsed connection).
        http_status: the HTTP status, 0 when no answer came back.
        retry_after: seconds DataMiner asked us to wait (its ``Retry-After``), None when it did not say.
    """

    def __init__(
        self, message: str, *, transient: bool, http_status: int = 0, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.http_status = http_status
        self.retry_after = retry_after


class AlarmWriter(Protocol):
    """Sets alarm properties in DataMiner."""

    name: str

    def write(self, alarm: AlarmRef, properties: Mapping[str, str]) -> None:
        """Set ``properties`` on ``alarm``; raises :class:`WritebackError`."""

    def close(self) -> None:
        """Release pooled connections."""


def make_writer(settings: Settings) -> AlarmWriter | None:
    """The configured writer, or None for ``OCEANE_ALARM_WRITER=none``."""
    if settings.alarm_writer == "udapi":
        return UdapiWriter(settings)
    if settings.alarm_writer == "webservices":
        return WebServicesWriter(settings)
    return None


class _HttpWriter:
    """What both writers share: the session, timeouts, and errors made safe to show."""

    name = "?"

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.dataminer_url
        self._timeout = (settings.http_timeout, settings.http_timeout)
        self._session = requests.Session()
        self._session.headers.update({"Accept": "application/json"})
        self._secrets: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def _scrub(self, text: str) -> str:
        # DataMiner may echo what it was sent in an error page; never pass a secret on.
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return printable(text)

    def _post(self, path: str, body: dict[str, Any], what: str, headers: dict[str, str] | None = None) -> Any:
        try:
            return self._session.post(self.base_url + path, json=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            # The exception text may carry the URL only (no body), but keep to the type: enough to act on.
            raise WritebackError(f"{type(exc).__name__} calling DataMiner ({what})", transient=True) from None

    def _http_error(self, response: requests.Response, what: str, hint: str = "") -> WritebackError:
        status = response.status_code
        detail = self._scrub(_error_text(response.content))
        transient = status >= 500 or status in TRANSIENT_HTTP
        return WritebackError(
            f"DataMiner answered HTTP {status} to {what}: {detail}{hint}",
            transient=transient,
            http_status=status,
            retry_after=retry_after(response.headers.get("Retry-After")) if transient else None,
        )


class UdapiWriter(_HttpWriter):
    """A User-Defined API: ``POST {url}/api/custom/{route}``, ``Authorization: Bearer <token>``."""

    name = "udapi"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.path = "/api/custom/" + settings.dataminer_udapi_route.strip("/")
        self._token = settings.dataminer_token
        self._secrets = [self._token.get_secret_value()]

    def write(self, alarm: AlarmRef, properties: Mapping[str, str]) -> None:
        """Send the properties; a 2xx answer means the script set them."""
        body = {
            "dmaId": alarm.dma_id,
            "elementId": alarm.element_id,
            "rootAlarmId": alarm.alarm_id,
            "properties": dict(properties),
        }
        # The header per call, not on the session: a session's headers show up in debuggers and dumps.
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        response = self._post(self.path, body, f"POST {self.path}", headers)
        if not 200 <= response.status_code < 300:
            raise self._http_error(response, f"POST {self.path}", _udapi_hint(response.status_code, self.path))


class WebServicesWriter(_HttpWriter):
    """Web Services v1 (``Json.asmx``): ``ConnectApp``, then ``ExecuteAutomationScriptWithOutput``."""

    name = "webservices"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.user = settings.dataminer_user
        self._password = settings.dataminer_password
        self.script = settings.dataminer_property_script
        self._connection: str | None = None
        # One connection per process, shared by its threads; connecting twice at once would waste one.
        self._lock = threading.Lock()
        self._secrets = [self._password.get_secret_value()]

    def _connect(self) -> str:
        body = {
            "host": "",
            "login": self.user,
            "password": self._password.get_secret_value(),
            "clientAppName": CLIENT_APP_NAME,
            "clientAppVersion": _version(),
            "clientComputerName": socket.gethostname(),
        }
        response = self._post(CONNECT_PATH, body, "ConnectApp")
        if response.status_code != 200:
            raise self._http_error(response, "ConnectApp")
        connection = _unwrap(response)
        if not isinstance(connection, str) or not connection:
            raise WritebackError(
                "DataMiner answered ConnectApp without a connection id", transient=True, http_status=200
            )
        self._secrets = [self._password.get_secret_value(), connection]
        log.info("connected to DataMiner Web Services at %s as %s", self.base_url, self.user)
        return connection

    def _current(self) -> str:
        with self._lock:
            if self._connection is None:
                self._connection = self._connect()
            return self._connection

    def _drop(self, connection: str) -> None:
        with self._lock:
            if self._connection == connection:
                self._connection = None

    def write(self, alarm: AlarmRef, properties: Mapping[str, str]) -> None:
        """Run the property script with the alarm and the properties as its parameters."""
        values = {"DMA ID": str(alarm.dma_id), "Element ID": str(alarm.element_id), "Alarm ID": str(alarm.alarm_id)}
        values.update(properties)
        parameters = [
            {"ParameterId": index, "Name": name, "Value": value}
            for index, (name, value) in enumerate(values.items(), start=1)
        ]
        script = {
            "Name": self.script,
            "Folder": "",
            "Description": "",
            "Parameters": parameters,
            "Dummies": [],
            "MemoryFiles": [],
        }
        options = {"WaitForScript": True}
        self._check_result(self.call("ExecuteAutomationScriptWithOutput", {"script": script, "scriptOptions": options}))

    def call(self, method: str, parameters: Mapping[str, Any]) -> Any:
        """One Web Services v1 method with the kept connection (renewed once if it lapsed); its ``d``.

        The write-back's ExecuteAutomationScriptWithOutput goes through here, and so do the reads beside
        it (the reconcile's ``GetElement`` and ``GetActiveAlarmsForElement``, oceane_ticket/alarm_state.py).
        Raises :class:`WritebackError` on any failure, the text safe to show.
        """
        path = "/API/v1/Json.asmx/" + method
        for attempt in (1, 2):
            connection = self._current()
            response = self._post(path, {"connection": connection, **parameters}, method)
            if response.status_code != 200 and NO_CONNECTION in response.text.lower():
                # The connection lapsed (idle timeout, Agent restart): connect again once and
                # repeat; a second refusal is DataMiner's problem, for a later attempt.
                self._drop(connection)
                if attempt == 1:
                    log.info("DataMiner connection lapsed; connecting again")
                    continue
                raise WritebackError(
                    "DataMiner refused a fresh connection (No connection available)",
                    transient=True,
                    http_status=response.status_code,
                )
            if response.status_code != 200:
                raise self._http_error(response, method)
            return _unwrap(response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _check_result(self, result: Any) -> None:
        # The script's result: {"HadErrors": bool, "ErrorMessages": [...], "ScriptOutput": [...]}
        # (older Agents spell them HadError / Errors). A script that refused its input (a bad
        # parameter) will refuse it again, so that is not worth a retry.
        if not isinstance(result, dict) or not (result.get("HadErrors") or result.get("HadError")):
            return
        errors = result.get("ErrorMessages") or result.get("Errors") or []
        text = "; ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
        raise WritebackError(
            f"script {self.script!r} failed: {self._scrub(text)[:300] or 'no message'}",
            transient=False,
            http_status=200,
        )


def _unwrap(response: requests.Response) -> Any:
    """The ``d`` of a Web Services answer (``{"d": ...}``)."""
    try:
        data = parse_json(response.content)
    except ValueError as exc:
        raise WritebackError(
            f"DataMiner answered with {exc}", transient=True, http_status=response.status_code
        ) from None
    if not isinstance(data, dict) or "d" not in data:
        raise WritebackError("DataMiner's answer has no 'd' member", transient=True, http_status=response.status_code)
    return data["d"]


def _udapi_hint(status: int, path: str) -> str:
    """What an administrator does about the User-Defined API endpoint's refusal (dataminer/README.md, step 6)."""
    if status == 404:
        route = path.removeprefix("/api/custom/")
        return (
            f" (no API definition with the route {route!r} on this Agent: create it in the Automation module,"
            " Configure API, or set OCEANE_DATAMINER_UDAPI_ROUTE to its route; API definitions are not in"
            " DataMiner backups)"
        )
    if status == 401:
        return " (the token is missing, wrong, disabled or not allowed for this API: check OCEANE_DATAMINER_TOKEN)"
    return ""


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER)


def _error_text(body: bytes) -> str:
    try:
        data = parse_json(body)
    except ValueError:
        return readable_body(body, limit=200)
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        # The User-Defined API's own shape: {"errors": [{"title", "detail", "errorCode", "faultingNode"}]}
        # (dataminer-docs, user-guide/Advanced_Modules/User-Defined_APIs/UD_APIs_Triggering_an_API.md).
        first = errors[0]
        detail = str(first.get("detail") or first.get("title") or "")[:200]
        code = first.get("errorCode")
        return f"{detail} (errorCode {code})" if code not in (None, "") else detail
    if isinstance(data, dict):
        for key in ("Message", "message", "error", "errorMessage", "description"):
            if isinstance(data.get(key), str) and data[key].strip():
                return str(data[key])[:200]
    return readable_body(body, limit=200)


def _version() -> str:
    try:
        return metadata.version("oceane-ticket")
    except metadata.PackageNotFoundError:
        return "0"
