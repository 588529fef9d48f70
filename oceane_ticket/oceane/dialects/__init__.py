"""The wire dialects the client speaks (``OCEANE_API_DIALECT``), one module each behind :class:`Dialect`.

``oceane`` is our contract (``docs/oceane-api.md``, assumed), ``tmf621-v4`` and ``tmf621-v5`` are TM
Forum's TMF621 as published. Only the client and these modules know which one is spoken.
"""

from __future__ import annotations

from collections.abc import Mapping

from oceane_ticket.oceane.dialects.base import Dialect, ListenerEvent, note_id
from oceane_ticket.oceane.dialects.oceane import OceaneDialect
from oceane_ticket.oceane.dialects.tmf621_v4 import Tmf621V4Dialect
from oceane_ticket.oceane.dialects.tmf621_v5 import Tmf621V5Dialect

DIALECTS: dict[str, type[Dialect]] = {d.name: d for d in (OceaneDialect, Tmf621V4Dialect, Tmf621V5Dialect)}
DIALECT_NAMES = tuple(DIALECTS)


def dialect(name: str, priority_map: Mapping[str, str] | None = None) -> Dialect:
    """The dialect called ``name`` (one of :data:`DIALECT_NAMES`); ``ValueError`` naming them otherwise."""
    try:
        kind = DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}: one of {', '.join(DIALECT_NAMES)}") from None
    return kind(priority_map)


__all__ = ["DIALECTS", "DIALECT_NAMES", "Dialect", "ListenerEvent", "dialect", "note_id"]
