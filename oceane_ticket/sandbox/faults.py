"""Fault injection settings: parsing and merging the control API's JSON, and choosing a fault per call.

The JSON form (``POST /_sandbox/faults``, ``Sandbox.set_faults``) is documented in
:mod:`oceane_ticket.sandbox.server`. Every change is validated in full before any of it applies, so a
typo in a test never leaves the sandbox half-configured.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from oceane_ticket.sandbox.protocol import DEFAULT_CODE_FOR_STATUS

GROUPS = ("token", "create", "find", "update", "hub", "all")
# accept_no_body: 202 Accepted with an empty body, as TMF621 v5 allows a create to answer.
AFTER_CREATE_MODES = ("hang", "reset", "close", "garbage", "accept_no_body")
DEFAULT_HANG_SECONDS = 30.0

PROXY_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
TRUNCATED_JSON = '[{"id": "2106M80375", "href": "/troubleTicket/2106M80375", "externalId": "12/34'


class FaultSpecError(ValueError):
    """The fault JSON is invalid; the message says which key and why."""


@dataclass
class Forced:
    """A forced answer for the next ``remaining`` calls (``None``: until cleared)."""

    status: int
    code: int
    message: str | None = None
    description: str | None = None
    remaining: int | None = 1
    retry_after: int | None = None
    explicit_code: bool = False  # the code was named, not derived from the status


@dataclass
class Malformed:
    """A non-JSON (or broken JSON) answer for the next ``remaining`` calls (``None``: until cleared)."""

    status: int
    body: str
    content_type: str
    remaining: int | None = None


@dataclass
class AfterCreate:
    """What happens once a create has stored its ticket, for the next ``remaining`` creates."""

    mode: str
    seconds: float = DEFAULT_HANG_SECONDS
    remaining: int | None = 1


@dataclass
class Decision:
    """The faults that apply to one call, picked (and counted down) atomically."""

    latency: float = 0.0
    forced: Forced | None = None
    malformed: Malformed | None = None
    random_error: int | None = None  # HTTP status 500 or 503


@dataclass
class Faults:
    """Every fault knob; per-group maps are keyed by ``token``, ``create``, ``find`` or ``all``."""

    latency: dict[str, float] = field(default_factory=dict)
    error_rate: dict[str, float] = field(default_factory=dict)
    forced: dict[str, Forced] = field(default_factory=dict)
    malformed: dict[str, Malformed] = field(default_factory=dict)
    after_create: AfterCreate | None = None
    # The same misbehaviours once an update (PATCH) has been applied: a timeout after commit.
    after_update: AfterCreate | None = None
    token_lifetime: int = 3600
    expires_in_as_string: bool = False
    retry_after: int = 1
    # How the list (GET /troubleTicket) behaves, as servers that are not Oceane sometimes do.
    find_ignores_filter: bool = False  # list every ticket, whatever the externalId asked for
    find_ignores_offset: bool = False  # every page starts at the first ticket
    find_newest_first: bool = False  # list newest first (default: oldest first)
    # Seconds during which a new ticket is missing from the list (and its X-Total-Count), as on a
    # server whose list is read from a replica or an index that lags behind its creates: TMF621
    # promises no read-your-writes. The 409 check and GET by id see it at once. A fault: cleared.
    lookup_lag: float = 0.0
    # A create whose external identifier already has an open ticket is refused with 409 (Oceane, as
    # assumed in docs/oceane-api.md §2); false: stored as a second ticket, as a server that does not
    # check would. Describes the server, like the list settings.
    conflict_on_duplicate: bool = True

    def merged(self, changes: Mapping[str, Any]) -> Faults:
        """A copy with ``changes`` applied; raises :class:`FaultSpecError` and leaves ``self`` intact."""
        if not isinstance(changes, Mapping):
            raise FaultSpecError("faults must be a JSON object")
        result = copy.deepcopy(self)
        for key, value in changes.items():
            applier = _APPLIERS.get(key)
            if applier is None:
                raise FaultSpecError(f"unknown fault {key!r}; known: {', '.join(sorted(_APPLIERS))}")
            applier(result, value)
        return result

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as ``GET /_sandbox/state`` shows it."""
        data = asdict(self)
        for spec in data["forced"].values():
            del spec["explicit_code"]  # how the code was given is ours; the state shows the code
        return data

    def decide(self, group: str, rng: random.Random) -> Decision:
        """Pick the faults for one call of ``group``, counting down the one-shot ones."""
        decision = Decision(latency=_lookup(self.latency, group) or 0.0)
        forced_key = _key_for(self.forced, group)
        if forced_key is not None:
            decision.forced = _consume(self.forced, forced_key)
            return decision
        malformed_key = _key_for(self.malformed, group)
        if malformed_key is not None:
            decision.malformed = _consume(self.malformed, malformed_key)
            return decision
        rate = _lookup(self.error_rate, group) or 0.0
        if rate > 0 and rng.random() < rate:
            decision.random_error = rng.choice((500, 503))
        return decision

    def take_after(self, point: str) -> AfterCreate | None:
        """The fault for this create (``point`` ``after_create``) or update (``after_update``), counting it down."""
        fault: AfterCreate | None = getattr(self, point)
        if fault is None:
            return None
        taken = copy.copy(fault)
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                setattr(self, point, None)
        return taken


def _key_for(table: Mapping[str, Any], group: str) -> str | None:
    # A fault set for the group itself beats one set for every group.
    if group in table:
        return group
    return "all" if "all" in table else None


def _lookup(table: Mapping[str, Any], group: str) -> Any:
    key = _key_for(table, group)
    return None if key is None else table[key]


def _consume(table: dict[str, Any], key: str) -> Any:
    spec = table[key]
    if spec.remaining is not None:
        spec.remaining -= 1
        if spec.remaining <= 0:
            del table[key]
    return copy.copy(spec)


# --- validation helpers ---


def _number(name: str, value: Any, low: float, high: float) -> float:
    # bool is an int in Python, but `true` as a latency is a mistake worth reporting.
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    return value


def _count(name: str, value: Any) -> int | None:
    return None if value is None else _integer(name, value, 1, 1_000_000)


def _optional_text(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise FaultSpecError(f"{name} must be a string")
    return value


def _check_keys(name: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise FaultSpecError(f"{name}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")


def _per_group_items(name: str, value: Any, is_single_spec: bool) -> list[tuple[str, Any]]:
    """Normalise ``value`` into (group, spec-or-None) pairs; ``[("*", None)]`` means clear all."""
    if value is None:
        return [("*", None)]
    if isinstance(value, Mapping) and not is_single_spec:
        if not all(k in GROUPS for k in value):
            raise FaultSpecError(f"{name}: keys must be among {GROUPS}, got {sorted(value)}")
        return list(value.items())
    if isinstance(value, Mapping):
        spec = dict(value)
        group = spec.pop("group", "all")
        if group not in GROUPS:
            raise FaultSpecError(f"{name}.group must be one of {GROUPS}, got {group!r}")
        return [(group, spec)]
    return [("all", value)]


def _apply_per_group(table: dict[str, Any], name: str, value: Any, parse: Any, single: bool) -> None:
    for group, spec in _per_group_items(name, value, single):
        if group == "*":
            table.clear()
        elif spec is None:
            table.pop(group, None)
        else:
            parsed = parse(f"{name}.{group}", spec)
            if parsed is None:
                table.pop(group, None)
            else:
                table[group] = parsed


def _is_spec(value: Any) -> bool:
    # A dict keyed only by group names is a per-group map; any other key makes it one spec.
    return isinstance(value, Mapping) and any(k not in GROUPS for k in value)


# --- one parser per fault ---


def _parse_latency(name: str, value: Any) -> float | None:
    seconds = _number(name, value, 0, 600)
    return seconds or None


def _parse_error_rate(name: str, value: Any) -> float | None:
    rate = _number(name, value, 0, 1)
    return rate or None


def _parse_forced(name: str, spec: Any) -> Forced:
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"{name} must be an object with at least 'status'")
    _check_keys(name, spec, {"status", "code", "message", "description", "count", "retry_after"})
    if "status" not in spec:
        raise FaultSpecError(f"{name}.status is required")
    status = _integer(f"{name}.status", spec["status"], 200, 599)
    code = spec.get("code")
    code = DEFAULT_CODE_FOR_STATUS.get(status, 1) if code is None else _integer(f"{name}.code", code, 0, 9999)
    retry_after = spec.get("retry_after")
    return Forced(
        status=status,
        code=code,
        message=_optional_text(f"{name}.message", spec.get("message")),
        description=_optional_text(f"{name}.description", spec.get("description")),
        remaining=_count(f"{name}.count", spec.get("count", 1)),
        retry_after=None if retry_after is None else _integer(f"{name}.retry_after", retry_after, 0, 86400),
        explicit_code=spec.get("code") is not None,
    )


def _parse_malformed(name: str, spec: Any) -> Malformed:
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"{name} must be an object")
    _check_keys(name, spec, {"status", "body", "kind", "content_type", "count"})
    status = _integer(f"{name}.status", spec.get("status", 502), 200, 599)
    kind = spec.get("kind", "truncated_json" if status < 300 else "html")
    if kind not in ("html", "truncated_json", "empty"):
        raise FaultSpecError(f"{name}.kind must be html, truncated_json or empty")
    default_body = {"html": PROXY_ERROR_PAGE.format(status=status), "truncated_json": TRUNCATED_JSON}
    default_type = "application/json" if kind == "truncated_json" else "text/html"
    return Malformed(
        status=status,
        body=_optional_text(f"{name}.body", spec.get("body")) or default_body.get(kind, ""),
        content_type=_optional_text(f"{name}.content_type", spec.get("content_type")) or default_type,
        remaining=_count(f"{name}.count", spec.get("count")),
    )


def _after(point: str) -> Any:
    def apply(faults: Faults, value: Any) -> None:
        setattr(faults, point, _parse_after(point, value))

    return apply


def _parse_after(point: str, value: Any) -> AfterCreate | None:
    if value is None or value == "none":
        return None
    spec = {"mode": value} if isinstance(value, str) else value
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"{point} must be a mode string or an object")
    _check_keys(point, spec, {"mode", "seconds", "count"})
    mode = spec.get("mode")
    if mode in (None, "none"):
        return None
    if mode not in AFTER_CREATE_MODES:
        raise FaultSpecError(f"{point}.mode must be one of {AFTER_CREATE_MODES} or none, got {mode!r}")
    return AfterCreate(
        mode=mode,
        seconds=_number(f"{point}.seconds", spec.get("seconds", DEFAULT_HANG_SECONDS), 0, 3600),
        remaining=_count(f"{point}.count", spec.get("count", 1)),
    )


def _accept_no_body(faults: Faults, value: Any) -> None:
    """``true`` (every create until cleared), ``{"count": N}``, or ``false``: answer creates 202, empty."""
    if value is False or value is None:
        if faults.after_create is not None and faults.after_create.mode == "accept_no_body":
            faults.after_create = None
        return
    if value is True:
        value = {"count": None}
    if not isinstance(value, Mapping):
        raise FaultSpecError('accept_no_body must be true, false or {"count": N}')
    _check_keys("accept_no_body", value, {"count"})
    faults.after_create = AfterCreate(
        mode="accept_no_body", remaining=_count("accept_no_body.count", value.get("count"))
    )


def _flag(name: str) -> Any:
    def apply(faults: Faults, value: Any) -> None:
        if not isinstance(value, bool):
            raise FaultSpecError(f"{name} must be true or false, got {value!r}")
        setattr(faults, name, value)

    return apply


def _set_token_lifetime(faults: Faults, value: Any) -> None:
    faults.token_lifetime = _integer("token_lifetime", value, 0, 10 * 365 * 86400)


def _set_lookup_lag(faults: Faults, value: Any) -> None:
    faults.lookup_lag = 0.0 if value is None else _number("lookup_lag", value, 0, 3600)


def _set_retry_after(faults: Faults, value: Any) -> None:
    faults.retry_after = _integer("retry_after", value, 0, 86400)


_APPLIERS: dict[str, Any] = {
    "latency": lambda f, v: _apply_per_group(f.latency, "latency", v, _parse_latency, False),
    "error_rate": lambda f, v: _apply_per_group(f.error_rate, "error_rate", v, _parse_error_rate, False),
    "forced": lambda f, v: _apply_per_group(f.forced, "forced", v, _parse_forced, _is_spec(v)),
    "malformed": lambda f, v: _apply_per_group(f.malformed, "malformed", v, _parse_malformed, _is_spec(v)),
    "after_create": _after("after_create"),
    "after_update": _after("after_update"),
    "accept_no_body": _accept_no_body,
    "conflict_on_duplicate": _flag("conflict_on_duplicate"),
    "token_lifetime": _set_token_lifetime,
    "expires_in_as_string": _flag("expires_in_as_string"),
    "find_ignores_filter": _flag("find_ignores_filter"),
    "find_ignores_offset": _flag("find_ignores_offset"),
    "find_newest_first": _flag("find_newest_first"),
    "lookup_lag": _set_lookup_lag,
    "retry_after": _set_retry_after,
}
