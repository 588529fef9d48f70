"""Per-user Oceane User IDs: the ``oceane_users`` table the producer reads, and ``oceane-ticket users``.

The connector sent each DataMiner user's own Oceane User ID as the ticket's ``relatedParty``. The
mapping lives in the database, the one source of truth at run time: ``users set`` takes effect on
the next request, in every producer and intake process, without a restart. User names compare
case-insensitively (``CORP/Alice`` is ``corp/alice``), so they are stored lower-cased.

A request's user resolves to its mapped ID; an unmapped (or absent) user gets ``OCEANE_USER_ID``,
or is refused (:class:`InputError` naming ``user``) when ``OCEANE_REQUIRE_USER_MAPPING`` is true.
``OCEANE_USER_MAP`` is deprecated: ``db upgrade`` and ``users import-env`` copy its pairs into the
table once, never over a mapping already there. The command (``oceane-ticket users``) is :mod:`cli.users`.

Plain SQL through :mod:`oceane_ticket.storage.direct`, like the rest of the producer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from oceane_ticket.request import MAX_USER, InputError, clean_text
from oceane_ticket.settings import Settings
from oceane_ticket.storage import direct

MAX_OCEANE_ID = 255  # oceane_users.oceane_user_id and tickets.oceane_user_id are VARCHAR(255)


def user_key(name: str | None, field: str = "user") -> str | None:
    """The stored form of a DataMiner user name (trimmed, lower-cased); None when empty.

    Raises:
        InputError: control characters or longer than 255 characters.
    """
    cleaned = clean_text(field, name, max_len=MAX_USER)
    return cleaned.lower() if cleaned else None


def check_oceane_id(value: str | None) -> str:
    """A valid Oceane User ID (trimmed), or :class:`InputError` naming ``oceane_user_id``."""
    cleaned = clean_text("oceane_user_id", value, max_len=MAX_OCEANE_ID)
    if not cleaned:
        raise InputError("oceane_user_id", "is required")
    return cleaned


def resolve(conn: direct.Connection, settings: Settings, user: str | None) -> str:
    """The Oceane User ID to send for a DataMiner user (the ``relatedParty``).

    Raises:
        InputError: the user is unmapped (or absent) and ``OCEANE_REQUIRE_USER_MAPPING`` is true.
    """
    key = user_key(user)
    if key is not None:
        mapped = direct.get_user(conn, key)
        if mapped is not None:
            return mapped
        if settings.require_user_mapping:
            raise InputError(
                "user",
                f"{key[:60]!r} has no Oceane User ID (OCEANE_REQUIRE_USER_MAPPING is true); "
                "an administrator maps it with `oceane-ticket users set NAME OCEANE_ID`",
            )
    elif settings.require_user_mapping:
        raise InputError("user", "is required: every ticket needs a mapped user (OCEANE_REQUIRE_USER_MAPPING)")
    return settings.user_id


def set_user(settings: Settings, name: str, oceane_id: str) -> str:
    """Map a DataMiner user to an Oceane User ID (replacing any mapping); returns the stored name."""
    key = user_key(name)
    if key is None:
        raise InputError("user", "is required")
    oceane_id = check_oceane_id(oceane_id)
    with direct.connect(settings.database_url) as conn:
        direct.set_user(conn, key, oceane_id, datetime.now(UTC))
    return key


def remove_user(settings: Settings, name: str) -> bool:
    """Remove a user's mapping; False if there was none."""
    key = user_key(name)
    if key is None:
        raise InputError("user", "is required")
    with direct.connect(settings.database_url) as conn:
        return direct.delete_user(conn, key)


def list_users(settings: Settings) -> list[dict[str, Any]]:
    """Every mapping, by user name."""
    with direct.connect(settings.database_url) as conn:
        return direct.list_users(conn)


def import_env(settings: Settings, *, replace: bool = False) -> tuple[list[str], list[str]]:
    """Copy the deprecated ``OCEANE_USER_MAP`` into the table; returns (imported, skipped) user names.

    A user already in the table is skipped (the table wins) unless ``replace`` is true.

    Raises:
        InputError: a pair of the map is invalid (named by its user); nothing is imported then.
    """
    pairs = []
    for name, oceane_id in settings.user_map.items():
        key = user_key(name, field="OCEANE_USER_MAP")
        if key is None:
            raise InputError("OCEANE_USER_MAP", "has an empty user name")
        pairs.append((key, check_oceane_id(oceane_id)))
    imported: list[str] = []
    skipped: list[str] = []
    now = datetime.now(UTC)
    with direct.connect(settings.database_url) as conn:
        for key, oceane_id in pairs:
            (imported if direct.set_user(conn, key, oceane_id, now, replace=replace) else skipped).append(key)
    return imported, skipped
