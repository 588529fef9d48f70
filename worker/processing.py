"""Turning one recorded request into one Oceane ticket, exactly once. No Celery in here.

The steps:

1. claim the request row (queued/processing -> processing, storing the lock token); a request never
   sent is claimed (its attempt counted) before any lock is taken, since only one worker can win
   that claim; every other claim happens under the alarm's lock (``keys.alarm_lock``), which is
   held, with the token the row stores, from the claim to step 5;
2. under OCEANE_LOCK_SCOPE=global take the global lock inside the alarm's (the connector's one
   ticket in flight against Oceane), for steps 3 and 4 only; under ``alarm`` there is no other lock;
3. if an earlier create may have reached Oceane (``attempts > 0``), look the externalId up and
   adopt an open ticket instead of creating a second one; else count the attempt (committed before
   the call, so a crash mid-call is remembered);
4. create; on 409 look up and adopt; on a lost answer look up and adopt; release the global lock;
5. commit the result fenced on the lock token, then release the alarm's lock.

The record (step 5) is outside the global lock, so the next alarm's call starts as soon as Oceane
answered, but inside the alarm's: a copy of the job (a duplicate message, the sweep's re-send, a
redelivery after a worker died) waits for it, rather than looking the alarm up in the gap between
the answer and the record, which on a server whose list lags behind its creates would miss the
ticket and create a second one (docs/performance.md, "What must be serial").

Failures come back as :class:`RetryLater` (transient: the caller schedules another attempt) or
are recorded as final. Our own outages (database, Redis) never mark a request failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from sqlmodel import Session

from oceane_ticket import keys
from oceane_ticket.locking import Held, LockTimeout, ProcessingLock, new_token
from oceane_ticket.logs import describe_exception
from oceane_ticket.oceane.client import OceaneClient
from oceane_ticket.oceane.errors import Action, CreateAccepted, LookupIncomplete, OceaneError
from oceane_ticket.oceane.ticket import OceaneTicket
from oceane_ticket.request import RequestRecord
from oceane_ticket.settings import Settings
from oceane_ticket.statuses import WritebackState
from oceane_ticket.storage import claims, clock, reads
from oceane_ticket.storage.models import Ticket
from worker.retries import RetryLater, backoff, our_outage_delay

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """How one run of the task ended."""

    CREATED = "created"
    ADOPTED = "adopted"
    FAILED = "failed"
    NOTHING_TO_DO = "nothing_to_do"  # finished, deleted, or not due yet
    FENCED = "fenced"  # another worker owns the request now


@dataclass
class Context:
    """What processing needs; built once per worker process."""

    settings: Settings
    session_factory: Callable[[], AbstractContextManager[Session]]
    lock: ProcessingLock
    client: OceaneClient
    now: Callable[[], datetime] = clock.utcnow
    on_event: Callable[[str, dict[str, Any]], None] = lambda name, data: None
    # Queues the alarm write-back job after the created commit (worker/writeback.py).
    enqueue_writeback: Callable[[str], None] = lambda instance: None


def process(ctx: Context, instance: str) -> Outcome:
    """Process one request. Idempotent: running it twice, or concurrently, creates one ticket.

    Raises:
        RetryLater: a transient failure; the request keeps its state and waits for the next try.
    """
    try:
        with ctx.session_factory() as session:
            return _process(ctx, session, instance)
    except LockTimeout:
        # Waiting for a lock is not a failure and spends no retry.
        raise RetryLater("processing lock busy", 1.0) from None
    except sqlalchemy.exc.OperationalError as exc:
        log.warning("database unavailable while processing %s: %s", instance, describe_exception(exc))
        raise RetryLater("database unavailable", our_outage_delay()) from None
    except redis.exceptions.RedisError as exc:
        log.warning("redis unavailable while processing %s: %s", instance, type(exc).__name__)
        raise RetryLater("redis unavailable", our_outage_delay()) from None


@dataclass(frozen=True)
class _Found:
    """What the conversation with Oceane gave: the alarm's ticket, and whether it was adopted."""

    ticket: OceaneTicket
    adopted: bool


# Gives a claim back when the create was never sent (the global lock stayed busy or the alarm's
# was lost while waiting for it): claims.unclaim_first_attempt or claims.release_claim.
_GiveBack = Callable[[Session, str, str, datetime], bool]


def _process(ctx: Context, session: Session, instance: str) -> Outcome:
    # The usual case, a request never sent, is claimed and its attempt counted in one statement
    # before any lock is taken: only one worker can win that claim (queued -> processing), and its
    # commit, a WAL flush of 3 to 20 ms, is then not paid inside a lock others wait for (bench
    # rows 5 and 6). The alarm's lock is taken with the token the claim stored.
    token = new_token()
    first = claims.claim_first_attempt(session, instance, token, ctx.now())
    alarm = None if first is None else (first.dma_id, first.element_id, first.alarm_id)
    lock = _alarm_lock(ctx, session, instance, alarm)
    if lock is None:
        return Outcome.NOTHING_TO_DO
    wait = ctx.settings.lock_timeout * 2
    if first is None:
        with lock.held(instance, wait=wait, token=token):
            return _process_locked(ctx, session, instance, Held(lock, token))
    try:
        lock.acquire(instance, wait, token=token)
    except (LockTimeout, redis.exceptions.RedisError):
        # Nothing was sent: give the request back as it was, so that its next run creates at once
        # rather than looking up a create that never happened.
        claims.unclaim_first_attempt(session, instance, token, ctx.now())
        raise
    with lock.owned(token):
        return _first_attempt(ctx, session, first, Held(lock, token))


def _alarm_lock(
    ctx: Context, session: Session, instance: str, alarm: tuple[int, int, int] | None
) -> ProcessingLock | None:
    """The request's alarm's lock (keys.alarm_lock), under either OCEANE_LOCK_SCOPE; None if it is gone.

    It is held from the claim to the record, so that a copy of the job (a duplicate message, the
    sweep's re-send, a redelivery) never looks the alarm up between Oceane's answer and the record:
    on a server whose list lags behind its creates, that lookup would miss the ticket and the copy
    would create a second one, where no fence reaches (docs/performance.md, "What must be serial").
    """
    if alarm is None:
        alarm = claims.alarm_of(session, instance)
    return None if alarm is None else ctx.lock.for_key(keys.alarm_lock(*alarm))


@contextmanager
def _oceane_turn(ctx: Context, session: Session, instance: str, held: Held, give_back: _GiveBack) -> Iterator[None]:
    """The conversation with Oceane (lookups and create): under OCEANE_LOCK_SCOPE=global, in the global lock.

    That lock is the connector's "one ticket in flight against Oceane": it is taken inside the
    alarm's (never the other way round) and released as soon as Oceane has answered, so the next
    alarm's call starts while this one is recorded. The alarm's lock is renewed while waiting for
    it (ProcessingLock.acquire ``inside``). If the wait ends without the lock, nothing was sent: the
    claim is given back and the LockTimeout (no retry spent) or Redis error goes on up.
    """
    if ctx.settings.lock_scope == "alarm":
        yield  # the alarm's lock is the only one: calls for different alarms go out in parallel
        return
    try:
        token = ctx.lock.acquire(instance, ctx.settings.lock_timeout * 2, token=held.token, inside=held)
    except (LockTimeout, redis.exceptions.RedisError) as exc:
        # Fenced on our token: if the alarm's lock was lost and the request taken over, nothing changes.
        given_back = give_back(session, instance, held.token, ctx.now())
        log.info("request %s: no global lock (%s), nothing sent; claim given back: %s", instance, exc, given_back)
        raise
    with ctx.lock.owned(token):
        yield


def _first_attempt(ctx: Context, session: Session, row: Ticket, held: Held) -> Outcome:
    # Between the claim and the lock another copy of the job may have taken the request over (it
    # was claimable as interrupted) and even created its ticket: create only if it is still ours.
    # From here on, every claim needs the alarm's lock we hold.
    token = held.token
    if not claims.owns(session, row.instance, token):
        return Outcome.FENCED
    external_id = RequestRecord.from_row(row).external_id
    try:
        with _oceane_turn(ctx, session, row.instance, held, claims.unclaim_first_attempt):
            found = _create(ctx, row, external_id, row.attempts)
    except OceaneError as error:
        return _failed_attempt(ctx, session, row, token, error, attempt=row.attempts)
    return _commit(ctx, session, row, token, found.ticket, adopted=found.adopted)


def _process_locked(ctx: Context, session: Session, instance: str, held: Held) -> Outcome:
    # A request already sent once, interrupted, or a copy of a job whose request another worker
    # holds: claimed under the alarm's lock.
    token = held.token
    row = claims.claim(session, instance, token, ctx.now())
    if row is None:
        return Outcome.NOTHING_TO_DO
    external_id = RequestRecord.from_row(row).external_id
    attempt = row.attempts
    try:
        with _oceane_turn(ctx, session, instance, held, claims.release_claim):
            found = None
            if row.attempts > 0:
                # An earlier create may have reached Oceane (timeout, crash mid-call): never repeat
                # it blindly.
                ticket = _look_up_before_create(ctx, session, row, external_id)
                found = None if ticket is None else _Found(ticket, adopted=True)
            if found is None:
                counted = claims.count_attempt(session, instance, token, ctx.now())
                if counted is None:
                    return Outcome.FENCED
                attempt = counted
                found = _create(ctx, row, external_id, attempt)
    except OceaneError as error:
        return _failed_attempt(ctx, session, row, token, error, attempt=max(attempt, 1))
    return _commit(ctx, session, row, token, found.ticket, adopted=found.adopted)


def _create(ctx: Context, row: Ticket, external_id: str, attempt: int) -> _Found:
    """The create call, its attempt already counted; OceaneError propagates to the caller.

    Recording is the caller's, after the global lock is released.
    """
    ctx.on_event("oceane_call", {"instance": row.instance, "attempt": attempt})
    try:
        ticket = ctx.client.create_ticket(RequestRecord.from_row(row))
    except OceaneError as error:
        # A 202 without a body (CreateAccepted) is looked up at once; if the ticket does not show
        # yet, the retry looks it up again (attempts > 0) before any new create.
        accepted = isinstance(error, CreateAccepted)
        if error.action is Action.ADOPT or accepted or (error.may_have_reached and not error.transient):
            found = ctx.client.find_open_ticket(external_id)
            if found is not None:
                return _Found(found, adopted=True)
        raise
    return _Found(ticket, adopted=False)


def _look_up_before_create(ctx: Context, session: Session, row: Ticket, external_id: str) -> OceaneTicket | None:
    """The alarm's open ticket, None if a create is safe; raises LookupIncomplete when it is not.

    A lookup that could not see every ticket (the server ignores the filter or the paging) proves
    nothing by finding none. It is trusted only when no earlier create can have stored a ticket:
    each one got an answer that, by the contract, stores nothing. Otherwise the request is retried,
    and in the end fails readably, rather than risk a second ticket (README, "When Oceane's lookup
    can't see everything").
    """
    try:
        return ctx.client.find_open_ticket(external_id)
    except LookupIncomplete as unsure:
        if not _every_attempt_refused(session, row):
            unsure.description += (
                "; an earlier create may have reached Oceane, so it is not sent again: look for the alarm's "
                "ticket in Oceane before retrying the request"
            )
            raise
        log.info("request %s: %s; every earlier create was refused, so creating is safe", row.instance, unsure)
        return None


def _refused(http_status: int) -> bool:
    # Answers after which Oceane holds no ticket from that create: a 4xx that is not a timeout or a
    # conflict, and 503 (unavailable, turned away up front). A 500 or a gateway's 502/504 may come
    # after the ticket was stored, and 0 (no answer) or a 2xx prove nothing.
    return http_status == 503 or (400 <= http_status < 500 and http_status not in (408, 409))


def _every_attempt_refused(session: Session, row: Ticket) -> bool:
    """Whether every create counted on ``row`` left a failure row, all of them refusals."""
    answers: dict[int, list[int]] = {}
    for failure in reads.failures_for(session, row.instance):
        answers.setdefault(failure.attempt, []).append(failure.http_error_code)
    return all(
        answers.get(attempt) and all(_refused(status) for status in answers[attempt])
        for attempt in range(1, row.attempts + 1)
    )


def _commit(ctx: Context, session: Session, row: Ticket, token: str, ticket: OceaneTicket, *, adopted: bool) -> Outcome:
    ok = claims.mark_created(
        session,
        row.instance,
        token,
        ticket_id=ticket.id,
        ticket_url=ctx.settings.ticket_url(ticket.id),
        ticket_created_at=ticket.creation_date,
        adopted=adopted,
        now=ctx.now(),
        writeback_state=None if ctx.settings.alarm_writer == "none" else WritebackState.PENDING,
    )
    if not ok:
        # We outlived our lock and another worker claimed the request. It will look the
        # externalId up (attempts > 0) and adopt this very ticket, so nothing is lost.
        log.error(
            "request %s: lost ownership before recording ticket %s; the new owner adopts it", row.instance, ticket.id
        )
        return Outcome.FENCED
    outcome = Outcome.ADOPTED if adopted else Outcome.CREATED
    log.info(
        "request %s: ticket %s %s for alarm %s/%s/%s",
        row.instance,
        ticket.id,
        outcome.value,
        row.dma_id,
        row.element_id,
        row.alarm_id,
    )
    ctx.on_event(outcome.value, {"instance": row.instance, "ticket_id": ticket.id})
    if ctx.settings.alarm_writer != "none":
        try:
            ctx.enqueue_writeback(row.instance)
        except Exception as exc:  # the ticket is created; a lost job only delays the write-back
            log.warning("write-back of %s not queued (the sweep sends it): %s", row.instance, describe_exception(exc))
    return outcome


def _failed_attempt(
    ctx: Context, session: Session, row: Ticket, token: str, error: OceaneError, *, attempt: int
) -> Outcome:
    final = not error.transient or row.retries_used >= ctx.settings.retry_count
    now = ctx.now()
    delay = None if final else backoff(ctx.settings, row.retries_used, error.retry_after)
    failure = claims.FailureRecord(error.http_status, error.code, error.message[:500], error.description[:2000])
    written = claims.record_failure(
        session,
        row.instance,
        token,
        failure,
        attempt=attempt,
        final=final,
        retry_at=None if delay is None else now + timedelta(seconds=delay),
        now=now,
    )
    if not written:
        return Outcome.FENCED
    if final:
        log.warning("request %s failed: %s", row.instance, error)
        ctx.on_event("failed", {"instance": row.instance, "http": error.http_status, "code": error.code})
        return Outcome.FAILED
    log.info(
        "request %s: %s; retry %d/%d in %.1f s",
        row.instance,
        error,
        row.retries_used + 1,
        ctx.settings.retry_count,
        delay,
    )
    ctx.on_event("retried", {"instance": row.instance})
    assert delay is not None
    raise RetryLater(f"{error.message} (HTTP {error.http_status})", delay)
