"""What "the alarm's open request" means in SQL, once: the predicate of the one-open-per-alarm index.

A request holds its alarm while it is not failed and Oceane has not reported its ticket closed
(resolved, closed, cancelled, rejected; compared lowercased). So a failed request lets the operator
ask again, and so does a ticket someone closed: a new Create Ticket makes a new ticket, never
adopting the closed one, and the database still allows one open ticket per alarm. Every query that
means the alarm's open request spells this text: PostgreSQL and SQLite match an ``ON CONFLICT``'s
predicate to the index's. Plain text (no SQLAlchemy), so the producer's fast path shares it.
"""

from oceane_ticket.statuses import OCEANE_CLOSED_STATUSES, Status

CLOSED_SQL = ", ".join(f"'{s}'" for s in sorted(OCEANE_CLOSED_STATUSES))
OPEN_REQUEST_SQL = (
    f"status <> '{Status.FAILED.value}' AND (oceane_status IS NULL OR lower(oceane_status) NOT IN ({CLOSED_SQL}))"
)
