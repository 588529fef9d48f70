"""Wire-level vocabulary shared by the sandbox modules: error codes, responses, media types."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from oceane_ticket.statuses import OCEANE_STATUSES

TOKEN_PATH = "/oauth/v3/token"  # noqa: S105 - a URL path, not a secret
TICKETS_PATH = "/troubleTicket"
HUB_PATH = "/hub"
TICKET_PAGE_PREFIX = "/ticket/"
CONTROL_PREFIX = "/_sandbox/"

JSON_TYPE = "application/json"
MERGE_PATCH_TYPE = "application/merge-patch+json"  # RFC 7396
HTML_TYPE = "text/html; charset=utf-8"
FORM_TYPE = "application/x-www-form-urlencoded"

# TMF621 statuses (one home: oceane_ticket.statuses); a closed one ends a ticket's life, so it no
# longer blocks a new create.
STATUSES = OCEANE_STATUSES

# Orange's generic codes (the "Orange APIs error handling" page and its API specifications).
MESSAGES: dict[int, str] = {
    1: "Internal error",
    5: "Service unavailable",
    20: "Invalid URL parameter value",
    21: "Missing body",
    22: "Invalid body",
    23: "Missing body field",
    24: "Invalid body field",
    25: "Missing header",
    26: "Invalid header value",
    27: "Missing query-string parameter",
    28: "Invalid query-string parameter value",
    29: "Conflict",
    40: "Missing credentials",
    41: "Invalid credentials",
    42: "Expired credentials",
    50: "Access denied",
    53: "Too many requests",
    60: "Resource not found",
    61: "Method not allowed",
    62: "Not acceptable",
}

# The app code a forced answer gets when the caller names only an HTTP status.
DEFAULT_CODE_FOR_STATUS: dict[int, int] = {
    400: 22,
    401: 41,
    403: 50,
    404: 60,
    405: 61,
    406: 62,
    409: 29,
    429: 53,
    500: 1,
    503: 5,
}


@dataclass
class Response:
    """One answer to write, or an instruction to drop the connection instead.

    Attributes:
        status: HTTP status code.
        body: Raw body bytes.
        content_type: Value of the ``Content-Type`` header.
        headers: Extra headers.
        close: Close the connection after answering (the request stream may be out of sync).
        abort: ``"reset"`` (RST, no answer) or ``"close"`` (FIN, no answer); ``None`` answers normally.
        code: The app error code, for the request log only.
    """

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False
    abort: str | None = None
    code: int | None = None


def json_bytes(data: Any) -> bytes:
    """Encode as ASCII-only JSON, so the body reads the same whatever charset a client assumes."""
    return json.dumps(data, ensure_ascii=True).encode("ascii")


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(status, json_bytes(data), headers=dict(headers or {}))


class ApiError(Exception):
    """An Orange-style error answer: ``{"code", "message", "description"}``."""

    def __init__(
        self,
        status: int,
        code: int,
        description: str,
        *,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        close: bool = False,
        explicit: bool = False,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        # A code a test forced by name: the TMF dialects show it as is rather than as "ERR<status>".
        self.explicit = explicit
        self.message = message or MESSAGES.get(code, "Error")
        self.description = description
        self.headers = dict(headers or {})
        self.close = close

    def to_response(self) -> Response:
        """The error as a response."""
        body = {"code": self.code, "message": self.message, "description": self.description}
        response = json_response(self.status, body, self.headers)
        response.close = self.close
        response.code = self.code
        return response


class OAuthError(Exception):
    """An OAuth-style token endpoint error: ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def to_response(self) -> Response:
        """The error as a response; a 401 names the expected scheme as RFC 6749 asks."""
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oceane-sandbox"'
        body = {"error": self.error, "error_description": self.description}
        return json_response(self.status, body, headers)


def accepts_json(accept: str | None) -> bool:
    """Whether an ``Accept`` header allows ``application/json``; a missing header does not (contract §1)."""
    if accept is None:
        return False
    for media_range in accept.split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        if kind.lower() not in ("application/json", "application/*", "*/*"):
            continue
        if not any(_is_zero_quality(p) for p in params):
            return True
    return False


def _is_zero_quality(param: str) -> bool:
    name, _, value = param.partition("=")
    if name.strip().lower() != "q":
        return False
    try:
        return float(value.strip()) == 0.0
    except ValueError:
        return False


def media_type(content_type: str | None) -> str:
    """The bare, lower-case media type of a ``Content-Type`` header ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()
