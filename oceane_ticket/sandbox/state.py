"""The sandbox's memory: tickets, tokens, call counters and faults, behind one lock.

Over 400 lines on purpose: everything that lock guards is here, so that no state is read or
changed outside it; split, each part would need the lock from the other.
"""

from __future__ import annotations

import copy
import hmac
import random
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from oceane_ticket.sandbox.dialects import OCEANE, Dialect
from oceane_ticket.sandbox.faults import AfterCreate, Decision, Faults
from oceane_ticket.sandbox.gates import Gates
from oceane_ticket.sandbox.hub import CREATE_EVENT, RESOLVED_EVENT, STATUS_CHANGE_EVENT, Hub
from oceane_ticket.sandbox.protocol import STATUSES, TICKETS_PATH, ApiError
from oceane_ticket.sandbox.tickets import FindQuery, now_iso
from oceane_ticket.sandbox.updates import apply_patch
from oceane_ticket.statuses import OCEANE_CLOSED_STATUSES

COUNTERS = (
    "tickets_created",
    "create_calls",
    "find_calls",
    "token_calls",
    "tokens_issued",
    "create_conflicts",
    "update_calls",
    "tickets_updated",
    "hub_calls",
)
MAX_REMEMBERED_TOKENS = 100_000
_CALL_COUNTER = {
    "create": "create_calls",
    "find": "find_calls",
    "token": "token_calls",
    "update": "update_calls",
    "hub": "hub_calls",
}


class SandboxState:
    """Thread-safe store; every public method takes the lock, none sleeps or does I/O under it."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        baseline: Faults,
        seed: int | None = None,
        stopping: threading.Event | None = None,
        dialect: Dialect = OCEANE,
    ) -> None:
        self._lock = threading.Lock()
        self.dialect = dialect
        # Listener registrations and event pushes; it has its own lock and thread.
        self.hub = Hub(stopping or threading.Event(), dialect.event)
        self._client_id = client_id.encode()
        self._client_secret = client_secret.encode()
        self._baseline = copy.deepcopy(baseline)
        self._rng = random.Random(seed)
        self._faults = copy.deepcopy(baseline)
        self._tickets: dict[str, dict[str, Any]] = {}
        # external identifier -> ids of the tickets carrying it, so that a create's duplicate check
        # does not scan every ticket (it was most of the sandbox's own time per call).
        self._by_external: dict[str, list[str]] = {}
        self._tokens: dict[str, float] = {}  # access token -> monotonic expiry
        self._born: dict[str, float] = {}  # ticket id -> monotonic time stored (the lookup_lag fault)
        self._counters = dict.fromkeys(COUNTERS, 0)
        # Where a test holds a call (their own lock: a held call waits outside this one).
        self.gates = Gates()

    # --- counters and faults ---

    def begin_call(self, group: str) -> Decision:
        """Count a call of ``group`` and pick the faults that apply to it."""
        with self._lock:
            self._counters[_CALL_COUNTER[group]] += 1
            decision = self._faults.decide(group, self._rng)
        self.gates.hold(group)
        return decision

    def set_faults(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge fault changes (raises ``FaultSpecError``); returns the resulting faults."""
        with self._lock:
            self._faults = self._faults.merged(changes)
            return self._faults.to_dict()

    def clear_faults(self) -> dict[str, Any]:
        """Remove every fault; token and list settings go back to their start-up values."""
        with self._lock:
            self._faults = self._cleared()
            return self._faults.to_dict()

    def _cleared(self) -> Faults:
        base = self._baseline
        return Faults(
            token_lifetime=base.token_lifetime,
            expires_in_as_string=base.expires_in_as_string,
            retry_after=base.retry_after,
            find_ignores_filter=base.find_ignores_filter,
            find_ignores_offset=base.find_ignores_offset,
            find_newest_first=base.find_newest_first,
            conflict_on_duplicate=base.conflict_on_duplicate,
        )

    def retry_after(self) -> int:
        """The default ``Retry-After`` of a forced 429."""
        with self._lock:
            return self._faults.retry_after

    def take_after(self, point: str) -> AfterCreate | None:
        """The fault of this create (``after_create``) or update (``after_update``), if any."""
        self.gates.hold(point)
        with self._lock:
            return self._faults.take_after(point)

    def reset(self) -> None:
        """Forget tickets, tokens and counters, and clear faults."""
        with self._lock:
            self._tickets.clear()
            self._by_external.clear()
            self._born.clear()
            self._tokens.clear()
            self._counters = dict.fromkeys(COUNTERS, 0)
            self._faults = self._cleared()
        self.hub.reset()
        self.gates.reset()

    # --- tokens ---

    def check_client(self, client_id: bytes, client_secret: bytes) -> bool:
        """Whether the client credentials are right (constant time)."""
        id_ok = hmac.compare_digest(client_id, self._client_id)
        return hmac.compare_digest(client_secret, self._client_secret) and id_ok

    def issue_token(self) -> tuple[str, int | str]:
        """A new access token and its ``expires_in`` as the wire should carry it."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            lifetime = self._faults.token_lifetime
            self._forget_old_tokens()
            self._tokens[token] = time.monotonic() + lifetime
            self._counters["tokens_issued"] += 1
            return token, str(lifetime) if self._faults.expires_in_as_string else lifetime

    def _forget_old_tokens(self) -> None:
        # Expired tokens are kept so that they answer 42 rather than 41; bound them all the same.
        if len(self._tokens) >= MAX_REMEMBERED_TOKENS:
            now = time.monotonic()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}

    def token_status(self, token: str) -> str:
        """``"valid"``, ``"expired"`` or ``"unknown"``."""
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None:
            return "unknown"
        return "valid" if time.monotonic() < expiry else "expired"

    def issued_tokens(self) -> list[str]:
        """Every access token issued and still remembered (tests scan for them)."""
        with self._lock:
            return list(self._tokens)

    def expire_tokens(self) -> int:
        """Make every issued token expired now; returns how many were still valid."""
        with self._lock:
            now = time.monotonic()
            valid = sum(1 for exp in self._tokens.values() if exp > now)
            self._tokens = dict.fromkeys(self._tokens, float("-inf"))
            return valid

    # --- tickets ---

    def create_ticket(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Store a ticket; raises 409 code 29 while a ticket with its external identifier is open.

        The 409 is Oceane's assumed behaviour; the ``conflict_on_duplicate`` setting turns it off.
        """
        external_ids = self.dialect.external_ids(fields)
        with self._lock:
            open_ticket = self._open_ticket(external_ids) if self._faults.conflict_on_duplicate else None
            if open_ticket is not None:
                self._counters["create_conflicts"] += 1
                raise ApiError(
                    409,
                    29,
                    f"Ticket {open_ticket['id']} with external identifier {external_ids[0]!r} is still "
                    f"{open_ticket['status']}.",
                )
            ticket_id = self._new_id()
            stamp = now_iso()
            # ``fields`` is the body just decoded, nobody else's: stored as is, and copied once on the way out.
            ticket = {"id": ticket_id, "href": self._href(ticket_id), **fields}
            ticket.update(status="acknowledged", creationDate=stamp, lastUpdate=stamp)
            self._store(ticket)
            self._counters["tickets_created"] += 1
            created = copy.deepcopy(ticket)
        self.hub.publish(CREATE_EVENT, created)
        return created

    def _store(self, ticket: dict[str, Any]) -> None:
        self._tickets[ticket["id"]] = ticket
        self._born[ticket["id"]] = time.monotonic()
        for external_id in self.dialect.external_ids(ticket):
            self._by_external.setdefault(external_id, []).append(ticket["id"])

    def _unindex(self, ticket: dict[str, Any]) -> None:
        for external_id in self.dialect.external_ids(ticket):
            ids = self._by_external.get(external_id, [])
            if ticket["id"] in ids:
                ids.remove(ticket["id"])

    def _href(self, ticket_id: str) -> str:
        return f"{self.dialect.prefix}{TICKETS_PATH}/{ticket_id}"

    def _open_ticket(self, external_ids: list[str]) -> dict[str, Any] | None:
        for external_id in external_ids:
            for ticket_id in self._by_external.get(external_id, ()):
                ticket = self._tickets[ticket_id]
                if ticket["status"] not in OCEANE_CLOSED_STATUSES:
                    return ticket
        return None

    def _new_id(self) -> str:
        # Oceane ids look like 2106M80375: year, month, "M", five digits.
        prefix = datetime.now(UTC).strftime("%y%mM")
        for _ in range(1000):
            candidate = f"{prefix}{self._rng.randrange(100_000):05d}"
            if candidate not in self._tickets:
                return candidate
        for number in range(100_000):  # a nearly full month: take the first free number
            candidate = f"{prefix}{number:05d}"
            if candidate not in self._tickets:
                return candidate
        raise ApiError(500, 1, "The sandbox ran out of ticket ids for this month.")

    def add_hand_made(
        self, count: int, external_id: str | None = None, status: str = "acknowledged"
    ) -> list[dict[str, Any]]:
        """Store ``count`` tickets as a person would open them in Oceane's own interface.

        Without ``external_id`` they carry no ``externalId`` at all (the key is absent), as tickets
        not opened through the API do. No 409 check: a person is not stopped by one.

        Raises:
            ApiError: 400 code 24 for a bad count, externalId or status.
        """
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
            raise ApiError(400, 24, f"count must be an integer from 1 to 10000, got {count!r}.")
        if external_id is not None and (not isinstance(external_id, str) or not external_id.strip()):
            raise ApiError(400, 24, "externalId must be a non-empty string when given.")
        if status not in STATUSES:
            raise ApiError(400, 24, f"status must be one of {', '.join(STATUSES)}, got {status!r}.")
        made = []
        with self._lock:
            for _ in range(count):
                ticket_id = self._new_id()
                stamp = now_iso()
                ticket: dict[str, Any] = {"id": ticket_id, "href": self._href(ticket_id)}
                ticket.update(self.dialect.hand_made(external_id))
                ticket.update(status=status, creationDate=stamp, lastUpdate=stamp)
                self._store(ticket)
                made.append(copy.deepcopy(ticket))
        return made

    def find_tickets(self, query: FindQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of matching tickets, oldest first, and the total number of matches.

        The list faults change that: ``find_ignores_filter`` matches every ticket (the total
        counts them all), ``find_ignores_offset`` starts every page at the first one, and
        ``find_newest_first`` reverses the order; ``lookup_lag`` leaves out the tickets stored in
        its last seconds, from the page and the total alike (the lag is invisible to the client).
        """
        with self._lock:
            faults = self._faults
            if faults.find_ignores_filter:
                query = query.unfiltered()
            offset = 0 if faults.find_ignores_offset else query.offset
            tickets = list(self._tickets.values())
            if faults.lookup_lag:
                seen_before = time.monotonic() - faults.lookup_lag
                tickets = [t for t in tickets if self._born.get(t["id"], 0.0) <= seen_before]
            if faults.find_newest_first:
                tickets.reverse()
            matches = [t for t in tickets if query.matches(t)]
            page = matches[offset : offset + query.limit]
            return copy.deepcopy(page), len(matches)

    def get_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """A copy of one ticket, or ``None``."""
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            return copy.deepcopy(ticket) if ticket is not None else None

    def update_ticket(self, ticket_id: str, patch: Mapping[str, Any], conflict_code: int = 29) -> dict[str, Any]:
        """Apply a checked merge-patch (see :mod:`oceane_ticket.sandbox.updates`) and push its events.

        Raises:
            ApiError: 404 code 60 for an unknown ticket, 409 for a refused transition.
        """
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                raise ApiError(404, 60, f"No trouble ticket {ticket_id[:100]!r}.")
            after, events = apply_patch(ticket, patch, conflict_code)
            self._unindex(ticket)
            self._store(after)
            if events:
                self._counters["tickets_updated"] += 1
            result = copy.deepcopy(after)
        for event in events:
            self.hub.publish(event, result)
        return result

    def set_status(self, ticket_id: str, status: Any, reason: str | None = None) -> dict[str, Any]:
        """Change a ticket's status as Oceane's staff would (control API), pushing the hub's events.

        Unlike a client's update, any transition is allowed: a person in Oceane may do anything.

        Raises:
            ApiError: 404 code 60 for an unknown ticket, 400 code 24 for an unknown status.
        """
        if status not in STATUSES:
            raise ApiError(400, 24, f"status must be one of {', '.join(STATUSES)}, got {status!r}.")
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                raise ApiError(404, 60, f"No ticket {ticket_id!r}.")
            changed = ticket.get("status") != status
            stamp = now_iso()
            ticket.update(status=status, lastUpdate=stamp)
            if changed:
                ticket["statusChangeDate"] = stamp
                if reason:
                    ticket["statusChangeReason"] = reason
                if status == "resolved":
                    ticket.setdefault("resolutionDate", stamp)
            result = copy.deepcopy(ticket)
        if changed:
            self.hub.publish(STATUS_CHANGE_EVENT, result)
            if status == "resolved":
                self.hub.publish(RESOLVED_EVENT, result)
        return result

    # --- reporting ---

    def tickets(self) -> list[dict[str, Any]]:
        """Copies of every ticket, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._tickets.values()))

    def snapshot(self) -> dict[str, Any]:
        """Counters, tickets and faults, as ``GET /_sandbox/state`` returns them."""
        with self._lock:
            return {
                "tickets": copy.deepcopy(list(self._tickets.values())),
                **self._counters,
                "faults": self._faults.to_dict(),
                "hub": self.hub.snapshot(),
            }
