"""A fake DataMiner Agent on loopback: the two ways the worker writes a ticket onto an alarm.

Test-only, so it lives under ``tests/`` (``python -m tests.fakedm``) and ships in neither the wheel nor the
image: nothing in production may talk to a fake DataMiner by accident.

It implements what ``docs/oceane-api.md`` section 5 and dataminer/README.md describe, and answers
the way the kit's C# scripts do (``dataminer/scripts``):

- **User-Defined API** ``POST /api/custom/{route}`` (route ``oceane/alarm-properties``), header
  ``Authorization: Bearer {token}``, body ``{"dmaId", "elementId", "rootAlarmId", "properties": {...}}``.
  The endpoint's own failures come as DataMiner's UserDefinableApiEndpoint sends them,
  ``{"errors": [{"title", "detail", "errorCode", "faultingNode"}]}`` (SkylineCommunications/dataminer-docs,
  user-guide/Advanced_Modules/User-Defined_APIs/UD_APIs_Triggering_an_API.md, "Errors"): 401
  AuthenticationHeaderInvalid (1008) or AuthenticationFailed (1010), 404 DefinitionNotFound (5), 405
  InvalidRequestMethod (3) for a method the endpoint does not take, 415 InvalidContentType (1003), 503
  ManagerNotInitialized (7) while down, and 429 RateLimitExceeded with ``Retry-After`` once a token has
  made its requests of the minute (DataMiner 10.6.9+: 60 a minute; ``rate_limit`` here, off by default;
  :meth:`FakeDataMiner.throttle` for the next calls). The script's own answers: 405 for another method,
  400 naming the bad field, both ``{"errors": [{"title", "detail"}]}`` as the docs recommend for scripts,
  else 200 with ``{"dmaId", "elementId", "rootAlarmId", "properties"}`` (what was set).
- **Web Services v1** ``POST /API/v1/Json.asmx/<Method>``, answers wrapped as ``{"d": ...}``:
  ``ConnectApp`` (login + password) answers ``{"d": "<connection>"}``; ``ExecuteAutomationScriptWithOutput``
  runs the script ``Oceane Set Alarm Properties`` and answers ``{"d": {"HadErrors": false, "ErrorMessages": [],
  "ScriptOutput": [{"Key": "result", "Value": ...}]}}`` (``HadErrors: true`` and the message naming the
  parameter for a bad one). Faults are ASP.NET's JSON fault: HTTP 500 ``{"Message", "ExceptionType",
  "StackTrace"}``; an unknown or expired connection's message contains "No connection available".

``GetElement`` and ``GetActiveAlarmsForElement`` answer from the elements and active alarms the test
set (:meth:`FakeDataMiner.raise_alarm`, :meth:`FakeDataMiner.clear_alarm`, :meth:`FakeDataMiner.add_element`),
as documented: ``tests/fakedm/alarm_answers.py``.

Alarm properties are stored per (dmaId, elementId, rootAlarmId). Every call is logged (method, path, body with
the password masked, answer status). Test controls: :meth:`FakeDataMiner.expire_connections`,
:meth:`FakeDataMiner.set_down` (503 or a closed connection), :meth:`FakeDataMiner.throttle`.

Over 400 lines on purpose: one fake of one system (DataMiner's UDAPI endpoint and Web Services), whose
answers are checked together against the pages cited above.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from oceane_ticket.sandbox.handler import LoopbackHTTPServer
from oceane_ticket.sandbox.httpio import Request
from oceane_ticket.sandbox.protocol import ApiError, Response
from tests.fakedm import alarm_answers

logger = logging.getLogger(__name__)

DEFAULT_ROUTE = "oceane/alarm-properties"
SCRIPT_NAME = "Oceane Set Alarm Properties"
PROPERTY_NAMES = ("Oceane Ticket ID", "Oceane Ticket URL", "Oceane Ticket Status")
MAX_PROPERTY_LENGTH = 2048  # as OceaneNames.MaxPropertyLength in the C# scripts
MAX_BODY_BYTES = 1024 * 1024
REQUEST_TIMEOUT = 15.0  # seconds a connection may take to send a request
WS_PREFIX = "/API/v1/Json.asmx/"
MASK = "***"

AlarmKey = tuple[int, int, int]
DownMode = Literal["503", "close"]


class BadInput(Exception):
    """A request field the real script would refuse; the message names it."""


@dataclass(frozen=True)
class Call:
    """One request the fake received.

    Attributes:
        method: HTTP method.
        path: Path and query as sent.
        body: The JSON body (passwords masked), or the raw text when it is not JSON.
        status: The HTTP status answered (0 when the connection was closed instead).
        authorized: Whether a UDAPI call carried the right bearer token (None for other calls).
    """

    method: str
    path: str
    body: Any
    status: int
    authorized: bool | None = None


@dataclass
class _State:
    token: str
    user: str
    password: str
    route: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    properties: dict[AlarmKey, dict[str, str]] = field(default_factory=dict)
    connections: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    down: DownMode | None = None
    rate_limit: int | None = None  # UDAPI requests a token may make per minute (DataMiner 10.6.9+: 60)
    recent: deque[float] = field(default_factory=deque)  # monotonic times of this minute's UDAPI requests
    throttled: int = 0  # the next UDAPI calls answered 429
    retry_after: int | None = 1  # seconds sent in Retry-After with a 429, None for no header
    # The reconcile's reads (GetElement, GetActiveAlarmsForElement): elements DataMiner knows, with
    # their State, and each element's active alarms by root alarm ID (see alarm_answers below).
    elements: dict[tuple[int, int], str] = field(default_factory=dict)
    active_alarms: dict[AlarmKey, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Answer:
    status: int
    body: Any
    close: bool = False
    headers: dict[str, str] = field(default_factory=dict)


# The endpoint's error codes (UD_APIs_Triggering_an_API.md, "errorCode"). RateLimitExceeded's integer value is
# not in the stored copies of that page: the fake sends its name, and the worker reads either.
AUTHENTICATION_HEADER_INVALID = 1008
AUTHENTICATION_FAILED = 1010
DEFINITION_NOT_FOUND = 5
INVALID_REQUEST_METHOD = 3
INVALID_CONTENT_TYPE = 1003
MANAGER_NOT_INITIALIZED = 7
RATE_LIMIT_EXCEEDED = "RateLimitExceeded"
ENDPOINT_METHODS = ("GET", "PUT", "POST", "DELETE")
ENDPOINT_CONTENT_TYPES = ("application/json", "application/xml", "text/xml", "text/plain")
FAULTING_NODE = 1


def endpoint_error(status: int, code: int | str, detail: str, headers: dict[str, str] | None = None) -> _Answer:
    """An error of DataMiner's UserDefinableApiEndpoint itself (before any script runs)."""
    error = {
        "title": "Error occurred while handling the request, contact your admin with the provided errorCode "
        "and faultingNode ID.",
        "detail": detail,
        "errorCode": code,
        "faultingNode": FAULTING_NODE,
    }
    return _Answer(status, {"errors": [error]}, headers=headers or {})


def script_error(status: int, detail: str) -> _Answer:
    """An error the kit's API script answers (the recommended shape, without errorCode)."""
    return _Answer(status, {"errors": [{"title": "The Oceane properties were not set.", "detail": detail}]})


class FakeDataMiner:
    """A fake DataMiner Agent's UDAPI and Web Services endpoints, served on a daemon thread.

    Use as a context manager::

        with FakeDataMiner(token="t", user="oceane", password="pw") as dm:
            requests.post(f"{dm.url}/api/custom/oceane/alarm-properties", ...)
            dm.properties(12, 345, 67890)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = "fake-udapi-token",  # noqa: S107 - a fake server's default, not a secret
        user: str = "oceane",
        password: str = "fake-password",  # noqa: S107 - a fake server's default, not a secret
        route: str = DEFAULT_ROUTE,
        rate_limit: int | None = None,
    ) -> None:
        """Configure; nothing listens until :meth:`start` (or ``with``).

        Args:
            host: Address to bind (loopback by default).
            port: Port; 0 picks a free one.
            token: The bearer token the UDAPI route accepts.
            user: The Web Services login.
            password: The Web Services password.
            route: The UDAPI route (after ``/api/custom/``).
            rate_limit: UDAPI requests per minute before 429 (DataMiner 10.6.9+ allows 60); None: no limit.
        """
        self._host = host
        self._port = port
        self._state = _State(token=token, user=user, password=password, route=route.strip("/"), rate_limit=rate_limit)
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        """Address only: the token and password stay out of logs and test reports."""
        return f"FakeDataMiner(url={self.url!r})"

    # --- life cycle ---

    def start(self) -> FakeDataMiner:
        """Bind and serve on a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the fake DataMiner is already started")
        self._server = LoopbackHTTPServer(
            (self._host, self._port),
            _App(self._state),
            max_body_bytes=MAX_BODY_BYTES,
            request_timeout=REQUEST_TIMEOUT,
            server_header="FakeDataMiner/1.0",
        )
        self._port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-dataminer", daemon=True
        )
        self._thread.start()
        logger.info("fake DataMiner listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close open connections. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeDataMiner:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what tests look at ---

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (the DATAMINER_URL to configure)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def route(self) -> str:
        """The UDAPI route."""
        return self._state.route

    @property
    def calls(self) -> list[Call]:
        """Every request so far, oldest first (a copy)."""
        with self._state.lock:
            return list(self._state.calls)

    def properties(self, dma_id: int, element_id: int, root_alarm_id: int) -> dict[str, str]:
        """The Oceane properties set on one alarm (empty when none)."""
        with self._state.lock:
            return dict(self._state.properties.get((dma_id, element_id, root_alarm_id), {}))

    def all_properties(self) -> dict[AlarmKey, dict[str, str]]:
        """Every alarm's properties."""
        with self._state.lock:
            return {key: dict(value) for key, value in self._state.properties.items()}

    # --- controls ---

    def expire_connections(self) -> int:
        """Forget every Web Services connection, as DataMiner does after idle minutes; how many there were."""
        with self._state.lock:
            count = len(self._state.connections)
            self._state.connections.clear()
            return count

    def throttle(self, calls: int, retry_after: int | None = 1) -> None:
        """Answer the next ``calls`` UDAPI requests 429 RateLimitExceeded, with ``Retry-After`` unless None."""
        with self._state.lock:
            self._state.throttled = calls
            self._state.retry_after = retry_after

    def set_down(self, down: bool, mode: DownMode = "503") -> None:
        """Go down (every request answered 503, or its connection closed unanswered) or come back."""
        if mode not in ("503", "close"):
            raise ValueError("mode must be '503' or 'close'")
        with self._state.lock:
            self._state.down = mode if down else None

    def add_element(self, dma_id: int, element_id: int, state: str = "Active") -> None:
        """Make an element known to GetElement (``State``: Active, Stopped, Paused...)."""
        with self._state.lock:
            self._state.elements[(dma_id, element_id)] = state

    def remove_element(self, dma_id: int, element_id: int) -> None:
        """Forget an element (deleted, or on an Agent this one does not know) and its alarms."""
        with self._state.lock:
            self._state.elements.pop((dma_id, element_id), None)
            for key in [k for k in self._state.active_alarms if k[:2] == (dma_id, element_id)]:
                del self._state.active_alarms[key]

    def raise_alarm(
        self, dma_id: int, element_id: int, root_alarm_id: int, alarm_id: int | None = None, cleared: bool = False
    ) -> None:
        """An active alarm (its element made known); ``alarm_id``: the tree's latest ID (default the root's)."""
        with self._state.lock:
            self._state.elements.setdefault((dma_id, element_id), "Active")
            self._state.active_alarms[(dma_id, element_id, root_alarm_id)] = {
                "ID": alarm_id if alarm_id is not None else root_alarm_id,
                "IsCleared": cleared,
            }

    def clear_alarm(self, dma_id: int, element_id: int, root_alarm_id: int) -> None:
        """The alarm leaves the active alarms (cleared and gone from the Alarm Console)."""
        with self._state.lock:
            self._state.active_alarms.pop((dma_id, element_id, root_alarm_id), None)

    def reset(self) -> None:
        """Forget properties, connections and calls."""
        with self._state.lock:
            self._state.properties.clear()
            self._state.connections.clear()
            self._state.calls.clear()


# --- the HTTP side ---


class _App:
    """The fake's endpoints, served on the sandbox's HTTP plumbing (oceane_ticket/sandbox/handler.py)."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def handle(self, request: Request) -> Response:
        """Answer one request as DataMiner would, and log it."""
        state = self.state
        raw = request.body
        with state.lock:
            down = state.down
        if down == "close":
            self._record(Call(request.method, request.target, _masked(raw), 0))
            return Response(503, abort="close")
        udapi = request.path.startswith("/api/custom/")
        if down == "503":
            answer = (
                endpoint_error(503, MANAGER_NOT_INITIALIZED, "The UserDefinableApiManager has not been initialized.")
                if udapi
                else _Answer(503, {"error": "DataMiner is not available"})
            )
            self._record(Call(request.method, request.target, _masked(raw), 503))
            return _response(answer)
        authorized: bool | None = None
        if udapi:
            route = request.path[len("/api/custom/") :]
            sent = request.headers.get("Authorization") or ""
            authorized = secrets.compare_digest(sent, f"Bearer {state.token}")
            answer = _endpoint(state, request.method, route, raw, request.headers)
            if answer is None:
                answer = _udapi(state, request.method, route, raw)
        elif request.path.startswith(WS_PREFIX):
            answer = _web_services(state, request.method, request.path[len(WS_PREFIX) :], raw)
        else:
            answer = _Answer(404, {"error": f"no such path {request.path}"})
        self._record(Call(request.method, request.target, _masked(raw), answer.status, authorized))
        return _response(answer)

    def error_response(self, error: ApiError, path: str) -> Response:
        """A request refused before it could be read whole (malformed, too large, too slow)."""
        self._record(Call("-", path, None, error.status))
        return _response(_Answer(error.status, {"error": error.description}, close=True))

    def _record(self, call: Call) -> None:
        with self.state.lock:
            self.state.calls.append(call)


def _response(answer: _Answer) -> Response:
    return Response(
        answer.status,
        json.dumps(answer.body).encode(),
        content_type="application/json; charset=utf-8",
        headers=dict(answer.headers),
        close=answer.close,
    )


def _masked(raw: bytes) -> Any:
    """The body for the call log: parsed JSON with any password replaced, else the text."""
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return text
    if isinstance(data, dict) and "password" in data:
        data = {**data, "password": MASK}
    return data


def _endpoint(state: _State, method: str, route: str, raw: bytes, headers: Any) -> _Answer | None:
    """What DataMiner's endpoint answers before the script runs, or None when the script gets the call."""
    if method not in ENDPOINT_METHODS:
        return endpoint_error(405, INVALID_REQUEST_METHOD, f"The HTTP method {method} is not valid.")
    scheme, _, secret = headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer":
        return endpoint_error(401, AUTHENTICATION_HEADER_INVALID, "The authentication header is not valid.")
    if not secrets.compare_digest(secret, state.token):
        return endpoint_error(401, AUTHENTICATION_FAILED, "Authentication failed.")
    limited = _rate_limited(state)
    if limited is not None:
        return limited
    if route.strip("/").lower() != state.route.lower():  # DataMiner's routes are case-insensitive
        return endpoint_error(404, DEFINITION_NOT_FOUND, "A definition with the passed route could not be found.")
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    # No Content-Type is allowed (the docs expect an empty body then; the fake does not insist).
    if content_type and content_type not in ENDPOINT_CONTENT_TYPES:
        return endpoint_error(415, INVALID_CONTENT_TYPE, "The Content-Type header is not supported.")
    return None


def _rate_limited(state: _State) -> _Answer | None:
    with state.lock:
        now = time.monotonic()
        while state.recent and now - state.recent[0] >= 60:
            state.recent.popleft()
        over = state.rate_limit is not None and len(state.recent) >= state.rate_limit
        if state.throttled > 0:
            state.throttled -= 1
            over = True
        if not over:
            state.recent.append(now)
            return None
        retry = state.retry_after
    headers = {} if retry is None else {"Retry-After": str(retry)}
    return endpoint_error(429, RATE_LIMIT_EXCEEDED, "The rate limit for this token has been exceeded.", headers)


def _udapi(state: _State, method: str, route: str, raw: bytes) -> _Answer:
    if method != "POST":
        return script_error(405, "method: use POST")
    try:
        key, values = _parse_udapi_body(raw)
    except BadInput as exc:
        return script_error(400, str(exc))
    _store(state, key, values)
    return _Answer(200, {"dmaId": key[0], "elementId": key[1], "rootAlarmId": key[2], "properties": dict(values)})


def _parse_udapi_body(raw: bytes) -> tuple[AlarmKey, dict[str, str]]:
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except ValueError:
        raise BadInput("body: not valid JSON") from None
    if data is None:
        raise BadInput("body: expected a JSON object, got an empty body")
    if not isinstance(data, dict):
        raise BadInput("body: expected a JSON object")
    key = (_json_id(data, "dmaId"), _json_id(data, "elementId"), _json_id(data, "rootAlarmId"))
    properties = data.get("properties")
    if not isinstance(properties, dict):
        raise BadInput("properties: expected an object of alarm property names to string values")
    for name, value in properties.items():
        if value is not None and not isinstance(value, str):
            raise BadInput(f"properties.{name}: expected a string")
    return key, _check_properties(properties)


def _json_id(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if value is None:
        raise BadInput(f"{name}: required (a positive integer)")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadInput(f"{name}: expected a positive integer")
    return _parse_id(name, str(value))


def _parse_id(name: str, text: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or int(text) <= 0 or int(text) > 2**31 - 1:
        raise BadInput(f"{name}: expected a positive integer, got {text[:40]!r}")
    return int(text)


def _check_properties(values: Mapping[str, str | None]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in values.items():
        if name not in PROPERTY_NAMES:
            raise BadInput(f"properties: {name[:40]!r} is not allowed; allowed: {', '.join(PROPERTY_NAMES)}")
        text = (value or "").strip()
        if len(text) > MAX_PROPERTY_LENGTH:
            raise BadInput(f"properties.{name}: longer than {MAX_PROPERTY_LENGTH} characters")
        if text:
            checked[name] = text
    if not checked:
        raise BadInput(f"properties: give at least one of {', '.join(PROPERTY_NAMES)} with a non-empty value")
    return checked


def _store(state: _State, key: AlarmKey, values: Mapping[str, str]) -> None:
    with state.lock:
        state.properties.setdefault(key, {}).update(values)


def _fault(message: str, exception_type: str = "System.Exception") -> _Answer:
    """ASP.NET's JSON answer for an exception in a web method."""
    return _Answer(500, {"Message": message, "ExceptionType": exception_type, "StackTrace": ""})


def _web_services(state: _State, method: str, name: str, raw: bytes) -> _Answer:
    if method != "POST":
        return _fault(f"Only POST is supported for {name}.", "System.InvalidOperationException")
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except ValueError:
        return _fault("Invalid JSON primitive.", "System.ArgumentException")
    if not isinstance(data, dict):
        return _fault("Invalid web service call: expected a JSON object.", "System.InvalidOperationException")
    if name == "ConnectApp":
        return _connect(state, data)
    if name == "ExecuteAutomationScriptWithOutput":
        return _execute(state, data)
    if name in alarm_answers.METHODS:
        return _Answer(*alarm_answers.answer(state, name, data))
    return _fault(f"Unknown web method {name}.", "System.ArgumentException")


def _connect(state: _State, data: Mapping[str, Any]) -> _Answer:
    login, password = data.get("login"), data.get("password")
    if not (
        isinstance(login, str)
        and isinstance(password, str)
        and secrets.compare_digest(login, state.user)
        and secrets.compare_digest(password, state.password)
    ):
        return _fault(
            "Failed to connect: the user name or password is incorrect.", "System.ServiceModel.FaultException"
        )
    connection = secrets.token_hex(16)
    with state.lock:
        state.connections.add(connection)
    return _Answer(200, {"d": connection})


def _execute(state: _State, data: Mapping[str, Any]) -> _Answer:
    refused = alarm_answers.unknown_connection(state, dict(data))
    if refused is not None:
        return _Answer(*refused)
    script = data.get("script")
    if not isinstance(script, dict) or script.get("Name") != SCRIPT_NAME:
        name = script.get("Name") if isinstance(script, dict) else None
        return _fault(f"Script {name!r} does not exist.", "System.ServiceModel.FaultException")
    try:
        key, values = _parse_script_parameters(script.get("Parameters"))
    except BadInput as exc:
        return _Answer(200, {"d": {"HadErrors": True, "ErrorMessages": [str(exc)], "ScriptOutput": []}})
    _store(state, key, values)
    result = {"dmaId": key[0], "elementId": key[1], "rootAlarmId": key[2], "properties": dict(values)}
    output = [{"Key": "result", "Value": json.dumps(result)}]
    return _Answer(200, {"d": {"HadErrors": False, "ErrorMessages": [], "ScriptOutput": output}})


def _parse_script_parameters(parameters: Any) -> tuple[AlarmKey, dict[str, str]]:
    if not isinstance(parameters, list):
        raise BadInput("Parameters: expected a list of {ParameterId, Name, Value}")
    values: dict[str, str] = {}
    for item in parameters:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise BadInput("Parameters: every entry needs a Name")
        value = item.get("Value")
        if not isinstance(value, str):
            raise BadInput(f"{item['Name']}: every value is a string")
        values[item["Name"]] = value
    for name in values:
        if name not in ("DMA ID", "Element ID", "Alarm ID", *PROPERTY_NAMES):
            raise BadInput(f"script parameter {name[:40]!r} is not defined on {SCRIPT_NAME}")
    key = tuple(_parse_id(name, values.get(name, "")) for name in ("DMA ID", "Element ID", "Alarm ID"))
    properties = {name: values.get(name) for name in PROPERTY_NAMES if name in values}
    return (key[0], key[1], key[2]), _check_properties(properties)
