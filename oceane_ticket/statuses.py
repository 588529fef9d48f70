"""The vocabulary of a ticket request's life, defined once (stdlib only, so the producer can import it cheaply).

Every other module, the SQL check constraints and the command-line choices take these names from
here; a status spelled as a string literal anywhere else is a bug.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A request's life: queued -> processing -> created | failed."""

    QUEUED = "queued"
    PROCESSING = "processing"
    CREATED = "created"
    FAILED = "failed"


# Requests the worker still has to finish: never deleted by retention, re-sent by the sweep.
PENDING_STATUSES = (Status.QUEUED, Status.PROCESSING)
# Requests that will not change any more (until an operator's `retry`). Not Oceane's closed statuses
# (a ticket's life at Oceane), which are OCEANE_CLOSED_STATUSES below.
FINISHED_STATUSES = (Status.CREATED, Status.FAILED)


class WritebackState(StrEnum):
    """Writing the ticket ID, URL (and Oceane's status) back onto the DataMiner alarm.

    ``none``: no writer configured (``OCEANE_ALARM_WRITER=none``) or nothing to write yet;
    ``pending``: a write-back job is due; ``done``: DataMiner has the current values;
    ``failed``: the write-back's own retry budget ran out (``retry --writeback`` sends it again).
    A failing write-back never fails the ticket itself.
    """

    NONE = "none"
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Origin(StrEnum):
    """Who asked for a ticket: an operator's click (never held) or a Correlation rule.

    A rule's requests are held by ``OCEANE_AUTO_TICKETS_PER_MINUTE`` (worker/release.py): rules can ask
    by the thousand in a storm, and an operator's click must never wait behind them.
    """

    OPERATOR = "operator"
    RULE = "rule"


def sql_in(enum: type[StrEnum]) -> str:
    """``'a', 'b', ...`` for a CHECK constraint built from an enum (our own constants, never input)."""
    return ", ".join(f"'{member.value}'" for member in enum)


# --- An Oceane ticket's status (TMF621 TroubleTicketStatusType, both versions; compared lowercased) ---
# A ticket in a closed one is no longer worked: the alarm may get a new ticket, and the poll stops.
# Any other status, including one outside TMF621 or none at all, counts as open: for a ticket that
# carries our external identifier, adopting it is safe, while creating beside it could make a duplicate.
# TMF621 TroubleTicketStatusType as spelt on the wire (what the sandbox accepts and lists).
OCEANE_STATUSES = ("acknowledged", "rejected", "pending", "held", "inProgress", "cancelled", "closed", "resolved")
OCEANE_OPEN_STATUSES = frozenset({"acknowledged", "pending", "held", "inprogress"})
OCEANE_CLOSED_STATUSES = frozenset({"cancelled", "closed", "resolved", "rejected"})
