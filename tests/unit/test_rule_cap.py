"""The rule cap (OCEANE_AUTO_TICKETS_PER_MINUTE) on SQLite and fakeredis, its minute driven by an injected clock.

A Correlation rule's request is recorded held (no job) while a cap is set; the release sends at most the
cap per sliding minute, oldest first; an operator's click is never held and never counted; the sweep and
the claim never send a held request. The real worker and PostgreSQL are in
tests/integration/test_rule_cap.py.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import fakeredis
import pytest
import sqlalchemy as sa

from oceane_ticket import keys, queue_state
from oceane_ticket.locking import new_token
from oceane_ticket.statuses import Status
from oceane_ticket.storage import claims, clock, db, holds, reads
from oceane_ticket.storage.models import TICKETS
from producer import core, retry
from tests.conftest import make_settings
from worker import release, sweep

DETAILS = {"priority": "2", "urgency": "Major", "technical_impact": "Major"}


@pytest.fixture
def redis() -> Any:
    return fakeredis.FakeRedis()


@pytest.fixture
def world(sqlite_url: str, redis: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(core, "_redis", lambda _settings: redis)

    def settings(cap: int) -> Any:
        return make_settings(database_url=sqlite_url, queue="oceane.unit", auto_tickets_per_minute=cap)

    return settings


def ask(settings: Any, n: int, origin: str | None) -> str:
    """One request for alarm ``n``; its instance."""
    alarm = f"DMA ID=12;Element ID=345;Alarm ID={n};Element Name=Encoder"
    return core.create_ticket(alarm, settings=settings, origin=origin, **DETAILS).instance


def jobs_sent(redis: Any, queue: str) -> list[str]:
    """The instances of the ticket jobs on the queue, in the order a worker takes them."""
    messages = [json.loads(raw) for raw in reversed(redis.lrange(queue, 0, -1))]
    return [
        json.loads(base64.b64decode(m["body"]))[0][0]
        for m in messages
        if m["headers"]["task"] == "oceane.create_ticket"
    ]


def origin_and_release(settings: Any, instance: str) -> tuple[str, Any]:
    with db.session(settings.database_url) as s:
        row = reads.get(s, instance)
        assert row is not None
        return str(row.origin), row.released_at


def test_cap_two_releases_two_of_five_then_two_more_after_sixty_seconds(world: Any, redis: Any) -> None:
    settings = world(2)
    held = [ask(settings, n, "rule") for n in range(1, 6)]
    assert jobs_sent(redis, settings.queue) == [], "a held request's job is not sent by the producer"
    assert queue_state.database_view(settings)["rule_waiting"] == 5

    t0 = clock.utcnow()
    assert release.release(settings, redis, now=t0) == held[:2]  # the oldest first
    assert release.release(settings, redis, now=t0 + timedelta(seconds=30)) == []  # within the minute: nothing
    assert release.release(settings, redis, now=t0 + timedelta(seconds=59)) == []
    assert release.release(settings, redis, now=t0 + timedelta(seconds=60)) == held[2:4]
    assert release.release(settings, redis, now=t0 + timedelta(seconds=61)) == []
    assert release.release(settings, redis, now=t0 + timedelta(seconds=120)) == held[4:]
    assert release.release(settings, redis, now=t0 + timedelta(seconds=180)) == []
    assert jobs_sent(redis, settings.queue) == held, "each job sent once, oldest first"
    view = queue_state.database_view(settings)
    assert view["rule_waiting"] == 0
    assert all(origin_and_release(settings, i)[1] is not None for i in held)


def test_an_operator_click_is_never_held_nor_counted_against_the_cap(world: Any, redis: Any) -> None:
    settings = world(1)
    rule = ask(settings, 1, "rule")
    clicks = [ask(settings, n, None) for n in (2, 3)] + [ask(settings, 4, "operator")]
    assert jobs_sent(redis, settings.queue) == clicks, "every click is sent at once, cap or not"
    assert origin_and_release(settings, clicks[0])[0] == "operator"
    assert origin_and_release(settings, rule) == ("rule", None)
    # Three clicks went out this minute, and the rule still gets its one.
    assert release.release(settings, redis, now=clock.utcnow()) == [rule]


def test_a_held_request_is_not_the_oldest_open_request(world: Any, redis: Any) -> None:
    settings = world(1)
    ask(settings, 1, "rule")  # held, and older than the click
    click = ask(settings, 2, None)
    view = queue_state.database_view(settings)
    assert (view["oldest_open_instance"], view["rule_waiting"]) == (click, 1)


def test_without_a_cap_a_rule_request_is_sent_at_once_as_before(world: Any, redis: Any) -> None:
    settings = world(0)
    instance = ask(settings, 1, "rule")
    assert jobs_sent(redis, settings.queue) == [instance]
    origin, released_at = origin_and_release(settings, instance)
    assert origin == "rule" and released_at is not None
    assert release.release(settings, redis, now=clock.utcnow()) == []  # nothing held, nothing sent twice


def test_a_lifted_cap_releases_everything_still_held(world: Any, redis: Any) -> None:
    held = [ask(world(1), n, "rule") for n in (1, 2, 3)]
    assert release.release(world(0), redis, now=clock.utcnow()) == held
    assert jobs_sent(redis, "oceane.unit") == held


def test_the_sweep_never_sends_a_held_request_but_resends_a_released_one_whose_job_was_lost(
    world: Any, redis: Any
) -> None:
    settings = world(1)
    first, second = ask(settings, 1, "rule"), ask(settings, 2, "rule")
    much_later = clock.utcnow() + timedelta(hours=1)
    assert sweep.sweep(settings, redis, now=much_later) == [], "held requests are the release's alone"

    t0 = clock.utcnow()
    assert release.release(settings, redis, now=t0) == [first]
    redis.delete(settings.queue, keys.enqueued_marker(first))  # the job is lost (Redis restarted empty)
    stale = t0 + timedelta(seconds=settings.stale_after + 1)
    assert sweep.sweep(settings, redis, now=stale) == [first]
    assert sweep.sweep(settings, redis, now=stale) == [], "once per OCEANE_STALE_AFTER (its marker)"
    assert jobs_sent(redis, settings.queue) == [first]
    assert queue_state.database_view(settings)["rule_waiting"] == 1  # the second still waits its turn
    assert origin_and_release(settings, second)[1] is None


def test_a_stray_job_for_a_held_request_claims_nothing(world: Any) -> None:
    settings = world(1)
    instance = ask(settings, 1, "rule")
    with db.session(settings.database_url) as s:
        now = clock.utcnow()
        assert claims.claim_first_attempt(s, instance, new_token(), now) is None
        assert claims.claim(s, instance, new_token(), now) is None
        assert holds.waiting(s) == 1


def test_release_died_after_marking_the_sweep_sends_the_job_once(world: Any, redis: Any) -> None:
    # The release marks in the database, then sends; a death in between leaves a released, queued
    # request with no job: the sweep's to send, once.
    settings = world(5)
    instances = [ask(settings, n, "rule") for n in (1, 2)]
    t0 = clock.utcnow()

    class Dead(Exception):
        pass

    def die(*_: Any, **__: Any) -> None:
        raise Dead

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(release.jobs, "enqueue_creates", die)
        with pytest.raises(Dead):
            release.release(settings, redis, now=t0)
    assert jobs_sent(redis, settings.queue) == []
    assert release.release(settings, redis, now=t0 + timedelta(seconds=61)) == [], "marked released: not again"
    stale = t0 + timedelta(seconds=settings.stale_after + 1)
    assert sorted(sweep.sweep(settings, redis, now=stale)) == sorted(instances)
    assert sweep.sweep(settings, redis, now=stale) == []
    assert sorted(jobs_sent(redis, settings.queue)) == sorted(instances)


def fail(settings: Any, *instances: str) -> None:
    """The worker gave these requests up (their retries spent): what ``retry`` starts from."""
    with db.session(settings.database_url) as s:
        s.connection().execute(
            sa.update(TICKETS).where(TICKETS.c.instance.in_(instances)).values(status=Status.FAILED.value)
        )
        s.commit()


def test_retrying_a_storms_failures_goes_through_the_cap_again(world: Any, redis: Any) -> None:
    # Oceane was down during a storm: every released rule request failed. `retry --all-failed` must
    # not send them all at once; an operator's click retried is sent at once, as ever.
    settings = world(2)
    rules = [ask(settings, n, "rule") for n in (1, 2, 3)]
    click = ask(settings, 4, None)
    t0 = clock.utcnow()
    assert release.release(settings, redis, now=t0) == rules[:2]
    redis.delete(settings.queue)
    fail(settings, *rules[:2], click)

    results = retry.retry(settings, [*rules[:2], click], redis)
    assert [r["result"] for r in results] == [retry.REQUEUED] * 3
    assert [("task_id" in r) for r in results] == [False, False, True]
    assert jobs_sent(redis, settings.queue) == [click]
    assert queue_state.database_view(settings)["rule_waiting"] == 3
    assert origin_and_release(settings, rules[0]) == ("rule", None)
    # From the retry on the cap holds: two a minute, oldest first (their first release is superseded).
    assert release.release(settings, redis, now=t0 + timedelta(seconds=30)) == rules[:2]
    assert release.release(settings, redis, now=t0 + timedelta(seconds=60)) == []
    assert release.release(settings, redis, now=t0 + timedelta(seconds=90)) == rules[2:]
    assert jobs_sent(redis, settings.queue) == [click, *rules]


def test_without_a_cap_a_retried_rule_request_is_sent_at_once(world: Any, redis: Any) -> None:
    settings = world(0)
    instance = ask(settings, 1, "rule")
    redis.delete(settings.queue)
    fail(settings, instance)
    assert "task_id" in retry.retry(settings, [instance], redis)[0]
    assert jobs_sent(redis, settings.queue) == [instance]


def test_the_metrics_show_how_many_rule_requests_wait(world: Any, redis: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from oceane_ticket import metrics

    settings = world(1)
    for n in (1, 2, 3):
        ask(settings, n, "rule")
    release.release(settings, redis, now=clock.utcnow())
    scraped = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics.render(settings).decode())
        for sample in family.samples
    }
    assert scraped["oceane_rule_requests_waiting"] == 2
    assert scraped["oceane_rule_requests_released_last_minute"] == 1
    assert scraped["oceane_auto_tickets_per_minute"] == 1


def test_with_redis_down_a_held_rule_request_is_still_recorded_and_a_click_is_refused(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A held request needs no Redis until its release; a click needs it now, and leaves nothing behind.
    import redis as redis_lib

    down = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(core, "_redis", lambda _settings: down)
    settings = make_settings(database_url=sqlite_url, queue="oceane.unit", auto_tickets_per_minute=5)
    held = ask(settings, 1, "rule")
    with pytest.raises(core.Unavailable):
        ask(settings, 2, None)
    with db.session(settings.database_url) as s:
        assert holds.waiting(s) == 1
        assert reads.get(s, held) is not None
        assert len(reads.list_tickets(s)) == 1
