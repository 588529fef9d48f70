"""The ``/_sandbox/`` control API: inspect state, set faults, expire tokens, close tickets, add tickets by hand.

``GET /_sandbox/gates`` shows the gates; ``POST /_sandbox/gates/<point>/close`` holds every call
reaching ``<point>`` (``token``, ``create``, ``find``: on arrival; ``after_create``: once the ticket
is stored, before the answer) until ``POST /_sandbox/gates/<point>/open``. ``create_conflicts`` in
the state counts creates refused with 409 because the externalId already had an open ticket.

No authentication: the sandbox listens on loopback only unless told otherwise (see the CLI).
"""

from __future__ import annotations

import json
from typing import Any

from oceane_ticket.sandbox.faults import FaultSpecError
from oceane_ticket.sandbox.httpio import Request
from oceane_ticket.sandbox.protocol import CONTROL_PREFIX, ApiError, Response, json_response
from oceane_ticket.sandbox.state import SandboxState


def handle(state: SandboxState, request: Request) -> Response:
    """Answer one control request.

    Raises:
        ApiError: 404 code 60 for an unknown path, 405 code 61 for a wrong method, 400 for a bad body.
    """
    action = request.path[len(CONTROL_PREFIX) :]
    method = request.method
    if action == "state":
        _allow(method, "GET")
        return json_response(200, state.snapshot())
    if action == "faults":
        _allow(method, "POST", "DELETE")
        if method == "DELETE":
            return json_response(200, state.clear_faults())
        try:
            return json_response(200, state.set_faults(_json_object(request.body)))
        except FaultSpecError as exc:
            raise ApiError(400, 24, str(exc)) from None
    if action == "expire-tokens":
        _allow(method, "POST")
        return json_response(200, {"expired": state.expire_tokens()})
    if action == "hand-made-tickets":
        _allow(method, "POST")
        body = _json_object(request.body)
        unknown = sorted(set(body) - {"count", "externalId", "status"})
        if unknown:
            raise ApiError(400, 24, f"Unknown keys {unknown}; allowed: count, externalId, status.")
        made = state.add_hand_made(body.get("count", 1), body.get("externalId"), body.get("status", "acknowledged"))
        return json_response(201, made)
    if action == "reset":
        _allow(method, "POST")
        state.reset()
        return json_response(200, state.snapshot())
    if action == "gates" or action.startswith("gates/"):
        return _gates(state, request, action)
    parts = action.split("/")
    if len(parts) == 3 and parts[0] == "tickets" and parts[2] == "status":
        _allow(method, "POST")
        ticket_id = request.segment(CONTROL_PREFIX + "tickets/").rsplit("/status", 1)[0]
        body = _json_object(request.body)
        reason = body.get("statusChangeReason")
        if reason is not None and not isinstance(reason, str):
            raise ApiError(400, 24, "statusChangeReason must be a string.")
        return json_response(200, state.set_status(ticket_id, body.get("status"), reason))
    raise ApiError(404, 60, f"No control resource {action[:100]!r}.")


def _gates(state: SandboxState, request: Request, action: str) -> Response:
    if action == "gates":
        _allow(request.method, "GET")
        return json_response(200, state.gates.info())
    parts = action.split("/")
    if len(parts) != 3 or parts[2] not in ("close", "open"):
        raise ApiError(404, 60, f"No control resource {action[:100]!r}; use gates/<point>/close or /open.")
    _allow(request.method, "POST")
    if parts[2] == "close":
        return json_response(200, state.gates.close(parts[1]))
    return json_response(200, state.gates.open(parts[1]))


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise ApiError(405, 61, f"Use {', '.join(allowed)}.", headers={"Allow": ", ".join(allowed)})


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise ApiError(400, 21, "A JSON object body is expected.")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, 22, f"The body is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, 22, "The body must be a JSON object.")
    return value
