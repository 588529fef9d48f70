"""Every setting of the service, read from ``OCEANE_*`` environment variables and a ``.env`` file.

The connector's element settings (storage limits, retry count, debug page) and API settings
(client id, secret, user id) map one to one onto the fields below. The embedded defaults point at
the sandbox on loopback and a SQLite file, so ``make run`` works on a machine with only Python.

Each setting is declared once, as a field of :class:`Settings`: its type says how a value is read
(text, number, boolean, secret, list, map or one of a ``Literal``'s choices), its default is the
field's default, and :func:`setting` adds its bounds and any check of its own. The reader is the
standard library only: the producer's ``create`` is a short-lived process, and a validation
framework cost it a third of its start-up (README, Performance: rows 1 and 8); the reader is in
:mod:`oceane_ticket.setting_types`.
"""

# No ``from __future__ import annotations``: the field types are read at run time to parse values.

import json
import os
import re
from collections.abc import Iterable
from dataclasses import Field, dataclass, fields
from functools import lru_cache
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from oceane_ticket import keys
from oceane_ticket.setting_types import Check, Secret, default_of, env_name, parser, read_environment, setting

DEFAULT_IMPACTS = ("Critical", "Major", "Minor", "None")
DEFAULT_PRIORITIES = ("1", "2", "3", "4")


class SettingsError(ValueError):
    """A setting is invalid; the message names the environment variable and what is allowed."""


# --- checks of single settings ---


def _http_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


def _template(value: str) -> str:
    if "{id}" not in value:
        raise ValueError("must contain the placeholder {id}")
    return value


def _database_url(value: str) -> str:
    if not value.strip():  # empty: the per-user default file
        return default_database_url()
    from oceane_ticket.storage import urls

    return urls.normalised(value)


def _redis_url(value: str) -> str:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def _sentinels(value: str) -> str:
    # "host:port,host:port": checked here so that a typo fails at start-up, naming the variable.
    sentinel_addresses(value)
    return value.strip()


def sentinel_addresses(text: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` as pairs; ValueError naming the bad entry. Empty text: no Sentinels."""
    found = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"entry {entry!r} must be host:port (several separated by commas)")
        found.append((host.strip("[]"), int(port)))
    return found


@dataclass(frozen=True, init=False, repr=False)
class Settings:
    """The service's configuration; field ``foo`` is the environment variable ``OCEANE_FOO``.

    ``Settings(**values)`` takes values as the environment gives them (text) or typed, parses and
    checks every one, defaults the rest, and raises :class:`SettingsError` naming each bad variable.
    It reads no environment: :func:`load_settings` does. Instances are frozen; :meth:`replace`
    makes a changed copy.
    """

    # --- API settings (the connector's "API Settings" page) ---
    base_url: str = setting("http://127.0.0.1:8090", check=_http_url)
    token_url: str = setting("", check=_http_url)  # empty: {base_url}/oauth/v3/token
    ticket_path: str = setting("/troubleTicket")  # assumed in the contract (§3), so configurable
    client_id: str = setting("sandbox-client")
    client_secret: Secret = setting(Secret("sandbox-secret"))
    user_id: str = setting("sandbox-user")
    # DataMiner user -> Oceane User ID, JSON object or "alice=U1,bob=U2"; unknown users fall back to user_id.
    user_map: dict[str, str] = setting({})
    ticket_url_template: str = setting("http://127.0.0.1:8090/ticket/{id}", check=_template)
    token_scope: str = setting("")
    http_timeout: float = setting(10.0, gt=0, le=300)

    # --- Element settings ---
    retry_count: int = setting(1, ge=0, le=20)
    ticket_retention_days: int = setting(90, ge=1)
    ticket_max_count: int = setting(1000, ge=1)
    debug_page: bool = setting(False)

    # --- Allowed values of the form (docs/oceane-api.md §3, assumed defaults): "a,b,c" or a JSON array ---
    priorities: tuple[str, ...] = setting(DEFAULT_PRIORITIES)
    urgencies: tuple[str, ...] = setting(DEFAULT_IMPACTS)
    technical_impacts: tuple[str, ...] = setting(DEFAULT_IMPACTS)
    client_impacts: tuple[str, ...] = setting(DEFAULT_IMPACTS)
    description_max_length: int = setting(4000, ge=1, le=100_000)

    # --- Plumbing: Redis and the database (oceane_ticket/connections.py makes every connection) ---
    redis_url: str = setting("redis://127.0.0.1:6379/0", check=_redis_url)
    # Redis under Sentinel: "host:port,host:port,..." of the Sentinels and the monitored master's
    # name. When set, every client asks the Sentinels for the master (and again after a failover);
    # OCEANE_REDIS_URL then gives only the database number and the password.
    redis_sentinels: str = setting("", check=_sentinels)
    redis_sentinel_master: str = setting("")
    redis_sentinel_password: Secret = setting(Secret(""))  # the Sentinels' own requirepass, if any
    # libpq URLs, also the multi-host form (?host=a:5432&host=b:5432&target_session_attrs=read-write).
    database_url: str = setting("", check=_database_url)  # empty: default_database_url(), a per-user file
    queue: str = setting(keys.DEFAULT_QUEUE)

    # --- Reliability knobs (see worker/celery_app.py for why each is what it is) ---
    lock_timeout: float = setting(120.0, gt=0)
    retry_backoff_max: float = setting(300.0, gt=0)
    retry_after_max: float = setting(900.0, gt=0)
    stale_after: float = setting(180.0, gt=0)
    sweep_interval: float = setting(60.0, gt=0)
    cleanup_interval: float = setting(3600.0, gt=0)
    # "global": the connector's one ticket in flight against Oceane at a time, across all workers.
    # "alarm": one at a time per alarm (keys.alarm_lock), so N worker processes call Oceane in
    # parallel; exactly-once per alarm still holds. Opt-in: Oceane's tolerance of parallel creates
    # from one client is not in the contract.
    lock_scope: Literal["global", "alarm"] = setting("global")

    # --- Writing the ticket back onto the DataMiner alarm (docs/oceane-api.md §5) and Oceane's status poll ---
    # none: the calling script reads the answer and sets the alarm properties itself.
    alarm_writer: Literal["none", "udapi", "webservices"] = setting("none")
    dataminer_url: str = setting("", check=_http_url)  # https://<dma>; required unless alarm_writer is none
    dataminer_token: Secret = setting(Secret(""))  # udapi: the User-Defined API's bearer token
    dataminer_udapi_route: str = setting("oceane/alarm-properties")
    dataminer_user: str = setting("")  # webservices: ConnectApp login
    dataminer_password: Secret = setting(Secret(""))
    dataminer_property_script: str = setting("Oceane Set Alarm Properties")
    # The write-back's own budget: retries after the first attempt, and the cap of its backoff
    # (at most half an hour: a countdown stays under the broker's visibility timeout, worker/celery_app.py).
    writeback_retry_count: int = setting(5, ge=0, le=100)
    writeback_backoff_max: float = setting(300.0, gt=0, le=1800)
    # The status poll: at most this many tickets per run (0 turns it off), every this many seconds.
    status_poll_batch: int = setting(20, ge=0, le=1000)
    status_poll_interval: float = setting(300.0, gt=0)
    # Beat asks DataMiner (Web Services, the webservices writer's account) every this many seconds which
    # open tickets' alarms are still active; one gone becomes a cleared event (oceane_ticket/reconcile.py).
    # 0: off. Off as well under OCEANE_ALARM_WRITER=none or udapi, which have no way to ask.
    reconcile_interval: float = setting(900.0, ge=0)
    # --- HTTP intake (`oceane-ticket serve`) and per-user Oceane User IDs ---
    # Bearer token of every intake route but /health; required to listen beyond loopback. Empty: none.
    intake_token: Secret = setting(Secret(""))
    # True: a DataMiner user without an `oceane-ticket users` mapping is refused instead of getting user_id.
    require_user_mapping: bool = setting(False)
    # --- the ticket's life after the click: alarm events, the hub listener, the rule cap ---
    # What an alarm's clear does to its ticket: nothing (the connector's behaviour), a note, or resolve it.
    on_alarm_cleared: Literal["none", "note", "resolve"] = setting("none")
    # What an alarm's change (severity, value) does: nothing, or a note.
    on_alarm_updated: Literal["none", "note"] = setting("none")
    # Tickets created by Correlation rules per minute (0: no cap); operator clicks never wait behind it.
    # Requests of origin "rule" beyond it wait in the database, held, until beat's release sends them
    # (worker/release.py, storage/holds.py): a sliding 60 s, global across workers.
    auto_tickets_per_minute: int = setting(0, ge=0, le=100_000)
    # Register a listener at Oceane's hub (TMF621 notifications), where Oceane offers one.
    hub_enabled: bool = setting(False)
    # The intake's public URL as Oceane reaches it (https://host:port); the listener path is added to it.
    hub_callback_base: str = setting("", check=_http_url)
    # The secret path segment of the callback URL that proves a listener call comes from our registration.
    hub_callback_secret: Secret = setting(Secret(""))

    # --- Oceane API dialect (oceane_ticket/oceane/dialects; docs/oceane-api.md "Dialects") ---
    # oceane: our contract (assumed); tmf621-v4 / tmf621-v5: TM Forum's TMF621 as published. With a
    # TMF dialect, OCEANE_BASE_URL is the API's base path (https://host/tmf-api/troubleTicket/v4).
    api_dialect: Literal["oceane", "tmf621-v4", "tmf621-v5"] = setting("oceane")
    # The form's priority -> what the server expects: "1=Critical,2=High,3=Medium,4=Low" or a JSON
    # object; a value without an entry is sent as typed.
    priority_map: dict[str, str] = setting({})

    # Names given rather than defaulted (not a setting: set by __init__, see is_set).
    _set: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - _FIELD_NAMES)
        if unknown:
            raise TypeError(f"Settings got unknown setting(s): {', '.join(unknown)}")
        errors: list[str] = []
        for f in fields(self):
            raw = values[f.name] if f.name in values else default_of(f)
            try:
                object.__setattr__(self, f.name, _PARSERS[f.name](raw))
            except (TypeError, ValueError) as exc:
                errors.append(f"invalid setting {env_name(f.name)}: {exc}")
        if errors:
            raise SettingsError("\n".join(errors))
        errors = [f"invalid setting {name}: {message}" for name, message in self._inconsistencies()]
        if errors:
            raise SettingsError("\n".join(errors))
        object.__setattr__(self, "_set", frozenset(values))

    def _inconsistencies(self) -> Iterable[tuple[str, str]]:
        # One lock holder runs at most: token fetch, lookup, create, token refresh, create again,
        # each bounded by the HTTP timeout on connect and on read. The lock must outlive that, or
        # a second worker could start on the queue while the first is still talking to Oceane.
        worst_call = 5 * 2 * self.http_timeout
        if self.lock_timeout <= worst_call:
            yield (
                "OCEANE_LOCK_TIMEOUT",
                f"{self.lock_timeout:g}s must exceed the worst-case processing time, "
                f"10 x OCEANE_HTTP_TIMEOUT = {worst_call:g}s",
            )
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master.strip()):
            yield (
                "OCEANE_REDIS_SENTINEL_MASTER" if self.redis_sentinels else "OCEANE_REDIS_SENTINELS",
                "OCEANE_REDIS_SENTINELS and OCEANE_REDIS_SENTINEL_MASTER go together: set both or neither",
            )
        # A writer without its address or credentials would fail every write-back at run time;
        # say so at start-up instead, naming the variable.
        needed: dict[str, str | Secret] = {}
        if self.alarm_writer != "none":
            needed["OCEANE_DATAMINER_URL"] = self.dataminer_url
        if self.alarm_writer == "udapi":
            needed["OCEANE_DATAMINER_TOKEN"] = self.dataminer_token
        if self.alarm_writer == "webservices":
            needed["OCEANE_DATAMINER_USER"] = self.dataminer_user
            needed["OCEANE_DATAMINER_PASSWORD"] = self.dataminer_password
        for name, value in needed.items():
            text = value.get_secret_value() if isinstance(value, Secret) else value
            if not text.strip():
                yield name, f"required when OCEANE_ALARM_WRITER is {self.alarm_writer}"
        # A mapped priority the form can never send is a typo that would silently send the raw value.
        unknown = sorted(set(self.priority_map) - set(self.priorities))
        if unknown:
            yield (
                "OCEANE_PRIORITY_MAP",
                f"{', '.join(unknown)} not among OCEANE_PRIORITIES ({', '.join(self.priorities)})",
            )

    def __repr__(self) -> str:
        # Secrets show as stars; URLs may carry a password (redis://:pw@host, postgresql://u:pw@host).
        shown = ", ".join(f"{f.name}={mask_url(getattr(self, f.name))!r}" for f in fields(self))
        return f"{type(self).__name__}({shown})"

    __str__ = __repr__

    def is_set(self, name: str) -> bool:
        """Whether setting ``name`` was given (environment, ``.env`` or caller) rather than defaulted."""
        return name in self._set

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied, parsed and checked like any value."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        copy = type(self)(**(values | changes))
        object.__setattr__(copy, "_set", self._set | frozenset(changes))
        return copy

    def as_dict(self) -> dict[str, Any]:
        """Every setting by field name (secrets stay :class:`Secret`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def as_env(self) -> dict[str, str]:
        """``OCEANE_*`` variables that reproduce these settings in a child process (secret included)."""
        env = {}
        for name, value in self.as_dict().items():
            if isinstance(value, Secret):
                value = value.get_secret_value()
            elif isinstance(value, tuple | dict):
                value = json.dumps(list(value) if isinstance(value, tuple) else value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            env[env_name(name)] = str(value)
        return env

    @property
    def effective_token_url(self) -> str:
        """The token endpoint: ``OCEANE_TOKEN_URL``, else ``{base_url}/oauth/v3/token``.

        Under a TMF base path (``.../tmf-api/...``) the default is the origin's ``/oauth/v3/token``
        instead: a TMF API's base path holds its resources only; the token is the platform's.
        """
        if self.token_url:
            return self.token_url
        parts = urlsplit(self.base_url)
        if "/tmf-api/" in f"{parts.path}/":
            return urlunsplit((parts.scheme, parts.netloc, "/oauth/v3/token", "", ""))
        return f"{self.base_url}/oauth/v3/token"

    @property
    def ticket_endpoint(self) -> str:
        """The trouble-ticket collection URL."""
        return f"{self.base_url}/{self.ticket_path.strip('/')}"

    def ticket_url(self, ticket_id: str) -> str:
        """The Oceane web link for a ticket id, written back onto the alarm."""
        return self.ticket_url_template.replace("{id}", ticket_id)

    @classmethod
    def default(cls, name: str) -> Any:
        """The declared default of setting ``name`` (before any check: ``database_url`` is ``""``)."""
        return default_of(_FIELDS[name])


_FIELDS: dict[str, Field[Any]] = {f.name: f for f in fields(Settings)}
_FIELD_NAMES = frozenset(_FIELDS)
_PARSERS: dict[str, Check] = {name: parser(f, f.type) for name, f in _FIELDS.items()}


def default_database_url() -> str:
    """A SQLite file in the per-user data directory, so every command finds it wherever it runs from.

    ``$XDG_DATA_HOME/oceane-ticket/oceane-tickets.db``, by default
    ``~/.local/share/oceane-ticket/oceane-tickets.db`` (the XDG base directory convention). A path
    relative to the current directory would give each directory its own empty database.
    """
    from pathlib import Path

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base).absolute() / 'oceane-ticket' / 'oceane-tickets.db'}"


def mask_url(url: Any) -> Any:
    """``scheme://user:***@host/...``: a URL safe to print or log."""
    if not isinstance(url, str):
        return url
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``.env``, ``overrides`` winning; :class:`SettingsError` if invalid."""
    return Settings(**(read_environment(_FIELD_NAMES) | overrides))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
