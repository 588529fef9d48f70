"""The Oceane sandbox: a fake Oceane HTTP server implementing ``docs/oceane-api.md``, with fault injection.

Oceane endpoints (contract §1-§4):

* ``POST /oauth/v3/token``: Basic client credentials, form body ``grant_type=client_credentials``.
* ``POST /troubleTicket``, ``GET /troubleTicket?externalId=&status=a,b&offset=&limit=``,
  ``GET /troubleTicket/<id>``: Bearer token. Unknown find parameters are refused (400 code 28).
* ``PATCH /troubleTicket/<id>`` (``application/merge-patch+json``, contract §6): notes (replaced
  whole), status with ``statusChangeReason``/``resolutionDate``, severity, priority; a transition the
  TMF621 state machine does not allow is 409 code 29 (see :mod:`oceane_ticket.sandbox.updates`).
* ``POST /hub`` ``{"callback", "query"}`` -> 201, ``DELETE /hub/<id>`` -> 204: listeners; every ticket
  change is then POSTed to ``{callback}/listener/<eventName>`` (loopback callbacks only, from a
  background thread, 3 attempts; see :mod:`oceane_ticket.sandbox.hub`).
* ``GET /ticket/<id>``: a small HTML page, the target of the ticket URL written onto the alarm.

Dialects (``Sandbox(dialect=...)``, ``--dialect``; :mod:`oceane_ticket.sandbox.dialects`): ``oceane`` as
above; ``tmf621-v4`` and ``tmf621-v5`` serve the same operations under ``/tmf-api/troubleTicket/v4`` (or
``v5``) as TM Forum's specifications describe them: their bodies (checked as strictly as a validator of
those documents would), media types, TMF error bodies, ``fields``/``offset``/``limit`` and attribute
filters (v4 ``externalId=``, v5 ``externalIdentifier.id=``). The token endpoint, the control API and
the web page stay on the origin in every dialect; :attr:`Sandbox.base_url` is what the client's
``OCEANE_BASE_URL`` should be.

Control API (no authentication; loopback tool):

* ``GET /_sandbox/state``: ``{"tickets": [...], "tickets_created", "create_calls", "find_calls",
  "token_calls", "tokens_issued", "faults": {...}}``. Call counters count every request of the group,
  faulted or not; ``find_calls`` covers the list and the get-by-id.
* ``POST /_sandbox/faults``: merge fault settings (below); answers the resulting faults.
* ``DELETE /_sandbox/faults``: remove every fault; the token settings return to their start-up values.
* ``POST /_sandbox/expire-tokens``: every issued token answers 401 code 42 from now on.
* ``POST /_sandbox/reset``: forget tickets, tokens and counters, and clear faults.
* ``POST /_sandbox/tickets/<id>/status`` ``{"status": "closed", "statusChangeReason": "..."}``: change a
  ticket's status as Oceane's staff would (any transition), pushing the hub's events; a ticket in
  ``cancelled``, ``closed``, ``resolved`` or ``rejected`` no longer blocks a create (409 code 29).
* ``POST /_sandbox/hand-made-tickets`` ``{"count": 45, "externalId": null, "status": "acknowledged"}``:
  store tickets as a person opens them in Oceane's interface (without ``externalId`` unless given);
  answers 201 with them.

Fault settings (the body of ``POST /_sandbox/faults`` and the arguments of :meth:`Sandbox.set_faults`).
Groups are ``token``, ``create``, ``find``, ``update`` (PATCH), ``hub`` (register, unregister) and
``all``; a fault set for a group beats one set for
``all``. ``null`` removes a setting (``{"latency": null}`` all of them, ``{"latency": {"find": null}}``
one group)::

    {
      "latency": 0.5,                       # or {"create": 2.0, "all": 0.1}: seconds before answering
      "error_rate": {"create": 0.3},        # 0..1: random 500 code 1 / 503 code 5
      "forced": {"group": "create", "status": 429, "code": 53, "count": 2, "retry_after": 3,
                 "message": "...", "description": "..."},   # or {"create": {...}, "token": {...}}
      "malformed": {"group": "find", "status": 502, "kind": "html", "count": null},
      "after_create": {"mode": "hang", "seconds": 30, "count": 1},   # or just "hang"
      "after_update": "reset",              # the same, once a PATCH is applied
      "token_lifetime": 3600, "expires_in_as_string": true, "retry_after": 1,
      "find_ignores_filter": true, "find_ignores_offset": true, "find_newest_first": true,
      "lookup_lag": 5.0                     # seconds a new ticket is missing from the list
    }

* ``forced``: answer ``status``/``code`` for the next ``count`` calls (default 1; ``null``: until
  cleared). ``code`` defaults from the status (429 -> 53, 503 -> 5, ...). A 429 always carries
  ``Retry-After`` (its ``retry_after``, else the global ``retry_after``); other statuses only when
  ``retry_after`` is given. On the token group, 400 and 401 take the OAuth error shape.
* ``malformed``: answer a non-JSON body, before any processing: ``kind`` ``html`` (a proxy error page,
  default for non-2xx), ``truncated_json`` (default for 2xx) or ``empty``; or an explicit ``body`` and
  ``content_type``. ``count`` defaults to ``null`` (until cleared).
* ``after_create``: once a create has stored its ticket, ``hang`` (wait ``seconds`` before answering),
  ``reset`` (drop the connection with RST, no answer), ``close`` (FIN, no answer) or ``garbage``
  (201 with an HTML body); ``count`` defaults to 1.
* ``accept_no_body``: ``true`` (or ``{"count": N}``): once stored, a create is answered 202 Accepted
  with an empty body, as TMF621 v5 allows.
* ``conflict_on_duplicate`` (default true): ``false`` stores a second ticket for an external identifier
  that has an open one instead of answering 409, as a server that does not check would.
* ``find_ignores_filter``, ``find_ignores_offset``, ``find_newest_first``: the list behaves like some
  servers that are not Oceane: every ticket whatever the ``externalId`` asked (``X-Total-Count``
  counts them all), every page from the first ticket, newest first. Like the token settings they
  describe the server, so ``DELETE /_sandbox/faults`` returns them to their start-up values.
* ``lookup_lag`` (seconds, default 0): a ticket is missing from the list (``GET /troubleTicket``,
  page and ``X-Total-Count`` alike) for that long after it was stored, as on a server whose list
  lags behind its creates (TMF621 promises no read-your-writes). The 409 on a second create and
  ``GET /troubleTicket/{id}`` see it at once. A fault: ``DELETE /_sandbox/faults`` clears it.
* Order on each call: latency, then forced, malformed, error_rate, then the real endpoint.

Malformed requests (bad framing, bodies over ``max_body_bytes``, non-UTF-8, non-JSON) get a 400 with
an Orange code and never stop the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from oceane_ticket.sandbox.api import App
from oceane_ticket.sandbox.dialects import dialect as find_dialect
from oceane_ticket.sandbox.faults import Faults
from oceane_ticket.sandbox.handler import LoopbackHTTPServer
from oceane_ticket.sandbox.protocol import CONTROL_PREFIX, HUB_PATH, TICKETS_PATH, TOKEN_PATH
from oceane_ticket.sandbox.state import SandboxState

__all__ = ["Sandbox", "SandboxConfig"]

logger = logging.getLogger("oceane_ticket.sandbox")

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - the sandbox's well-known demo secret


@dataclass
class SandboxConfig:
    """Start-up settings; the fault ones are the same as the control API's, in a flatter form.

    Attributes:
        token_lifetime: Seconds a token lives (``expires_in``).
        expires_in_as_string: Send ``expires_in`` as ``"3600"`` rather than ``3600``.
        retry_after: Default ``Retry-After`` seconds of a forced 429.
        fault_group: Group that ``latency``, ``error_rate`` and ``fail_*`` apply to.
        latency: Seconds added before answering.
        error_rate: Probability (0..1) of a random 500 code 1 / 503 code 5.
        fail_status: Force this HTTP status (with ``fail_code``) for ``fail_count`` calls.
        fail_code: App code of the forced answer (default from the status).
        fail_count: Number of forced answers; ``None`` means until cleared.
        after_create: ``hang``, ``reset``, ``close`` or ``garbage`` after every create.
        find_ignores_filter: The list ignores ``externalId`` (every ticket matches).
        find_ignores_offset: The list ignores ``offset`` (every page starts at the first ticket).
        find_newest_first: The list is newest first.
        conflict_on_duplicate: Refuse (409) a create whose external identifier has an open ticket.
        accept_no_body: Answer every create 202 Accepted with an empty body (after storing it).
        hand_made_tickets: Tickets without ``externalId`` stored at start-up, as if opened by hand.
        faults: Extra fault settings in the control API's JSON form, merged last.
        max_body_bytes: Largest request body accepted.
        request_timeout: Socket read timeout per connection, in seconds.
        seed: Seed of the random generator (ticket ids, error_rate), for reproducible runs.
    """

    token_lifetime: int = 3600
    expires_in_as_string: bool = False
    retry_after: int = 1
    fault_group: str = "all"
    latency: float = 0.0
    error_rate: float = 0.0
    fail_status: int | None = None
    fail_code: int | None = None
    fail_count: int | None = None
    after_create: str | None = None
    find_ignores_filter: bool = False
    find_ignores_offset: bool = False
    find_newest_first: bool = False
    conflict_on_duplicate: bool = True
    accept_no_body: bool = False
    hand_made_tickets: int = 0
    faults: Mapping[str, Any] | None = None
    max_body_bytes: int = 1024 * 1024
    request_timeout: float = 15.0
    seed: int | None = None

    def initial_faults(self) -> Faults:
        """The faults in force at start-up; raises ``FaultSpecError`` (a ``ValueError``) if invalid."""
        group = self.fault_group
        changes: dict[str, Any] = {
            "token_lifetime": self.token_lifetime,
            "expires_in_as_string": self.expires_in_as_string,
            "retry_after": self.retry_after,
            "latency": {group: self.latency},
            "error_rate": {group: self.error_rate},
            "find_ignores_filter": self.find_ignores_filter,
            "find_ignores_offset": self.find_ignores_offset,
            "find_newest_first": self.find_newest_first,
            "conflict_on_duplicate": self.conflict_on_duplicate,
        }
        if self.fail_status is not None:
            changes["forced"] = {group: {"status": self.fail_status, "code": self.fail_code, "count": self.fail_count}}
        if self.after_create is not None:
            changes["after_create"] = {"mode": self.after_create, "count": None}
        if self.accept_no_body:
            changes["accept_no_body"] = True
        faults = Faults().merged(changes)
        return faults.merged(self.faults) if self.faults else faults


class Sandbox:
    """A fake Oceane server on a daemon thread, with a Python API over the control API.

    Example::

        with Sandbox(port=0) as sb:
            requests.post(sb.token_url, ...)
            sb.set_faults(after_create="hang")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        config: SandboxConfig | None = None,
        dialect: str = "oceane",
    ) -> None:
        self.config = config or SandboxConfig()
        self.dialect = find_dialect(dialect)  # ValueError naming the allowed ones
        self._host = host
        self._port = port
        self._stopping = threading.Event()
        self._state = SandboxState(
            client_id, client_secret, self.config.initial_faults(), self.config.seed, self._stopping, self.dialect
        )
        if self.config.hand_made_tickets:
            self._state.add_hand_made(self.config.hand_made_tickets)
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---

    def start(self) -> Sandbox:
        """Bind and serve on a daemon thread; port 0 picks a free port. Raises ``OSError`` if busy."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already started")
        self._stopping.clear()
        self._server = LoopbackHTTPServer(
            (self._host, self._port),
            App(self._state, self._stopping),
            max_body_bytes=self.config.max_body_bytes,
            request_timeout=self.config.request_timeout,
        )
        self._port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="oceane-sandbox",
            daemon=True,
        )
        self._thread.start()
        logger.info("Oceane sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, end injected waits and close open connections. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.info("Oceane sandbox stopped")

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- addresses ---

    @property
    def host(self) -> str:
        """The listening host."""
        return self._host

    @property
    def port(self) -> int:
        """The listening port (the real one once started with port 0)."""
        return self._port

    @property
    def origin(self) -> str:
        """``http://host:port``: where the token endpoint, the control API and the web page are."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The API base URL the client uses for this dialect (``OCEANE_BASE_URL``).

        The origin for ``oceane``; ``{origin}/tmf-api/troubleTicket/v4`` (or ``v5``) for TMF621.
        """
        return self.origin + self.dialect.prefix

    @property
    def url(self) -> str:
        """Same as :attr:`base_url`."""
        return self.base_url

    @property
    def token_url(self) -> str:
        """The token endpoint, on the origin whatever the dialect."""
        return self.origin + TOKEN_PATH

    @property
    def tickets_url(self) -> str:
        """The trouble-ticket collection."""
        return self.base_url + TICKETS_PATH

    @property
    def hub_url(self) -> str:
        """The listener registration endpoint."""
        return self.base_url + HUB_PATH

    @property
    def control_url(self) -> str:
        """The control API's prefix (``/_sandbox``)."""
        return self.origin + CONTROL_PREFIX.rstrip("/")

    def ticket_url_template(self) -> str:
        """The ``ticket_url_template`` setting that points at this sandbox's web page."""
        return self.origin + "/ticket/{id}"

    # --- control ---

    def set_faults(self, faults: Mapping[str, Any] | None = None, /, **changes: Any) -> dict[str, Any]:
        """Merge fault settings (JSON form of the module docstring); returns the resulting faults.

        Raises:
            FaultSpecError: (a ``ValueError``) if a setting is invalid; nothing is changed then.
        """
        return self._state.set_faults({**(faults or {}), **changes})

    def force(
        self,
        status: int,
        code: int | None = None,
        *,
        group: str = "all",
        count: int | None = 1,
        retry_after: int | None = None,
        message: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Force ``status``/``code`` for the next ``count`` calls of ``group`` (``None``: until cleared)."""
        spec: dict[str, Any] = {"status": status, "code": code, "count": count, "retry_after": retry_after}
        spec.update(message=message, description=description)
        return self.set_faults(forced={group: spec})

    def clear_faults(self) -> dict[str, Any]:
        """Remove every fault; token settings return to their start-up values."""
        return self._state.clear_faults()

    def expire_tokens(self) -> int:
        """Expire every issued token now; returns how many were still valid."""
        return self._state.expire_tokens()

    def reset(self) -> None:
        """Forget tickets, tokens and counters, and clear faults."""
        self._state.reset()

    def issued_tokens(self) -> list[str]:
        """Every access token this sandbox issued and still remembers."""
        return self._state.issued_tokens()

    def issue_token(self) -> str:
        """A valid access token, without an HTTP call (counted in ``tokens_issued`` only)."""
        return self._state.issue_token()[0]

    def set_status(self, ticket_id: str, status: str, reason: str | None = None) -> dict[str, Any]:
        """Change a ticket's status as Oceane's staff would, pushing the hub's events.

        Raises:
            ApiError: for an unknown ticket or status.
        """
        return self._state.set_status(ticket_id, status, reason)

    def set_ticket_status(self, ticket_id: str, status: str) -> dict[str, Any]:
        """Older name of :meth:`set_status`."""
        return self._state.set_status(ticket_id, status)

    def wait_pushes(self, timeout: float = 10.0) -> bool:
        """Wait until every hub event queued so far was delivered or given up on; whether it was."""
        return self._state.hub.idle(timeout)

    def hub(self) -> dict[str, Any]:
        """Listener registrations (callbacks without their path), push counters, last deliveries."""
        return self._state.hub.snapshot()

    def add_hand_made_tickets(
        self, count: int, external_id: str | None = None, status: str = "acknowledged"
    ) -> list[dict[str, Any]]:
        """Store ``count`` tickets as a person opens them in Oceane (no ``externalId`` unless given).

        Raises:
            ApiError: for a bad count, externalId or status.
        """
        return self._state.add_hand_made(count, external_id, status)

    def get_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """A copy of one ticket, or ``None``."""
        return self._state.get_ticket(ticket_id)

    def state(self) -> dict[str, Any]:
        """Counters, tickets and faults, as ``GET /_sandbox/state``."""
        return self._state.snapshot()

    @property
    def tickets(self) -> list[dict[str, Any]]:
        """Copies of every stored ticket, oldest first."""
        return self._state.tickets()
