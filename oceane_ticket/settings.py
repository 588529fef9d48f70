"""Every setting of the service, read from ``OCEANE_*`` environment variables and a ``.env`` file.

The connector's element settings (storage limits, retry count, debug page) and API settings
(client id, secret, user id) map one to one onto the fields below. The embedded defaults point at
the sandbox on loopback and a SQLite file, so ``make run`` works on a machine with only Python.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from oceane_ticket import keys

DEFAULT_IMPACTS = ("Critical", "Major", "Minor", "None")
DEFAULT_PRIORITIES = ("1", "2", "3", "4")

ValueList = Annotated[tuple[str, ...], NoDecode]


def _split_list(value: Any) -> Any:
    """Accept ``a,b,c`` or a JSON array for the allowed-value lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            value = [part for part in (p.strip() for p in text.split(",")) if part]
    if isinstance(value, list | tuple):
        cleaned = tuple(str(v).strip() for v in value if str(v).strip())
        if not cleaned:
            raise ValueError("must list at least one value")
        return cleaned
    return value


class Settings(BaseSettings):
    """The service's configuration; field ``foo`` is the environment variable ``OCEANE_FOO``."""

    model_config = SettingsConfigDict(
        env_prefix="OCEANE_", env_file=".env", extra="ignore", frozen=True, validate_default=True
    )

    # --- API settings (the connector's "API Settings" page) ---
    base_url: str = "http://127.0.0.1:8090"
    token_url: str = ""  # empty: {base_url}/oauth/v3/token
    ticket_path: str = "/troubleTicket"  # assumed in the contract (§3), so configurable
    client_id: str = "sandbox-client"
    client_secret: SecretStr = SecretStr("sandbox-secret")
    user_id: str = "sandbox-user"
    # DataMiner user -> Oceane User ID, JSON object or "alice=U1,bob=U2"; unknown users fall back to user_id.
    user_map: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    ticket_url_template: str = "http://127.0.0.1:8090/ticket/{id}"
    token_scope: str = ""
    http_timeout: float = Field(default=10.0, gt=0, le=300)

    # --- Element settings ---
    retry_count: int = Field(default=1, ge=0, le=20)
    ticket_retention_days: int = Field(default=90, ge=1)
    ticket_max_count: int = Field(default=1000, ge=1)
    debug_page: bool = False

    # --- Allowed values of the form (oceane-api.md §3, assumed defaults) ---
    priorities: ValueList = DEFAULT_PRIORITIES
    urgencies: ValueList = DEFAULT_IMPACTS
    technical_impacts: ValueList = DEFAULT_IMPACTS
    client_impacts: ValueList = DEFAULT_IMPACTS
    description_max_length: int = Field(default=4000, ge=1, le=100_000)

    # --- Plumbing ---
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = ""  # empty: default_database_url(), a per-user file
    queue: str = keys.DEFAULT_QUEUE

    # --- Reliability knobs (see worker/celery_app.py for why each is what it is) ---
    lock_timeout: float = Field(default=120.0, gt=0)
    retry_backoff_max: float = Field(default=300.0, gt=0)
    retry_after_max: float = Field(default=900.0, gt=0)
    stale_after: float = Field(default=180.0, gt=0)
    sweep_interval: float = Field(default=60.0, gt=0)
    cleanup_interval: float = Field(default=3600.0, gt=0)
    # "global": the connector's one ticket in flight against Oceane at a time, across all workers.
    # "alarm": one at a time per alarm (keys.alarm_lock), so N worker processes call Oceane in
    # parallel; exactly-once per alarm still holds. Opt-in: Oceane's tolerance of parallel creates
    # from one client is not in the contract.
    lock_scope: Literal["global", "alarm"] = "global"

    # --- Writing the ticket back onto the DataMiner alarm (issue 8 §2) and Oceane's status (§5) ---
    # none: the calling script reads the answer and sets the alarm properties itself.
    alarm_writer: Literal["none", "udapi", "webservices"] = "none"
    dataminer_url: str = ""  # https://<dma>; required unless alarm_writer is none
    dataminer_token: SecretStr = SecretStr("")  # udapi: the User-Defined API's bearer token
    dataminer_udapi_route: str = "oceane/alarm-properties"
    dataminer_user: str = ""  # webservices: ConnectApp login
    dataminer_password: SecretStr = SecretStr("")
    dataminer_property_script: str = "Oceane Set Alarm Properties"
    # The write-back's own budget: retries after the first attempt, and the cap of its backoff
    # (at most half an hour: a countdown stays under the broker's visibility timeout, worker/celery_app.py).
    writeback_retry_count: int = Field(default=5, ge=0, le=100)
    writeback_backoff_max: float = Field(default=300.0, gt=0, le=1800)
    # The status poll: at most this many tickets per run (0 turns it off), every this many seconds.
    status_poll_batch: int = Field(default=20, ge=0, le=1000)
    status_poll_interval: float = Field(default=300.0, gt=0)
    # --- HTTP intake (`oceane-ticket serve`) and per-user Oceane User IDs ---
    # Bearer token of every intake route but /health; required to listen beyond loopback. Empty: none.
    intake_token: SecretStr = SecretStr("")
    # True: a DataMiner user without an `oceane-ticket users` mapping is refused instead of getting user_id.
    require_user_mapping: bool = False

    @field_validator("priorities", "urgencies", "technical_impacts", "client_impacts", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("user_map", mode="before")
    @classmethod
    def _user_map(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return {}
            if text.startswith("{"):
                return json.loads(text)
            pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError("expected JSON or name=oceane_user_id pairs separated by commas")
            return {k.strip(): v.strip() for k, v in pairs}
        return value

    @field_validator("base_url", "token_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("ticket_url_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{id}" not in value:
            raise ValueError("must contain the placeholder {id}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.strip():  # empty: the per-user default file
            return default_database_url()
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        # One lock holder runs at most: token fetch, lookup, create, token refresh, create again,
        # each bounded by the HTTP timeout on connect and on read. The lock must outlive that, or
        # a second worker could start on the queue while the first is still talking to Oceane.
        worst_call = 5 * 2 * self.http_timeout
        if self.lock_timeout <= worst_call:
            raise ValueError(
                f"OCEANE_LOCK_TIMEOUT ({self.lock_timeout:g}s) must exceed the worst-case processing "
                f"time, 10 x OCEANE_HTTP_TIMEOUT = {worst_call:g}s"
            )
        return self

    @field_validator("dataminer_url")
    @classmethod
    def _dataminer_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _alarm_writer_configured(self) -> Settings:
        # A writer without its address or credentials would fail every write-back at run time;
        # say so at start-up instead, naming the variable.
        needed: dict[str, str | SecretStr] = {}
        if self.alarm_writer != "none":
            needed["OCEANE_DATAMINER_URL"] = self.dataminer_url
        if self.alarm_writer == "udapi":
            needed["OCEANE_DATAMINER_TOKEN"] = self.dataminer_token
        if self.alarm_writer == "webservices":
            needed["OCEANE_DATAMINER_USER"] = self.dataminer_user
            needed["OCEANE_DATAMINER_PASSWORD"] = self.dataminer_password
        for name, value in needed.items():
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text.strip():
                raise ValueError(f"{name} is required when OCEANE_ALARM_WRITER is {self.alarm_writer}")
        return self

    def __repr_args__(self) -> Any:
        # URLs may carry a password (redis://:pw@host, postgresql://u:pw@host): mask it in repr.
        for name, value in super().__repr_args__():
            yield name, (mask_url(value) if name in ("redis_url", "database_url") else value)

    def as_env(self) -> dict[str, str]:
        """``OCEANE_*`` variables that reproduce these settings in a child process (secret included)."""
        env = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, dict):
                value = json.dumps(value)
            env[f"OCEANE_{name.upper()}"] = str(value)
        return env

    @property
    def effective_token_url(self) -> str:
        """The token endpoint: ``OCEANE_TOKEN_URL`` or ``{base_url}/oauth/v3/token``."""
        return self.token_url or f"{self.base_url}/oauth/v3/token"

    @property
    def ticket_endpoint(self) -> str:
        """The trouble-ticket collection URL."""
        return f"{self.base_url}/{self.ticket_path.strip('/')}"

    def ticket_url(self, ticket_id: str) -> str:
        """The Oceane web link for a ticket id, written back onto the alarm."""
        return self.ticket_url_template.replace("{id}", ticket_id)


def default_database_url() -> str:
    """A SQLite file in the per-user data directory, so every command finds it wherever it runs from.

    ``$XDG_DATA_HOME/oceane-ticket/oceane-tickets.db``, by default
    ``~/.local/share/oceane-ticket/oceane-tickets.db`` (the XDG base directory convention). A path
    relative to the current directory would give each directory its own empty database.
    """
    import os
    from pathlib import Path

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base).absolute() / 'oceane-ticket' / 'oceane-tickets.db'}"


def mask_url(url: Any) -> Any:
    """``scheme://user:***@host/...``: a URL safe to print or log."""
    if not isinstance(url, str):
        return url
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


class SettingsError(Exception):
    """A setting is invalid; the message names the environment variable and what is allowed."""


def describe_validation_error(exc: ValidationError, prefix: str = "OCEANE_") -> str:
    """Turn pydantic's error into lines naming each environment variable."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
        name = prefix + loc[0].upper() if loc else "settings"
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        lines.append(f"invalid setting {name}: {msg}")
    return "\n".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, raising :class:`SettingsError` with a readable message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except (json.JSONDecodeError, ValueError) as exc:  # a JSON list or map that does not parse
        raise SettingsError(f"invalid setting: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
