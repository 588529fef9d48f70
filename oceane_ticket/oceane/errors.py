"""Oceane's answers, classified in one place (docs/oceane-api.md §2), in every dialect.

Every failure becomes an :class:`OceaneError` carrying the four values of the Failed Ticket
Requests table (HTTP status, app code, message, description) and what the caller should do. If a
real Oceane tenant differs from the contract, :func:`classify` is the one function to adapt.

Two error bodies are read wherever an answer can fail, whatever the dialect:

- Orange's (our contract, assumed): ``{"code": <int>, "message": <short>, "description": <long>}``;
- TMF621's ``Error`` (v4 swagger ``definitions/Error``, v5 OAS ``components/schemas/Error``, both in
  ``tmforum-apis/TMF621_TroubleTicket``): ``code`` and ``reason`` required, both strings, with
  ``message`` (details), ``status`` (the HTTP status as a string), ``referenceError`` and ``@type``.
  ``reason`` is the short text and ``message`` the long one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """What the caller does about a failure."""

    RETRY = "retry"  # transient: 5xx, 429, timeouts, connection errors
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - an action name  # 401 code 42: new token, repeat, no retry spent
    REAUTHENTICATE_ONCE = "reauthenticate_once"  # 401 code 41: one new token, then fail
    ADOPT = "adopt"  # 409: the ticket exists; look it up and take it
    FAIL = "fail"  # everything else: retrying cannot help


@dataclass(eq=False)  # exceptions must stay hashable by identity
class OceaneError(Exception):
    """A failed Oceane call.

    Attributes:
        http_status: the HTTP status, 0 when no answer came back.
        code: the server's application code as it sent it (Orange's number or TMF's string, as
            text), "" when the answer had none.
        message: short text.
        description: long, readable text (never contains credentials or tokens).
        action: what to do about it.
        retry_after: seconds Oceane asked us to wait (429), if it said.
        may_have_reached: a create may have reached Oceane although we got no usable answer.
    """

    http_status: int
    code: str
    message: str
    description: str
    action: Action = Action.FAIL
    retry_after: float | None = None
    may_have_reached: bool = False

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f"HTTP {self.http_status}" if self.http_status else "no HTTP answer"
        code = f", code {self.code}" if self.code else ""
        return f"{status}{code}: {self.message} ({self.description})"

    @property
    def transient(self) -> bool:
        """Whether a later attempt may succeed."""
        return self.action is Action.RETRY


class LookupIncomplete(OceaneError):
    """A lookup that could not see every ticket Oceane holds for an externalId, and found none open.

    Oceane answered (``http_status`` is that answer's, usually 200), but its list ignored the
    filter or the paging, so "not found" does not prove "not there". The caller decides whether a
    create is still safe (see README, "When Oceane's lookup can't see everything"); by itself it
    is transient, because the server, or the tickets it lists, may change.
    """


class CreateAccepted(OceaneError):
    """A create answered ``202 Accepted`` with no ticket (TMF621 v5 createTroubleTicket declares it).

    The server took the request and may store the ticket later: it must be looked up, and adopted
    once it shows, before anything is created again. Transient, and ``may_have_reached``.
    """


# A 401 without one of Orange's codes (a TMF "ERR401", or none) is treated as Orange's 41: one new
# token and the call again, then a failure. Orange's 42 (expired) may be renewed more than once.
_ACTIONS: dict[tuple[int, str | None], Action] = {
    (401, "41"): Action.REAUTHENTICATE_ONCE,
    (401, "42"): Action.REFRESH_TOKEN,
    (401, None): Action.REAUTHENTICATE_ONCE,
    (409, None): Action.ADOPT,
    (429, None): Action.RETRY,
}
# What is kept of a server's code (the Failed Ticket Requests column is text; codes are short).
MAX_CODE = 64

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
# Control characters other than tab and newlines: PostgreSQL text refuses NUL outright (a failure
# that could not be recorded left the request stuck), and the others garble logs and terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters replaced by U+FFFD, safe to store and print."""
    return _CONTROL.sub("\ufffd", text)


def readable_body(body: bytes | str, limit: int = 300) -> str:
    """A one-line description of a body that is not the JSON we expected (HTML, text, garbage)."""
    text = printable(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    if not text.strip():
        return "empty body"
    match = _TITLE.search(text)
    if match:
        return "HTML page: " + " ".join(match.group(1).split())[:limit]
    if "<html" in text[:500].lower():
        return "HTML page without a title"
    flat = " ".join(text.split())
    return "non-JSON body: " + (flat[:limit] + ("..." if len(flat) > limit else ""))


def parse_json(body: bytes) -> Any:
    """Decode JSON, or raise ``ValueError`` with a readable description of what came instead."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError(readable_body(body)) from None


def classify(status: int, body: bytes, retry_after: str | None = None) -> OceaneError:
    """Turn a non-success answer into an :class:`OceaneError` (the table in docs/oceane-api.md §2)."""
    code, message, description = "", "", ""
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        code, message, description = _read_error(data)
    else:
        description = readable_body(body)
    message = message or _REASONS.get(status, "Unexpected answer")
    description = description or message

    action = _ACTIONS.get((status, code)) or _ACTIONS.get((status, None))
    if action is None:
        action = Action.RETRY if status >= 500 else Action.FAIL
    delay = _retry_after(retry_after) if status in (429, 503) else None
    return OceaneError(status, code, message, description, action, delay)


def _read_error(data: dict[str, Any]) -> tuple[str, str, str]:
    """(code, short text, long text) of an Orange, TMF621 or OAuth error body."""
    raw_code = data.get("code")
    code = "" if raw_code is None or isinstance(raw_code, bool | dict | list) else printable(str(raw_code).strip())
    if "reason" in data:
        # TMF621 Error: reason is the short text, message the details.
        short, long = data.get("reason"), data.get("message")
    else:
        # Orange's; or OAuth-style token errors: {"error": "invalid_client", "error_description": "..."}.
        short = data.get("message") or data.get("error")
        long = data.get("description") or data.get("error_description")
    return code[:MAX_CODE], _text(short), _text(long)


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else printable(str(value))


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from APIs; fall back to our own backoff


def no_answer(exc: BaseException, what: str, *, may_have_reached: bool, timeout: float) -> OceaneError:
    """A transport failure (no HTTP answer) as an :class:`OceaneError`: always worth a retry."""
    name = type(exc).__name__
    if "Timeout" in name:
        message = "Timeout"
        description = f"no answer from Oceane within {timeout:g} s ({what})"
    else:
        message = "Connection error"
        description = f"{name} while calling Oceane ({what})"
    return OceaneError(0, "", message, description, Action.RETRY, may_have_reached=may_have_reached)


_REASONS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Access denied",
    404: "Resource not found",
    406: "Not acceptable",
    409: "Conflict",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
