"""The Oceane HTTP client: OAuth2 client credentials (requests-oauthlib) and the ticket calls.

No Celery and no retries with delays here: the client makes one attempt, transparently renews an
expired token (401 code 42, or a TMF 401 without Orange's codes), and reports every failure as an
:class:`OceaneError` saying what to do next. The worker decides when to try again. What goes on the
wire is the dialect's (``OCEANE_API_DIALECT``, :mod:`oceane_ticket.oceane.dialects`).

Over 400 lines on purpose: the token, the create, the paged lookup and the update share one session and one
failure mapping; the wire forms are already in dialects/.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from oceane_ticket.loopback import is_loopback
from oceane_ticket.oceane.dialects import Dialect, dialect
from oceane_ticket.oceane.errors import (
    Action,
    CreateAccepted,
    LookupIncomplete,
    OceaneError,
    classify,
    no_answer,
    parse_json,
)
from oceane_ticket.oceane.ticket import OceaneTicket, TicketLookup
from oceane_ticket.oceane.tokens import DEFAULT_TOKEN_LIFETIME, MemoryTokenStore, Token, TokenStore, token_lifetime
from oceane_ticket.request import RequestRecord
from oceane_ticket.settings import Settings

log = logging.getLogger(__name__)

PAGE_SIZE = 40
# A lookup reads at most this many pages (400 tickets): one alarm has a handful of tickets, so a
# longer list means the server ignores our filter, and the lock must not be held while paging on.
MAX_FIND_PAGES = 10
MAX_TOKEN_RENEWALS_PER_CALL = 2


def _warn_plain_http(url: str) -> None:
    # The sandbox (and the compose demo) speak plain HTTP; a real Oceane is https. Say so loudly
    # when a plain-HTTP host is not loopback.
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        log.warning("Oceane URL %s is plain HTTP: credentials travel unencrypted", f"http://{parts.netloc}")


def _count_header(value: str | None) -> int | None:
    # X-Total-Count as a count, or None when absent or unreadable (then short pages decide).
    if value is None or not value.strip().isdigit() or len(value.strip()) > 12:
        return None
    return int(value.strip())


class OceaneClient:
    """One Oceane tenant: token handling plus the ticket calls, in the configured dialect."""

    def __init__(self, settings: Settings, tokens: TokenStore | None = None) -> None:
        self.settings = settings
        self.tokens: TokenStore = tokens or MemoryTokenStore()
        self.dialect: Dialect = dialect(settings.api_dialect, settings.priority_map)
        self._timeout = (settings.http_timeout, settings.http_timeout)
        # The token: requests-oauthlib's OAuth2Session around oauthlib's client-credentials client,
        # which reads expires_in by our lifetime rules (_ClientCredentials) instead of a compliance
        # hook rewriting the answer's private _content; the hook only checks the answer.
        self._oauth_client = _ClientCredentials(client_id=settings.client_id)
        self._session = OAuth2Session(client=self._oauth_client)
        self._session.register_compliance_hook("access_token_response", _check_token_response)
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
        return (
            f"OceaneClient(base_url={self.settings.base_url!r}, client_id={self.settings.client_id!r}, "
            f"dialect={self.dialect.name!r})"
        )

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
        auth = HTTPBasicAuth(self.settings.client_id, self.settings.client_secret.get_secret_value())
        try:
            if urlsplit(url).scheme == "https":
                raw = self._session.fetch_token(
                    token_url=url,
                    auth=auth,
                    include_client_id=False,
                    scope=scope,
                    timeout=self._timeout,
                    headers={"Accept": "application/json"},
                )
            else:
                raw = self._fetch_plain_http(url, auth, scope)
        except OceaneError:
            raise
        except requests.RequestException as exc:
            raise no_answer(exc, "POST token", may_have_reached=False, timeout=self.settings.http_timeout) from None
        except Exception as exc:  # oauthlib's own errors on a 200 without a usable token
            raise OceaneError(200, "", "Malformed token answer", _oauth_reason(exc)) from None
        token = Token(
            access_token=str(raw["access_token"]),
            expires_at=float(raw.get("expires_at") or time.time() + DEFAULT_TOKEN_LIFETIME),
            token_type=str(raw.get("token_type") or "Bearer"),
        )
        self.tokens.put(token)
        return token

    def _fetch_plain_http(self, url: str, auth: HTTPBasicAuth, scope: list[str] | None) -> dict[str, Any]:
        """The token from a plain-http URL (the sandbox, the compose demo), with the same oauthlib client.

        OAuth2Session refuses every http:// request unless OAUTHLIB_INSECURE_TRANSPORT is set, and
        oauthlib reads that from the process environment only (is_secure_transport): there is no
        per-session allowance. Setting it would wave through any other OAuth code in the process,
        so for http the request is sent by hand and oauthlib builds the body and parses the answer.
        """
        body = self._oauth_client.prepare_request_body(include_client_id=False, scope=scope)
        response = self._http.post(
            url,
            data=body,
            auth=auth,
            timeout=self._timeout,
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
        )
        _check_token_response(response)
        return dict(self._oauth_client.parse_request_body_response(response.text, scope=scope))

    def _token(self) -> Token:
        token = self.tokens.get()
        if token is not None and token.usable():
            return token
        return self.fetch_token()

    # --- calls ---

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        creates: bool = False,
        body: Any = None,
        media_type: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        """One authenticated call: the cached token, renewed once on a 401; an error answer raised.

        Every Oceane conversation goes through here (creates, lookups, updates, the hub), so the
        token rules and the reading of error answers live in one place.

        Raises:
            OceaneError: no answer (``creates`` says whether it may have reached Oceane) or an error answer.
        """
        renewals = 0
        reauthenticated = False
        data = None if body is None else json.dumps(body).encode()
        while True:
            token = self._token()
            # Accept without parameters: application/json matches every JSON answer, with a charset
            # or not (v4 produces application/json;charset=utf-8), where an exact range might not.
            headers = {"Authorization": f"{token.token_type} {token.access_token}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = media_type or self.dialect.media_type
            try:
                # A plain session, not OAuth2Session.request: the token comes from the shared store
                # and its expiry is ours to judge.
                response = self._http.request(
                    method, url, headers=headers, timeout=self._timeout, data=data, params=params
                )
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

    def create_body(self, request: RequestRecord) -> dict[str, Any]:
        """The dialect's create body for a recorded request."""
        return self.dialect.create_body(request)

    def create_ticket(self, request: RequestRecord | Mapping[str, Any]) -> OceaneTicket:
        """``POST {base}/troubleTicket`` with the dialect's body for ``request`` (or ``request`` itself, a body).

        A created ticket whose answer names no external identifier, or another one than ours, is
        still the ticket this create made (its id is what the server gave our POST): it is returned,
        with a warning naming it, so that it is recorded and never created a second time.

        Raises:
            CreateAccepted: ``202 Accepted`` without a body; the ticket may exist: look it up.
            OceaneError: with ``action`` ADOPT on 409, RETRY on transient failures, FAIL otherwise;
                ``may_have_reached`` when the ticket may exist although the answer was lost.
        """
        body = dict(request) if isinstance(request, Mapping) else self.create_body(request)
        sent = self.dialect.sent_external_id(body)
        response = self.send("POST", self.settings.ticket_endpoint, what="POST troubleTicket", creates=True, body=body)
        content = response.content
        try:
            data = parse_json(content) if content.strip() else None
            ticket = self.dialect.read_created(response.status_code, content, data)
        except ValueError as exc:
            raise OceaneError(
                response.status_code,
                "",
                "Malformed answer",
                f"create answered {response.status_code} with {exc}",
                may_have_reached=True,
            ) from None
        if ticket is None:
            raise CreateAccepted(
                202,
                "",
                "Accepted",
                f"create answered 202 without a ticket; externalId {sent} must be looked up before any new create",
                Action.RETRY,
                may_have_reached=True,
            )
        if sent is not None and ticket.external_id is not None and ticket.external_id != sent:
            log.warning(
                "create answered ticket %s with external identifier %r, not the %r sent: recorded as this "
                "request's ticket, since the server made it for this create",
                ticket.id,
                ticket.external_id,
                sent,
            )
        return ticket

    def get_ticket(self, ticket_id: str) -> OceaneTicket | None:
        """``GET {base}/troubleTicket/{id}``: the ticket, None when the server says 404.

        Raises:
            OceaneError: any other failure, or an answer that is not a ticket.
        """
        url = f"{self.settings.ticket_endpoint}/{quote(ticket_id, safe='')}"
        try:
            response = self.send("GET", url, what="GET troubleTicket/{id}")
        except OceaneError as error:
            if error.http_status == 404:
                return None
            raise
        try:
            return self.dialect.read_ticket(parse_json(response.content))
        except ValueError as exc:
            raise OceaneError(
                response.status_code, "", "Malformed answer", f"retrieve answered with {exc}", action=Action.RETRY
            ) from None

    def find_tickets(self, external_id: str) -> TicketLookup:
        """Our tickets for ``external_id`` (newest first), and whether the lookup saw everything.

        Only a ticket whose external identifier (read by the dialect) equals ours is ours. Paging
        stops at the total the server announces (``X-Total-Count``), at a short page when it
        announces none, at a page that repeats tickets already seen (the server ignores ``offset``),
        or after :data:`MAX_FIND_PAGES`; the last three leave the lookup incomplete.

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
            params = self.dialect.lookup_params(external_id, offset, PAGE_SIZE)
            response = self.send("GET", self.settings.ticket_endpoint, what="GET troubleTicket", params=params)
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
            self._keep_ours(new, external_id, ours)
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

    def _keep_ours(self, listed: list[OceaneTicket], external_id: str, ours: dict[str, OceaneTicket]) -> None:
        if any(t.external_id != external_id for t in listed):
            self._warn_once(
                "filter",
                "Oceane ignores the %r filter of GET troubleTicket (it lists other tickets): "
                "only tickets carrying our external identifier are ever adopted",
                self.dialect.lookup_parameter,
            )
        for ticket in listed:
            if ticket.external_id == external_id:
                ours[ticket.id] = ticket
                if not ticket.known_status:
                    self._warn_once(
                        "status", "Oceane ticket %s has status %.40r, counted as open", ticket.id, ticket.status
                    )

    def _page(self, response: requests.Response) -> list[OceaneTicket]:
        try:
            page = parse_json(response.content)
            if not isinstance(page, list):
                raise ValueError("the answer is not a list of tickets")
            return [self.dialect.read_ticket(item) for item in page]
        except ValueError as exc:
            raise OceaneError(
                response.status_code, "", "Malformed answer", f"find answered with {exc}", action=Action.RETRY
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
                "",
                "Lookup incomplete",
                f"could not list every Oceane ticket to look externalId {external_id} up: {lookup.reason}; "
                f"saw {lookup.seen}{out_of} tickets in {lookup.pages} requests, none of them this alarm's open ticket",
                Action.RETRY,
            )
        return found


class _ClientCredentials(BackendApplicationClient):  # type: ignore[misc]  # oauthlib is untyped
    """oauthlib's client-credentials client, reading the token answer by our rules first.

    A usable answer is a JSON object with an ``access_token``; ``expires_in`` becomes a sane number
    of seconds (a string "3600" is allowed by the contract; missing, negative or absurd values are
    tolerated on purpose, see ``token_lifetime``) before oauthlib computes ``expires_at`` from it.
    """

    def parse_request_body_response(self, body: str, scope: Any = None, **kwargs: Any) -> Any:
        """See oauthlib's ``Client.parse_request_body_response``."""
        try:
            data = parse_json(body.encode())
        except ValueError as exc:
            raise OceaneError(200, "", "Malformed token answer", str(exc)) from None
        if not isinstance(data, dict) or not data.get("access_token"):
            raise OceaneError(200, "", "Malformed token answer", "the answer carries no access_token")
        data["expires_in"] = token_lifetime(data.get("expires_in"))
        data.setdefault("token_type", "Bearer")
        return super().parse_request_body_response(json.dumps(data), scope=scope, **kwargs)


def _check_token_response(response: requests.Response) -> requests.Response:
    # A compliance hook: runs before oauthlib parses the answer, and turns anything but a 200 into
    # our error (oauthlib would read an error body as OAuth's error or as a token).
    if response.status_code != 200:
        error = classify(response.status_code, response.content, response.headers.get("Retry-After"))
        if response.status_code in (404, 405):
            # The default token URL is a guess from OCEANE_BASE_URL (settings.effective_token_url):
            # say which setting fixes a wrong one.
            error.description += f"; no token endpoint at {response.url}: set OCEANE_TOKEN_URL to the tenant's"
        raise error
    return response


def _oauth_reason(exc: Exception) -> str:
    text = getattr(exc, "description", None) or getattr(exc, "error", None) or type(exc).__name__
    return str(text)[:300]
