"""The Oceane endpoints of the sandbox (token, create, find, get, web page) and where faults strike."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import html
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from oceane_ticket.sandbox import control
from oceane_ticket.sandbox.dialects import JSON_PATCH_TYPES, select_fields
from oceane_ticket.sandbox.faults import Decision
from oceane_ticket.sandbox.httpio import Request
from oceane_ticket.sandbox.hub import CallbackError
from oceane_ticket.sandbox.protocol import (
    CONTROL_PREFIX,
    FORM_TYPE,
    HTML_TYPE,
    HUB_PATH,
    JSON_TYPE,
    TICKET_PAGE_PREFIX,
    TICKETS_PATH,
    TOKEN_PATH,
    ApiError,
    OAuthError,
    Response,
    accepts_json,
    json_response,
    media_type,
)
from oceane_ticket.sandbox.state import SandboxState
from oceane_ticket.sandbox.tickets import (
    TMF_UNIMPLEMENTED,
    decode_object,
    parse_fields,
    parse_find_query,
    parse_tmf_find_query,
)

Endpoint = Callable[[Request], Response]

GARBAGE_CREATED_PAGE = b"<html><body><h1>201 Created</h1><p>Your request has been processed.</p></body></html>"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="oceane-sandbox"'}


class App:
    """Routes a request, applies the faults of its endpoint group, and answers it."""

    def __init__(self, state: SandboxState, stopping: threading.Event) -> None:
        self.state = state
        self.dialect = state.dialect
        prefix = self.dialect.prefix
        self.tickets_path = prefix + TICKETS_PATH
        self.hub_path = prefix + HUB_PATH
        # Set when the sandbox stops, so that injected waits end instead of outliving it.
        self.stopping = stopping

    def handle(self, request: Request) -> Response:
        """Answer one request (errors raised by endpoints become their error responses)."""
        prefix = self.dialect.prefix
        if prefix and request.path.startswith((prefix + CONTROL_PREFIX, prefix + TICKET_PAGE_PREFIX)):
            # Callers that build ``base_url + "/_sandbox/..."`` keep working when the base has a path.
            request = dataclasses.replace(request, path=request.path[len(prefix) :])
        try:
            if request.path.startswith(CONTROL_PREFIX):
                return control.handle(self.state, request)
            if request.path.startswith(TICKET_PAGE_PREFIX):
                return self._page(request)
            group, endpoint = self._route(request)
            decision = self.state.begin_call(group)
            self.pause(decision.latency)
            response = self._faulted(group, decision, request.path) or endpoint(request)
        except ApiError as exc:
            return self.error_response(exc, request.path)
        except OAuthError as exc:
            return exc.to_response()
        if self.dialect.tmf and response.content_type == JSON_TYPE and self._in_api(request.path):
            response.content_type = self.dialect.media_type
        return response

    def _in_api(self, path: str) -> bool:
        return path.startswith(self.dialect.prefix + "/") and not path.startswith(TOKEN_PATH)

    def error_response(self, error: ApiError, path: str) -> Response:
        """The error in the shape of the API ``path`` belongs to (TMF under a TMF base path)."""
        if not (self.dialect.tmf and self._in_api(path)):
            return error.to_response()
        body = self.dialect.error_body(error)
        response = Response(error.status, body, self.dialect.media_type, dict(error.headers), error.close)
        response.code = error.code
        return response

    def pause(self, seconds: float) -> None:
        """Wait, unless the sandbox is stopping."""
        if seconds > 0:
            self.stopping.wait(seconds)

    # --- routing ---

    def _route(self, request: Request) -> tuple[str, Endpoint]:
        if request.path == TOKEN_PATH:
            methods: dict[str, tuple[str, Endpoint]] = {"POST": ("token", self._token)}
        elif request.path == self.tickets_path:
            methods = {"GET": ("find", self._find), "POST": ("create", self._create)}
        elif _is_item(request.path, self.tickets_path):
            methods = {"GET": ("find", self._get), "PATCH": ("update", self._update)}
        elif request.path == self.hub_path:
            methods = {"POST": ("hub", self._register)}
        elif _is_item(request.path, self.hub_path):
            methods = {"DELETE": ("hub", self._unregister)}
            if self.dialect.name == "tmf621-v5":  # the v5 OAS declares GET /hub/{id} too
                methods["GET"] = ("hub", self._hub_get)
        else:
            raise ApiError(404, 60, f"No resource at {request.path[:200]!r}.")
        if request.method not in methods:
            allowed = ", ".join(methods)
            raise ApiError(405, 61, f"Use {allowed} on this resource.", headers={"Allow": allowed})
        return methods[request.method]

    # --- faults ---

    def _faulted(self, group: str, decision: Decision, path: str) -> Response | None:
        if decision.forced is not None:
            forced = decision.forced
            if group == "token" and forced.status in (400, 401):
                kind = "invalid_client" if forced.status == 401 else "invalid_request"
                text = forced.description or forced.message or "Injected token error."
                return OAuthError(forced.status, kind, text).to_response()
            retry_after = forced.retry_after
            if retry_after is None and forced.status == 429:
                retry_after = self.state.retry_after()
            headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
            text = forced.description or f"Injected answer {forced.status} / {forced.code}."
            error = ApiError(
                forced.status, forced.code, text, message=forced.message, headers=headers, explicit=forced.explicit_code
            )
            return self.error_response(error, path)
        if decision.malformed is not None:
            bad = decision.malformed
            return Response(bad.status, bad.body.encode("utf-8"), bad.content_type)
        if decision.random_error == 500:
            return self.error_response(ApiError(500, 1, "Injected internal error."), path)
        if decision.random_error == 503:
            return self.error_response(ApiError(503, 5, "Injected: the service is temporarily unavailable."), path)
        return None

    # --- token ---

    def _token(self, request: Request) -> Response:
        if not accepts_json(request.headers.get("Accept")):
            raise ApiError(406, 62, "The Accept header must allow application/json.")
        if not any(self.state.check_client(i, s) for i, s in _basic_credentials(request)):
            raise OAuthError(401, "invalid_client", "Client authentication failed.")
        if media_type(request.headers.get("Content-Type")) != FORM_TYPE:
            raise OAuthError(400, "invalid_request", f"The body must be {FORM_TYPE}.")
        params = _form(request.body)
        grant = params.get("grant_type")
        if grant is None:
            raise OAuthError(400, "invalid_request", "grant_type is required.")
        if grant != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "Only client_credentials is supported.")
        token, expires_in = self.state.issue_token()
        body: dict[str, Any] = {"token_type": "Bearer", "access_token": token, "expires_in": expires_in}
        if params.get("scope"):
            body["scope"] = params["scope"]
        return json_response(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    # --- tickets ---

    def _authorize(self, request: Request) -> None:
        scheme, _, token = (request.headers.get("Authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, 40, "An 'Authorization: Bearer <token>' header is required.", headers=BEARER_CHALLENGE)
        status = self.state.token_status(token)
        if status == "unknown":
            raise ApiError(401, 41, "The access token is not valid.", headers=BEARER_CHALLENGE)
        if status == "expired":
            raise ApiError(401, 42, "The access token has expired.", headers=BEARER_CHALLENGE)
        if not accepts_json(request.headers.get("Accept")):
            raise ApiError(406, 62, "The Accept header must allow application/json.")

    def _create(self, request: Request) -> Response:
        self._authorize(request)
        fields = self._fields_only(request)
        _check_content_type(request, JSON_TYPE)
        ticket = self.state.create_ticket(self.dialect.create_body(request.body))
        response = json_response(201, select_fields(ticket, fields), {"Location": ticket["href"]})
        return self._after("after_create", response)

    def _fields_only(self, request: Request) -> tuple[str, ...] | None:
        """The ``fields`` parameter of a TMF create, get or patch (the only one they declare)."""
        if not self.dialect.tmf or not request.query:
            return None
        params = parse_qs(request.query, keep_blank_values=True)
        if set(params) != {"fields"} or len(params["fields"]) != 1:
            raise ApiError(400, 28, "Only the 'fields' query parameter applies to this operation.")
        return parse_fields(params["fields"][0])

    def _after(self, point: str, response: Response) -> Response:
        """Misbehave, as the faults say, once a create or an update has been committed."""
        fault = self.state.take_after(point)
        if fault is None:
            return response
        if fault.mode == "hang":
            self.pause(fault.seconds)
            return response
        if fault.mode in ("reset", "close"):
            return Response(0, abort=fault.mode)
        if fault.mode == "accept_no_body":
            return Response(202, b"", "")
        return Response(response.status, GARBAGE_CREATED_PAGE, HTML_TYPE, headers=dict(response.headers))

    def _update(self, request: Request) -> Response:
        # docs/oceane-api.md §6, v4 patchTroubleTicket, v5 patchTroubleTicket: a merge-patch (RFC 7396)
        # of the ticket; 200 with the whole ticket.
        self._authorize(request)
        fields = self._fields_only(request)
        ticket_id = request.segment(self.tickets_path + "/")
        if self.state.get_ticket(ticket_id) is None:
            raise ApiError(404, 60, f"No trouble ticket {ticket_id[:100]!r}.")
        kind = media_type(request.headers.get("Content-Type"))
        if kind in JSON_PATCH_TYPES and self.dialect.name == "tmf621-v5":
            raise ApiError(415, 26, f"{kind} is declared by TMF621 v5 but the sandbox implements merge-patch only.")
        if kind not in self.dialect.patch_types:
            allowed = " or ".join(sorted(self.dialect.patch_types))
            raise ApiError(400, 26 if kind else 25, f"Content-Type {kind!r} is not {allowed}.")
        patch = self.dialect.patch_body(decode_object(request.body))
        ticket = self.state.update_ticket(ticket_id, patch)
        return self._after("after_update", json_response(200, select_fields(ticket, fields)))

    # --- hub ---

    def _register(self, request: Request) -> Response:
        self._authorize(request)
        _check_content_type(request, JSON_TYPE)
        body = self.dialect.hub_body(decode_object(request.body))
        try:
            subscription = self.state.hub.register(body["callback"], body.get("query"))
        except CallbackError as exc:
            raise ApiError(400, 24, str(exc)) from None
        answer = self._hub_answer(subscription.id, subscription.callback, subscription.query)
        return json_response(201, answer, {"Location": answer.get("href", f"{self.hub_path}/{subscription.id}")})

    def _hub_answer(self, hub_id: str, callback: str, query: str) -> dict[str, Any]:
        # v4 EventSubscription {id, callback, query}; v5 Hub is an Entity: href and @type too.
        answer: dict[str, Any] = {"id": hub_id, "callback": callback, "query": query}
        if self.dialect.name == "tmf621-v5":
            answer.update({"href": f"{self.hub_path}/{hub_id}", "@type": "Hub"})
        return answer

    def _hub_get(self, request: Request) -> Response:
        self._authorize(request)
        subscription = self.state.hub.get(request.segment(self.hub_path + "/"))
        if subscription is None:
            raise ApiError(404, 60, "No such listener.")
        return json_response(200, self._hub_answer(subscription.id, subscription.callback, subscription.query))

    def _unregister(self, request: Request) -> Response:
        self._authorize(request)
        subscription_id = request.segment(self.hub_path + "/")
        if not self.state.hub.unregister(subscription_id):
            raise ApiError(404, 60, f"No listener {subscription_id[:100]!r}.")
        return Response(204)

    def _find(self, request: Request) -> Response:
        self._authorize(request)
        if self.dialect.tmf:
            extra = TMF_UNIMPLEMENTED if self.dialect.name == "tmf621-v5" else ()
            query = parse_tmf_find_query(request.query, self.dialect.filters, extra)
        else:
            query = parse_find_query(request.query)
        page, total = self.state.find_tickets(query)
        if query.fields is not None:
            page = [select_fields(ticket, query.fields) for ticket in page]
        return json_response(200, page, {"X-Total-Count": str(total), "X-Result-Count": str(len(page))})

    def _get(self, request: Request) -> Response:
        self._authorize(request)
        fields = self._fields_only(request)
        ticket_id = request.segment(self.tickets_path + "/")
        ticket = self.state.get_ticket(ticket_id)
        if ticket is None:
            raise ApiError(404, 60, f"No trouble ticket {ticket_id[:100]!r}.")
        return json_response(200, select_fields(ticket, fields))

    # --- web page ---

    def _page(self, request: Request) -> Response:
        if request.method != "GET":
            raise ApiError(405, 61, "Use GET on this page.", headers={"Allow": "GET"})
        ticket_id = request.segment(TICKET_PAGE_PREFIX)
        ticket = self.state.get_ticket(ticket_id)
        return Response(200 if ticket else 404, _ticket_page(ticket_id, ticket).encode("utf-8"), HTML_TYPE)


def _is_item(path: str, collection: str) -> bool:
    """Whether ``path`` is ``{collection}/{id}`` (one segment)."""
    return path.startswith(collection + "/") and "/" not in path[len(collection) + 1 :]


def _check_content_type(request: Request, expected: str) -> None:
    """A body must say it is ``expected``; 400 code 25 (missing) or 26 (another type)."""
    if request.body.strip():
        kind = media_type(request.headers.get("Content-Type"))
        if not kind:
            raise ApiError(400, 25, f"The Content-Type header is missing; {expected} is expected.")
        if kind != expected:
            raise ApiError(400, 26, f"Content-Type {kind!r} is not {expected}.")


def _basic_credentials(request: Request) -> list[tuple[bytes, bytes]]:
    """The (id, secret) pairs a Basic header may mean: as sent, and form-decoded (RFC 6749 §2.3.1)."""
    scheme, _, encoded = (request.headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return []
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return []
    client_id, colon, secret = decoded.partition(b":")
    if not colon:
        return []
    pairs = [(client_id, secret)]
    try:
        text_id, text_secret = client_id.decode(), secret.decode()
    except UnicodeDecodeError:
        return pairs
    pairs.append((unquote_plus(text_id).encode(), unquote_plus(text_secret).encode()))
    return pairs


def _form(body: bytes) -> dict[str, str]:
    try:
        params = parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "The form body is not valid UTF-8.") from None
    if any(len(values) > 1 for values in params.values()):
        raise OAuthError(400, "invalid_request", "A parameter is repeated.")
    return {name: values[0] for name, values in params.items()}


def _ticket_page(ticket_id: str, ticket: dict[str, Any] | None) -> str:
    title = f"Oceane ticket {html.escape(ticket_id)}"
    if ticket is None:
        rows = "<p>No such ticket in the sandbox.</p>"
    else:
        shown = (
            "id",
            "status",
            "externalId",
            "severity",
            "priority",
            "ticketType",
            "creationDate",
            "description",
        )
        cells = "".join(f"<tr><th>{name}</th><td>{html.escape(str(ticket.get(name, '')))}</td></tr>" for name in shown)
        rows = f"<table>{cells}</table>"
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1>{rows}<p><small>Oceane sandbox</small></p></body></html>"
    )
