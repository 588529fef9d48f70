"""What an operator asks for: the alarm and the ticket details, parsed and validated.

Pure functions and dataclasses only (no database, no Redis, no HTTP), so the producer, the HTTP
intake to come and the tests share one definition of valid input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from oceane_ticket.statuses import Origin

# The hyperlink's parameter names, in the order DataMiner's hyperlink puts them.
PARAM_NAMES: dict[str, str] = {
    "DMA ID": "dma_id",
    "Element ID": "element_id",
    "Alarm ID": "alarm_id",
    "Element Name": "element_name",
    "Alarm Value": "alarm_value",
    "Root Time": "root_time",
}

# A boundary is ";" followed by a known name and "=". Anything else (";" or "=" inside an element
# name or alarm value, unknown names) stays part of the value it appears in.
_BOUNDARY = re.compile(";(?=(" + "|".join(re.escape(n) for n in PARAM_NAMES) + ")=)")

MAX_ELEMENT_NAME = 500
MAX_ALARM_VALUE = 2000
MAX_USER = 255
MAX_ID = 2**31 - 1
# Who may ask for a ticket; the first is the default.
ORIGINS = tuple(origin.value for origin in Origin)


def external_id(dma_id: object, element_id: object, alarm_id: object) -> str:
    """The alarm tree id ``DMA/Element/RootKey``: Oceane's ``externalId``, one alarm, one ticket.

    Also how every table, message and the debug page name an alarm, so an operator can search
    Oceane for what the command line shows.
    """
    return f"{dma_id}/{element_id}/{alarm_id}"


class InputError(ValueError):
    """Invalid operator input; ``field`` names the offending field for the message and the JSON."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Alarm:
    """The DataMiner alarm a ticket is for."""

    dma_id: int
    element_id: int
    alarm_id: int
    element_name: str
    alarm_value: str | None = None
    root_time: datetime | None = None

    @property
    def external_id(self) -> str:
        """Oceane's ``externalId`` for this alarm (see :func:`external_id`)."""
        return external_id(self.dma_id, self.element_id, self.alarm_id)


@dataclass(frozen=True, slots=True)
class TicketDetails:
    """What the operator filled in on the form."""

    priority: str
    urgency: str
    technical_impact: str
    client_impact: str | None = None
    description: str | None = None
    user: str | None = None
    # Who asked: an operator (the default) or a Correlation rule (held by the rule cap).
    origin: str = "operator"


@dataclass(frozen=True, slots=True)
class AllowedValues:
    """The allowed values of each form field (settings, defaults from docs/oceane-api.md §3)."""

    priorities: Sequence[str]
    urgencies: Sequence[str]
    technical_impacts: Sequence[str]
    client_impacts: Sequence[str]
    description_max_length: int = 4000


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A validated request as it crosses the database boundary.

    What the producer records, and what the Oceane payload is built from; field names are the
    ``tickets`` column names.

    The row's bookkeeping (status, attempts, timestamps of the worker) is not the request's: the
    storage layer sets it for a new row, and the worker reads it from the model.
    """

    instance: str
    dma_id: int
    element_id: int
    alarm_id: int
    element_name: str
    alarm_value: str | None
    root_time: datetime | None
    priority: str
    urgency: str
    technical_impact: str
    client_impact: str | None
    # The description sent to Oceane: the operator's text, or a generated summary of the alarm.
    root_cause: str
    user: str | None
    oceane_user_id: str
    created_at: datetime
    # "operator" or "rule" (statuses.Origin); last, with a default, so older callers still build one.
    origin: str = "operator"

    @classmethod
    def new(
        cls, instance: str, alarm: Alarm, details: TicketDetails, *, oceane_user_id: str, now: datetime
    ) -> RequestRecord:
        """The request for a validated alarm and form (an empty description becomes a summary)."""
        return cls(
            instance=instance,
            dma_id=alarm.dma_id,
            element_id=alarm.element_id,
            alarm_id=alarm.alarm_id,
            element_name=alarm.element_name,
            alarm_value=alarm.alarm_value,
            root_time=alarm.root_time,
            priority=details.priority,
            urgency=details.urgency,
            technical_impact=details.technical_impact,
            client_impact=details.client_impact,
            root_cause=details.description or summary(alarm),
            user=details.user,
            oceane_user_id=oceane_user_id,
            created_at=now,
            origin=details.origin,
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | object) -> RequestRecord:
        """The request a ``tickets`` row records (a dict, or a model with the column attributes)."""
        if isinstance(row, Mapping):
            return cls(**{f.name: row[f.name] for f in fields(cls)})
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    @property
    def external_id(self) -> str:
        """Oceane's ``externalId`` for the alarm (see :func:`external_id`)."""
        return external_id(self.dma_id, self.element_id, self.alarm_id)


def column_names(record: type[RequestRecord]) -> tuple[str, ...]:
    """The ``tickets`` columns a record type carries, in field order."""
    return tuple(f.name for f in fields(record))


def parse_alarm_params(text: str) -> dict[str, str]:
    """Split the hyperlink's ``DMA ID=..;Element ID=..;...`` string into raw values.

    Robust to ``;`` and ``=`` inside the element name and alarm value: only ``;`` followed by a
    known parameter name and ``=`` separates parameters. If a name repeats, the later occurrence
    is taken to be text inside the earlier value (free text can quote a parameter name; the
    hyperlink itself never repeats one).

    Raises:
        InputError: the string does not start with a known parameter.
    """
    text = text.strip()
    if not text:
        raise InputError("alarm", "is empty; expected 'DMA ID=..;Element ID=..;Alarm ID=..;Element Name=..'")
    first = next((n for n in PARAM_NAMES if text.startswith(n + "=")), None)
    if first is None:
        raise InputError(
            "alarm",
            "must start with one of " + ", ".join(f"'{n}='" for n in PARAM_NAMES),
        )
    values: dict[str, str] = {}
    last: str | None = None
    pieces = _BOUNDARY.split(text)
    # re.split with one group yields [head, name, rest, name, rest, ...]; the head holds the first pair.
    segments = [(first, pieces[0][len(first) + 1 :])]
    segments += [(pieces[i], pieces[i + 1][len(pieces[i]) + 1 :]) for i in range(1, len(pieces), 2)]
    for name, value in segments:
        if name in values and last is not None:
            values[last] += f";{name}={value}"
            continue
        values[name] = value
        last = name
    return {PARAM_NAMES[k]: v for k, v in values.items()}


def clean_text(field: str, value: str | None, *, max_len: int, multiline: bool = False) -> str | None:
    """``value`` stripped, or None when empty; raises :class:`InputError` on control characters or length."""
    if value is None:
        return None
    if "\x00" in value:
        raise InputError(field, "must not contain NUL characters")
    if any(unicodedata.category(c) == "Cs" for c in value):  # unpaired surrogates: no database can store them
        raise InputError(field, "must be valid Unicode text (it contains unpaired surrogates)")
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise InputError(
            field, "must not contain control characters" + (" (except newlines and tabs)" if multiline else "")
        )
    value = value.strip()
    if len(value) > max_len:
        raise InputError(field, f"is {len(value)} characters long; at most {max_len} are allowed")
    return value or None


def _parse_id(field: str, value: Any) -> int:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise InputError(field, "is required (a whole number)")
    if not text.isascii() or not text.isdigit():
        raise InputError(field, f"must be a whole number from 0 to {MAX_ID}, got {text[:40]!r}")
    number = int(text)
    if number > MAX_ID:
        raise InputError(field, f"must be a whole number from 0 to {MAX_ID}, got {text[:40]!r}")
    return number


def parse_root_time(value: str | None) -> datetime | None:
    """Parse DataMiner's ``yyyy-MM-ddTHH:mm:ssZ`` (any ISO 8601 with an offset is accepted); UTC out."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError("root_time", f"must look like 2026-11-27T08:12:00Z, got {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise InputError("root_time", f"needs a time zone (Z or +hh:mm), got {text[:40]!r}")
    return moment.astimezone(UTC)


def build_alarm(raw: Mapping[str, Any]) -> Alarm:
    """Validate raw alarm fields (from the parameter string, flags or JSON) into an :class:`Alarm`."""
    name = clean_text("element_name", _opt_str(raw.get("element_name")), max_len=MAX_ELEMENT_NAME)
    if not name:
        raise InputError("element_name", "is required")
    return Alarm(
        dma_id=_parse_id("dma_id", raw.get("dma_id")),
        element_id=_parse_id("element_id", raw.get("element_id")),
        alarm_id=_parse_id("alarm_id", raw.get("alarm_id")),
        element_name=name,
        alarm_value=clean_text("alarm_value", _opt_str(raw.get("alarm_value")), max_len=MAX_ALARM_VALUE),
        root_time=parse_root_time(_opt_str(raw.get("root_time"))),
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def choose(field: str, value: str | None, allowed: Sequence[str], *, required: bool) -> str | None:
    """One of ``allowed`` (matched case-insensitively, returned as configured), or None when empty and optional."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InputError(field, "is required; allowed: " + ", ".join(allowed))
        return None
    for option in allowed:  # case-insensitive, stored in the configured spelling
        if option.casefold() == text.casefold():
            return option
    raise InputError(field, f"{text[:40]!r} is not allowed; allowed: " + ", ".join(allowed))


def build_details(raw: Mapping[str, Any], allowed: AllowedValues) -> TicketDetails:
    """Validate the form's fields against the configured allowed values."""
    priority = choose("priority", _opt_str(raw.get("priority")), allowed.priorities, required=True)
    urgency = choose("urgency", _opt_str(raw.get("urgency")), allowed.urgencies, required=True)
    impact = choose("technical_impact", _opt_str(raw.get("technical_impact")), allowed.technical_impacts, required=True)
    assert priority and urgency and impact  # required=True guarantees it; narrows for mypy
    return TicketDetails(
        priority=priority,
        urgency=urgency,
        technical_impact=impact,
        client_impact=choose(
            "client_impact", _opt_str(raw.get("client_impact")), allowed.client_impacts, required=False
        ),
        description=clean_text(
            "description",
            _opt_str(raw.get("description")),
            max_len=allowed.description_max_length,
            multiline=True,
        ),
        user=clean_text("user", _opt_str(raw.get("user")), max_len=MAX_USER),
        origin=choose("origin", _opt_str(raw.get("origin")), ORIGINS, required=False) or ORIGINS[0],
    )


def summary(alarm: Alarm) -> str:
    """The ticket description when the operator left it empty: a one-line summary of the alarm."""
    parts = [f"DataMiner alarm {alarm.external_id} on {alarm.element_name}"]
    if alarm.alarm_value:
        parts.append(f"value: {alarm.alarm_value}")
    if alarm.root_time:
        parts.append(f"since {alarm.root_time:%Y-%m-%dT%H:%M:%SZ}")
    return "; ".join(parts)


def alarm_dict(alarm: Alarm) -> dict[str, Any]:
    """The alarm as JSON-ready fields (root time in DataMiner's format)."""
    data = asdict(alarm)
    data["root_time"] = format_time(alarm.root_time)
    return data


def format_time(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with ``Z``, the format DataMiner and Oceane both use."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
