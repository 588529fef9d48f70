"""The Oceane HTTP client: OAuth2 client credentials (requests-oauthlib) and the ticket calls.

No Celery and no retries with delays here: the client makes one attempt, transparently renews an
expired token (401 code 42), and reports every failure as an :class:`OceaneError` saying what to
do next. The worker decides when to try again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from oceane_ticket.oceane.errors import Action, LookupIncomplete, OceaneError, classify, no_answer, parse_json
from oceane_ticket.settings import Settings

log = logging.getLogger(__name__)

# TMF621 statuses. A ticket in a final one is no longer worked, so the alarm may get a new one.
# Any other status, including one outside TMF621 or none at all, counts as open: for a ticket that
# carries our externalId, adopting it is safe, while creating beside it could make a duplicate.
OPEN_STATUSES = frozenset({"acknowledged", "pending", "held", "inprogress"})
FINAL_STATUSES = frozenset({"cancelled", "closed", "resolved", "rejected"})
PAGE_SIZE = 40
# A lookup reads at most this many pages (400 tickets): one alarm has a handful of tickets, so a
# longer list means the server ignores our filter, and the lock must not be held while paging on.
MAX_FIND_PAGES = 10
# Renew a token this long before Oceane says it expires, so no call races the expiry.
EXPIRY_MARGIN = 60.0
# expires_in is the server's word; an absent, unreadable, zero or negative one means the contract's
# default hour, and a present one is clamped: a token never lives less than two margins (a shorter
# one would be fetched anew for every call), nor more than a day (a revoked one still answers 41).
DEFAULT_TOKEN_LIFETIME = 3600
MIN_TOKEN_LIFETIME = int(2 * EXPIRY_MARGIN)
MAX_TOKEN_LIFETIME = 86400
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
        """Whether the ticket may still be worked: any status but a final one (case-insensitive)."""
        return self.status.strip().lower() not in FINAL_STATUSES

    @property
    def known_status(self) -> bool:
        """Whether the status is one of TMF621's (case-insensitive)."""
        return self.status.strip().lower() in OPEN_STATUSES | FINAL_STATUSES


@dataclass(frozen=True)
class TicketLookup:
    """What a find saw.

    Attributes:
        tickets: The tickets whose ``externalId`` is exactly the one asked for, newest first.
            A ticket without an ``externalId``, or with another one, is never among them.
        complete: Whether the lookup saw every ticket the server holds for the query: the total it
            announced (``X-Total-Count``) or, without one, a last page shorter than a full page.
        pages: List requests sent.
        seen: Distinct tickets listed, ours or not.
        total: The server's ``X-Total-Count``, if it sent a readable one.
        reason: Why the lookup is incomplete ("" when complete).
    """

    tickets: list[OceaneTicket]
    complete: bool
    pages: int
    seen: int
    total: int | None
    reason: str = ""

    def open_ticket(self) -> OceaneTicket | None:
        """The newest open ticket among ours, if any."""
        return next((t for t in self.tickets if t.is_open), None)


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


def _warn_plain_http(url: str) -> None:
    # The sandbox (and the compose demo) speak plain HTTP; a real Oceane is https. Say so loudly
    # when a plain-HTTP host is not loopback.
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        log.warning("Oceane URL %s is plain HTTP: credentials travel unencrypted", f"http://{parts.netloc}")


_INSECURE = "OAUTHLIB_INSECURE_TRANSPORT"
_insecure_lock = threading.Lock()


@contextlib.contextmanager
def _plain_http_allowed(url: str) -> Iterator[None]:
    """Let oauthlib fetch a token from a plain-HTTP ``url``, for this call only.

    oauthlib refuses http:// unless OAUTHLIB_INSECURE_TRANSPORT is set, and reads it at call time.
    Setting it for the whole process would also wave through any other OAuth code in it, so it is
    set around the one fetch (under a lock: the environment is shared by threads) and put back.
    """
    if urlsplit(url).scheme != "http" or os.environ.get(_INSECURE):
        yield
        return
    with _insecure_lock:
        os.environ[_INSECURE] = "1"
        try:
            yield
        finally:
            os.environ.pop(_INSECURE, None)


def _token_lifetime(value: Any) -> int:
    """``expires_in`` as seconds we rely on (see :data:`DEFAULT_TOKEN_LIFETIME`)."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            seconds = float(value.strip())
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        if value is not None:
            log.warning("token answer: expires_in %.40r is unusable; assuming %d s", value, DEFAULT_TOKEN_LIFETIME)
        return DEFAULT_TOKEN_LIFETIME
    clamped = int(min(max(seconds, MIN_TOKEN_LIFETIME), MAX_TOKEN_LIFETIME))
    if clamped != int(seconds):
        log.warning("token answer: expires_in %g s is out of range; using %d s", seconds, clamped)
    return clamped


def _count_header(value: str | None) -> int | None:
    # X-Total-Count as a count, or None when absent or unreadable (then short pages decide).
    if value is None or not value.strip().isdigit() or len(value.strip()) > 12:
        return None
    return int(value.strip())


class OceaneClient:
    """One Oceane tenant: token handling plus the create and find ticket calls."""

    def __init__(self, settings: Settings, tokens: TokenStore | None = None) -> None:
        self.settings = settings
        self.tokens: TokenStore = tokens or MemoryTokenStore()
        self._timeout = (settings.http_timeout, settings.http_timeout)
        self._session = OAuth2Session(client=BackendApplicationClient(client_id=settings.client_id))
        self._session.register_compliance_hook("access_token_response", self._check_token_response)
        self._session.headers["Accept"] = "application/json"
        # Ticket calls get a plain session of their own: pooled connections, our own token header.
        self._http = requests.Session()
        # The environment (proxies, CA bundle) is read once, here, for the Oceane host: requests
        # would read it again on every call (merge_environment_settings, about a tenth of the
        # worker's CPU per ticket), and with trust_env it would also let a ~/.netrc entry for the
        # host replace our Bearer header with its own credentials.
        environment = self._http.merge_environment_settings(settings.base_url, {}, None, None, None)
        self._http.proxies.update(environment["proxies"])
        self._http.verify = environment["verify"]
        self._http.trust_env = False
        self._warned: set[str] = set()
        _warn_plain_http(settings.effective_token_url)
        _warn_plain_http(settings.base_url)

    def __repr__(self) -> str:
        return f"OceaneClient(base_url={self.settings.base_url!r}, client_id={self.settings.client_id!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()
        self._http.close()

    def _warn_once(self, kind: str, message: str, *args: Any) -> None:
        # A server that ignores our filter or paging does so on every lookup: say it once per client.
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning(message, *args)

    # --- token ---

    def fetch_token(self) -> Token:
        """Ask the token endpoint for a new token (the connector's "Authenticate" button) and share it.

        Raises:
            OceaneError: the endpoint refused or could not be reached.
        """
        url = self.settings.effective_token_url
        scope = self.settings.token_scope.split() or None
        try:
            with _plain_http_allowed(url):
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
            expires_at=float(raw.get("expires_at") or time.time() + DEFAULT_TOKEN_LIFETIME),
            token_type=str(raw.get("token_type") or "Bearer"),
        )
        self.tokens.put(token)
        return token

    def _check_token_response(self, response: requests.Response) -> requests.Response:
        # Runs before oauthlib parses the answer: turn anything but a usable 200 into our error,
        # and make expires_in a sane number of seconds (a string "3600" is allowed by the contract;
        # missing, negative or absurd values are tolerated on purpose, see _token_lifetime).
        if response.status_code != 200:
            raise classify(response.status_code, response.content, response.headers.get("Retry-After"))
        try:
            data = parse_json(response.content)
        except ValueError as exc:
            raise OceaneError(200, 0, "Malformed token answer", str(exc)) from None
        if not isinstance(data, dict) or not data.get("access_token"):
            raise OceaneError(200, 0, "Malformed token answer", "the answer carries no access_token")
        data["expires_in"] = _token_lifetime(data.get("expires_in"))
        data.setdefault("token_type", "Bearer")
        response._content = _json_bytes(data)
        return response

    def _token(self) -> Token:
        token = self.tokens.get()
        if token is not None and token.usable():
            return token
        return self.fetch_token()

    # --- calls ---

    def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        creates: bool = False,
        extra_headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        renewals = 0
        reauthenticated = False
        while True:
            token = self._token()
            headers = {"Authorization": f"{token.token_type} {token.access_token}", "Accept": "application/json"}
            headers.update(extra_headers or {})  # a PATCH's merge-patch media type (oceane/updates.py)
            try:
                # A plain session, not OAuth2Session.request: the token comes from the shared store
                # and its expiry is ours to judge.
                response = self._http.request(method, url, headers=headers, timeout=self._timeout, **kwargs)
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
            ticket = OceaneTicket.from_json(parse_json(response.content))
            sent = payload.get("externalId")
            # A server may leave externalId out of its answer (tolerated: the id is what we keep),
            # but one naming another alarm is not the ticket we asked for.
            if sent is not None and ticket.external_id is not None and ticket.external_id != sent:
                raise ValueError(f"ticket {ticket.id} whose externalId is not the one sent")
        except ValueError as exc:
            raise OceaneError(
                response.status_code,
                0,
                "Malformed answer",
                f"create answered {response.status_code} with {exc}",
                may_have_reached=True,
            ) from None
        return ticket

    def find_tickets(self, external_id: str) -> TicketLookup:
        """Our tickets for ``externalId`` (newest first), and whether the lookup saw everything.

        Only a ticket whose ``externalId`` equals ours is ours. Paging stops at the total the
        server announces (``X-Total-Count``), at a short page when it announces none, at a page that
        repeats tickets already seen (the server ignores ``offset``), or after
        :data:`MAX_FIND_PAGES`; the last three leave the lookup incomplete.

        Raises:
            OceaneError: the list could not be read (transport, HTTP error, not a list of tickets).
        """
        ours: dict[str, OceaneTicket] = {}
        seen: set[str] = set()
        total: int | None = None
        offset = pages = 0
        reason = ""
        while True:
            if pages >= MAX_FIND_PAGES:
                reason = f"stopped after {pages} pages of {PAGE_SIZE}"
                self._warn_once(
                    "cap", "Oceane lists more than %d tickets for one externalId: lookups stop there", len(seen)
                )
                break
            params = {"externalId": external_id, "offset": offset, "limit": PAGE_SIZE}
            response = self._request("GET", self.settings.ticket_endpoint, what="GET troubleTicket", params=params)
            pages += 1
            tickets = self._page(response)
            total = _count_header(response.headers.get("X-Total-Count"))
            new = [t for t in tickets if t.id not in seen]
            if tickets and not new:
                reason = f"the page at offset {offset} repeats tickets already listed (the server ignores 'offset')"
                self._warn_once(
                    "offset",
                    "Oceane ignores the 'offset' of GET troubleTicket (the page at offset %d repeats the first): "
                    "lookups see only its first page, and cannot prove a ticket absent",
                    offset,
                )
                break
            seen.update(t.id for t in new)
            if any(t.external_id != external_id for t in new):
                self._warn_once(
                    "filter",
                    "Oceane ignores the 'externalId' filter of GET troubleTicket (it lists other tickets): "
                    "only tickets carrying our externalId are ever adopted",
                )
            for ticket in new:
                if ticket.external_id == external_id:
                    ours[ticket.id] = ticket
                    if not ticket.known_status:
                        self._warn_once(
                            "status", "Oceane ticket %s has status %.40r, counted as open", ticket.id, ticket.status
                        )
            if total is not None:
                if len(seen) >= total:
                    break
                if not tickets:
                    reason = f"the server announced {total} tickets but listed {len(seen)}"
                    break
            elif len(tickets) < PAGE_SIZE:
                break
            # By what came back, not by PAGE_SIZE: a server may cap pages below our limit.
            offset += len(tickets)
        newest_first = sorted(
            ours.values(), key=lambda t: t.creation_date or datetime.min.replace(tzinfo=UTC), reverse=True
        )
        return TicketLookup(newest_first, not reason, pages, len(seen), total, reason)

    def _page(self, response: requests.Response) -> list[OceaneTicket]:
        try:
            page = parse_json(response.content)
            if not isinstance(page, list):
                raise ValueError("the answer is not a list of tickets")
            return [OceaneTicket.from_json(item) for item in page]
        except ValueError as exc:
            raise OceaneError(
                response.status_code, 0, "Malformed answer", f"find answered with {exc}", action=Action.RETRY
            ) from None

    def find_open_ticket(self, external_id: str) -> OceaneTicket | None:
        """The open ticket for an alarm, if Oceane has one (the adopt-before-create lookup).

        Raises:
            LookupIncomplete: none found, but the lookup could not see every ticket, so "none"
                is not proven; the caller decides whether a create is still safe.
            OceaneError: the lookup failed.
        """
        lookup = self.find_tickets(external_id)
        found = lookup.open_ticket()
        if found is None and not lookup.complete:
            out_of = "" if lookup.total is None else f" of {lookup.total}"
            raise LookupIncomplete(
                200,
                0,
                "Lookup incomplete",
                f"could not list every Oceane ticket to look externalId {external_id} up: {lookup.reason}; "
                f"saw {lookup.seen}{out_of} tickets in {lookup.pages} requests, none of them this alarm's open ticket",
                Action.RETRY,
            )
        return found


def _json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _oauth_reason(exc: Exception) -> str:
    text = getattr(exc, "description", None) or getattr(exc, "error", None) or type(exc).__name__
    return str(text)[:300]
