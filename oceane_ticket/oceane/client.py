"""The Oceane HTTP client: OAuth2 client credentials (requests-oauthlib) and the ticket calls.

No Celery and no retries with delays here: the client makes one attempt, transparently renews an
expired token (401 code 42), and reports every failure as an :class:`OceaneError` saying what to
do next. The worker decides when to try again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from oceane_ticket.oceane.errors import Action, OceaneError, classify, no_answer, parse_json
from oceane_ticket.settings import Settings

log = logging.getLogger(__name__)

# TMF621 statuses in which a ticket is still being worked: a second ticket for the alarm would be
# a duplicate.
OPEN_STATUSES = frozenset({"acknowledged", "pending", "held", "inProgress"})
PAGE_SIZE = 40
# Renew a token this long before Oceane says it expires, so no call races the expiry.
EXPIRY_MARGIN = 60.0
MAX_TOKEN_RENEWALS_PER_CALL = 2
MAX_TICKET_ID = 64  # the tickets.ticket_id column


@dataclass(frozen=True)
class Token:
    """An OAuth2 access token. ``repr`` never shows the token itself."""

    access_token: str = field(repr=False)
    expires_at: float
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret

    @property
    def seconds_left(self) -> float:
        """Seconds until Oceane considers it expired."""
        return self.expires_at - time.time()

    def usable(self) -> bool:
        """Whether it is far enough from expiry to be sent."""
        return self.seconds_left > EXPIRY_MARGIN


class TokenStore(Protocol):
    """Where the shared token lives (Redis in the worker, memory in tests and the CLI)."""

    def get(self) -> Token | None:
        """The current token, if any."""

    def put(self, token: Token) -> None:
        """Share a freshly fetched token."""

    def discard(self, token: Token) -> None:
        """Forget ``token`` if it is still the shared one (Oceane rejected it)."""


class MemoryTokenStore:
    """A token store for one process."""

    def __init__(self) -> None:
        self._token: Token | None = None

    def get(self) -> Token | None:
        """The current token, if any."""
        return self._token

    def put(self, token: Token) -> None:
        """Keep ``token``."""
        self._token = token

    def discard(self, token: Token) -> None:
        """Forget ``token`` if it is the current one."""
        if self._token == token:
            self._token = None


@dataclass(frozen=True)
class OceaneTicket:
    """A trouble ticket as Oceane returned it."""

    id: str
    status: str
    external_id: str | None
    href: str | None
    creation_date: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> OceaneTicket:
        """Parse one ticket; ``ValueError`` if it is not a ticket."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError("the answer is not a ticket (no string 'id')")
        if not _usable_id(data["id"]):
            # It is stored (tickets.ticket_id is 64 characters) and put in a URL: an id the database
            # refuses would leave the request neither created nor failed.
            raise ValueError(
                f"the answer's ticket id is unusable: 1 to {MAX_TICKET_ID} printable characters without spaces expected"
            )
        return cls(
            id=data["id"],
            status=str(data.get("status") or ""),
            external_id=data.get("externalId"),
            href=data.get("href"),
            creation_date=_parse_date(data.get("creationDate")),
            raw=data,
        )

    @property
    def is_open(self) -> bool:
        """Whether the ticket is still being worked."""
        return self.status in OPEN_STATUSES


def _usable_id(ticket_id: str) -> bool:
    return len(ticket_id) <= MAX_TICKET_ID and ticket_id.isprintable() and not any(c.isspace() for c in ticket_id)


def _parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _allow_plain_http(url: str) -> None:
    # oauthlib refuses http:// outright. The sandbox (and a compose demo) speak plain HTTP; a real
    # Oceane is https. Allow it, and say so loudly when the host is not loopback.
    parts = urlsplit(url)
    if parts.scheme != "http":
        return
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        log.warning("Oceane URL %s is plain HTTP: credentials travel unencrypted", f"http://{parts.netloc}")


class OceaneClient:
    """One Oceane tenant: token handling plus create, find and get ticket calls."""

    def __init__(self, settings: Settings, tokens: TokenStore | None = None) -> None:
        self.settings = settings
        self.tokens: TokenStore = tokens or MemoryTokenStore()
        self._timeout = (settings.http_timeout, settings.http_timeout)
        self._session = OAuth2Session(client=BackendApplicationClient(client_id=settings.client_id))
        self._session.register_compliance_hook("access_token_response", self._check_token_response)
        self._session.headers["Accept"] = "application/json"
        _allow_plain_http(settings.effective_token_url)
        _allow_plain_http(settings.base_url)

    def __repr__(self) -> str:
        return f"OceaneClient(base_url={self.settings.base_url!r}, client_id={self.settings.client_id!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    # --- token ---

    def fetch_token(self) -> Token:
        """Ask the token endpoint for a new token (the connector's "Authenticate" button) and share it.

        Raises:
            OceaneError: the endpoint refused or could not be reached.
        """
        url = self.settings.effective_token_url
        scope = self.settings.token_scope.split() or None
        try:
            raw = self._session.fetch_token(
                token_url=url,
                auth=HTTPBasicAuth(self.settings.client_id, self.settings.client_secret.get_secret_value()),
                include_client_id=False,
                scope=scope,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
            )
        except OceaneError:
            raise
        except requests.RequestException as exc:
            raise no_answer(exc, "POST token", may_have_reached=False, timeout=self.settings.http_timeout) from None
        except Exception as exc:  # oauthlib's own errors on a 200 without a usable token
            raise OceaneError(200, 0, "Malformed token answer", _oauth_reason(exc)) from None
        token = Token(
            access_token=str(raw["access_token"]),
            expires_at=float(raw.get("expires_at") or time.time() + 3600),
            token_type=str(raw.get("token_type") or "Bearer"),
        )
        self.tokens.put(token)
        return token

    def _check_token_response(self, response: requests.Response) -> requests.Response:
        # Runs before oauthlib parses the answer: turn anything but a usable 200 into our error,
        # and accept expires_in as a string ("3600"), which the contract allows.
        if response.status_code != 200:
            raise classify(response.status_code, response.content, response.headers.get("Retry-After"))
        try:
            data = parse_json(response.content)
        except ValueError as exc:
            raise OceaneError(200, 0, "Malformed token answer", str(exc)) from None
        if not isinstance(data, dict) or not data.get("access_token"):
            raise OceaneError(200, 0, "Malformed token answer", "the answer carries no access_token")
        expires = data.get("expires_in")
        if isinstance(expires, str):
            try:
                data["expires_in"] = int(float(expires))
            except ValueError:
                data.pop("expires_in")
        data.setdefault("token_type", "Bearer")
        response._content = _json_bytes(data)
        return response

    def _token(self) -> Token:
        token = self.tokens.get()
        if token is not None and token.usable():
            return token
        return self.fetch_token()

    # --- calls ---

    def _request(self, method: str, url: str, *, what: str, creates: bool = False, **kwargs: Any) -> requests.Response:
        renewals = 0
        reauthenticated = False
        while True:
            token = self._token()
            headers = {"Authorization": f"{token.token_type} {token.access_token}", "Accept": "application/json"}
            try:
                # requests, not OAuth2Session.request: the token comes from the shared store and
                # its expiry is ours to judge.
                response = requests.request(method, url, headers=headers, timeout=self._timeout, **kwargs)
            except requests.RequestException as exc:
                reached = creates and not isinstance(exc, requests.ConnectTimeout)
                raise no_answer(exc, what, may_have_reached=reached, timeout=self.settings.http_timeout) from None
            if response.status_code < 400:
                return response
            error = classify(response.status_code, response.content, response.headers.get("Retry-After"))
            if error.action is Action.REFRESH_TOKEN and renewals < MAX_TOKEN_RENEWALS_PER_CALL:
                renewals += 1
                self.tokens.discard(token)
                continue
            if error.action is Action.REAUTHENTICATE_ONCE and not reauthenticated:
                reauthenticated = True
                self.tokens.discard(token)
                continue
            if error.action in (Action.REFRESH_TOKEN, Action.REAUTHENTICATE_ONCE):
                error.action = Action.FAIL
            raise error

    def create_ticket(self, payload: dict[str, Any]) -> OceaneTicket:
        """``POST /troubleTicket``.

        Raises:
            OceaneError: with ``action`` ADOPT on 409, RETRY on transient failures, FAIL otherwise;
                ``may_have_reached`` when the ticket may exist although the answer was lost.
        """
        response = self._request(
            "POST", self.settings.ticket_endpoint, what="POST troubleTicket", creates=True, json=payload
        )
        try:
            return OceaneTicket.from_json(parse_json(response.content))
        except ValueError as exc:
            raise OceaneError(
                response.status_code,
                0,
                "Malformed answer",
                f"create answered {response.status_code} with {exc}",
                may_have_reached=True,
            ) from None

    def find_tickets(self, external_id: str) -> list[OceaneTicket]:
        """All tickets with this ``externalId`` (every page), newest first."""
        found: list[OceaneTicket] = []
        offset = 0
        while True:
            params = {"externalId": external_id, "offset": offset, "limit": PAGE_SIZE}
            response = self._request("GET", self.settings.ticket_endpoint, what="GET troubleTicket", params=params)
            try:
                page = parse_json(response.content)
                if not isinstance(page, list):
                    raise ValueError("the answer is not a list of tickets")
                tickets = [OceaneTicket.from_json(item) for item in page]
            except ValueError as exc:
                raise OceaneError(
                    response.status_code, 0, "Malformed answer", f"find answered with {exc}", action=Action.RETRY
                ) from None
            found.extend(t for t in tickets if t.external_id in (None, external_id))
            if len(page) < PAGE_SIZE:
                break
            offset += PAGE_SIZE
        return sorted(found, key=lambda t: t.creation_date or datetime.min.replace(tzinfo=UTC), reverse=True)

    def find_open_ticket(self, external_id: str) -> OceaneTicket | None:
        """The open ticket for an alarm, if Oceane has one (the adopt-before-create lookup)."""
        return next((t for t in self.find_tickets(external_id) if t.is_open), None)

    def get_ticket(self, ticket_id: str) -> OceaneTicket:
        """``GET /troubleTicket/{id}``."""
        url = f"{self.settings.ticket_endpoint}/{ticket_id}"
        response = self._request("GET", url, what="GET troubleTicket/{id}")
        try:
            return OceaneTicket.from_json(parse_json(response.content))
        except ValueError as exc:
            raise OceaneError(response.status_code, 0, "Malformed answer", f"get answered with {exc}") from None


def _json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _oauth_reason(exc: Exception) -> str:
    text = getattr(exc, "description", None) or getattr(exc, "error", None) or type(exc).__name__
    return str(text)[:300]
