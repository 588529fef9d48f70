"""The rule cap's statements: which rule requests are held, releasing them within the cap, the counts.

``OCEANE_AUTO_TICKETS_PER_MINUTE`` caps how many Correlation rules' requests have their job sent per
sliding minute. A held request is a ``tickets`` row like any other (queued, durable, one per alarm),
with ``origin = 'rule'`` and ``released_at`` NULL; releasing it sets ``released_at``, and the number of
rule rows released within the last minute is what the cap compares with. So the hold is global across
workers and survives any restart: the database is its only state.

Releases are serialised: on PostgreSQL by a transaction-scoped advisory lock taken before the count (two
releasers, e.g. two beats, would otherwise both read the same count under READ COMMITTED and together
release twice the cap); SQLite's transactions are serialisable already (the second writer's stale
snapshot is refused, so it releases nothing that run). The rows themselves are picked with ``FOR UPDATE
SKIP LOCKED`` (PostgreSQL; SQLAlchemy leaves it out on SQLite), so a row another transaction holds is
left for the next run rather than waited for.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket.statuses import Origin, Status
from oceane_ticket.storage.models import TICKETS

# The cap's period: "per minute" is any 60 s, not the clock's minute, so a storm at hh:mm:59 cannot
# get twice the cap in two seconds.
WINDOW = timedelta(seconds=60)
# The advisory lock that serialises releases: a constant no other code of ours takes ("oceane" in ASCII).
RELEASE_LOCK_KEY = 0x6F6365616E65

_T = TICKETS
_RULE = _T.c.origin == Origin.RULE.value
# Held: a rule's request whose job was never sent. Also what the sweep and the claims refuse to touch,
# so no path (a lost-job re-send, a stray copy of a job) can bypass the cap.
HELD = sa.and_(_RULE, _T.c.released_at.is_(None))
NOT_HELD = sa.not_(HELD)
_WAITING = sa.and_(HELD, _T.c.status == Status.QUEUED.value)


def _released_since(conn: sa.Connection, since: datetime) -> int:
    query = sa.select(sa.func.count()).select_from(_T).where(_RULE, _T.c.released_at > since)
    return int(conn.execute(query).scalar_one())


def release(session: Session, now: datetime, cap: int, batch: int) -> list[str]:
    """Mark released the oldest held rule requests the cap allows now (at most ``batch``); committed.

    ``cap`` 0 means no cap: everything held (left from while a cap was set) goes, ``batch`` at a time.
    Returns the instances released, oldest first; the caller sends their jobs. A job not sent after
    this commit (the caller died, Redis was down) is the sweep's: the row is queued, released, and
    untouched since ``now``.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(RELEASE_LOCK_KEY)))
    budget = min(batch, cap - _released_since(conn, now - WINDOW)) if cap > 0 else batch
    if budget <= 0:
        session.commit()
        return []
    # Picked first, then updated by key: PostgreSQL re-runs a LIMIT ... FOR UPDATE subquery inside
    # UPDATE ... WHERE IN (...) per row, which released every held row at once (seen on the test bed).
    oldest = (
        sa.select(_T.c.instance)
        .where(_WAITING)
        .order_by(_T.c.created_at, _T.c.instance)
        .limit(budget)
        .with_for_update(skip_locked=True)
    )
    picked = list(conn.execute(oldest).scalars())
    if picked:
        conn.execute(sa.update(_T).where(_T.c.instance.in_(picked), _WAITING).values(released_at=now, updated_at=now))
    session.commit()
    return picked


def waiting(session: Session) -> int:
    """Rule requests held by the cap, not sent yet (``status`` and the metrics show it)."""
    query = sa.select(sa.func.count()).select_from(_T).where(_WAITING)
    return int(session.connection().execute(query).scalar_one())


def released_within_window(session: Session, now: datetime) -> int:
    """Rule requests whose job was sent within the cap's last minute (what the cap compares with)."""
    return _released_since(session.connection(), now - WINDOW)
