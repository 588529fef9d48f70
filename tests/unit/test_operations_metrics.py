"""Prometheus metrics: multiprocess files summed across forked processes, timed calls, scrape-time gauges."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from oceane_ticket import connections, jobs, keys, metrics
from oceane_ticket.locking import Held, LockTimeout, ProcessingLock
from oceane_ticket.oceane.errors import OceaneError
from tests.conftest import ROOT, make_settings
from tests.unit.test_operations import CLOSED_REDIS, insert, row, run
from worker import metered


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


CHILD = textwrap.dedent("""
    import os, sys
    import fakeredis
    from oceane_ticket import metrics
    from worker import metered

    metrics.on_event("created", {})
    pids = []
    for _ in range(2):  # like Celery's prefork pool: children forked after the import
        pid = os.fork()
        if pid == 0:
            metrics.on_event("created", {"instance": "x"})
            metrics.on_event("failed", {"instance": "x"})
            metrics.on_event("oceane_call", {"instance": "x"})
            metered.MeteredLock(fakeredis.FakeRedis(), 30).acquire("x", wait=1)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
""")


def test_counters_from_forked_worker_processes_are_summed_at_scrape(tmp_path: Path, sqlite_url: str) -> None:
    directory = tmp_path / "prom"
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory)}
    subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, check=True, timeout=60)

    files = sorted(p.name for p in directory.iterdir())
    host = socket.gethostname().replace("_", "-")
    assert files and all(host in name for name in files), files  # host-pid names: shareable across containers
    text = metrics.render(make_settings(database_url=sqlite_url, redis_url=CLOSED_REDIS), path=str(directory)).decode()
    got = samples(text)
    assert got[("oceane_tickets_created_total", ())] == 3
    assert got[("oceane_tickets_failed_total", ())] == 2
    assert got[("oceane_lock_wait_seconds_count", (("lock", "global"), ("outcome", "acquired")))] == 2
    # The gauges come from the sources at scrape time; a missing source says so, the rest still shows.
    assert got[("oceane_scrape_source_up", (("source", "redis"),))] == 0
    assert got[("oceane_scrape_source_up", (("source", "database"),))] == 1
    assert got[("oceane_requests", (("status", "created"),))] == 0


def test_on_event_counts_known_events_and_ignores_the_rest() -> None:
    before = value("oceane_tickets_adopted_total"), value("oceane_tickets_retried_total")
    metrics.on_event("adopted", {"instance": "x"})
    metrics.on_event("retried", {"instance": "x"})
    metrics.on_event("something_new", {})
    assert value("oceane_tickets_adopted_total") == before[0] + 1
    assert value("oceane_tickets_retried_total") == before[1] + 1


def test_on_event_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(metrics.TICKETS_CREATED, "inc", broken)
    metrics.on_event("created", {})


def test_the_metered_client_times_each_call_by_operation_and_outcome(sandbox: Any) -> None:
    s = make_settings(base_url=sandbox.base_url, ticket_url_template=sandbox.base_url + "/ticket/{id}")
    client = metered.MeteredClient(s)
    before = {
        k: value("oceane_call_duration_seconds_count", operation=k[0], outcome=k[1])
        for k in (("token", "ok"), ("create", "ok"), ("find", "ok"), ("create", "http_5xx"))
    }
    payload = {
        "externalId": "1/2/3",
        "description": "d",
        "severity": "Major",
        "priority": "2",
        "ticketType": "incident",
        "relatedParty": [{"id": "U", "role": "requester"}],
    }
    client.create_ticket(payload)
    client.find_open_ticket("1/2/3")
    sandbox.force(500, group="create")
    with pytest.raises(OceaneError):
        client.create_ticket(payload)
    client.close()
    after = {k: value("oceane_call_duration_seconds_count", operation=k[0], outcome=k[1]) for k in before}
    assert {k: after[k] - before[k] for k in before} == {
        ("token", "ok"): 1,
        ("create", "ok"): 1,
        ("find", "ok"): 1,
        ("create", "http_5xx"): 1,
    }


def test_an_unreachable_oceane_is_timed_as_no_answer() -> None:
    s = make_settings(base_url="http://127.0.0.1:1", http_timeout=1)
    before = value("oceane_call_duration_seconds_count", operation="token", outcome="no_answer")
    with pytest.raises(OceaneError):
        metered.MeteredClient(s).fetch_token()
    assert value("oceane_call_duration_seconds_count", operation="token", outcome="no_answer") == before + 1


def test_the_metered_lock_times_waits_and_timeouts() -> None:
    redis = fakeredis.FakeRedis()
    lock = metered.MeteredLock(redis, 30)
    before = (
        value("oceane_lock_wait_seconds_count", lock="global", outcome="timeout"),
        value("oceane_lock_wait_seconds_count", lock="global", outcome="acquired"),
    )
    ProcessingLock(redis, 30).try_acquire("other")
    with pytest.raises(LockTimeout):
        lock.acquire("mine", wait=0.1)
    redis.flushall()
    with lock.held("mine", wait=1):
        pass
    assert value("oceane_lock_wait_seconds_count", lock="global", outcome="timeout") == before[0] + 1
    assert value("oceane_lock_wait_seconds_count", lock="global", outcome="acquired") == before[1] + 1
    assert value("oceane_lock_wait_seconds_sum", lock="global", outcome="timeout") >= 0.1


def test_the_metered_lock_labels_each_lock_it_waits_for() -> None:
    # Under lock scope global a ticket waits for its alarm's lock and then the global one: each has
    # its own series, so the global lock's queue is not averaged with the alarm's near-zero wait.
    redis = fakeredis.FakeRedis()
    base = metered.MeteredLock(redis, 30)
    alarm = base.for_key(keys.alarm_lock(12, 345, 9))
    events = base.for_key(keys.events_lock("f" * 32))
    before = {kind: value("oceane_lock_wait_seconds_count", lock=kind, outcome="acquired") for kind in metered.KINDS}
    token = alarm.acquire("mine", wait=1)
    base.acquire("mine", wait=1, token=token, inside=Held(alarm, token))
    events.acquire("mine", wait=1)
    after = {kind: value("oceane_lock_wait_seconds_count", lock=kind, outcome="acquired") for kind in metered.KINDS}
    assert {kind: after[kind] - before[kind] for kind in metered.KINDS} == {"global": 1, "alarm": 1, "events": 1}


def test_queue_gauges_read_redis_and_the_database_at_scrape(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = fakeredis.FakeServer()
    monkeypatch.setattr(connections, "redis_client", lambda url, *, purpose: fakeredis.FakeRedis(server=server))
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    redis = fakeredis.FakeRedis(server=server)
    s = make_settings(database_url=sqlite_url, queue="oceane.unit")
    insert(sqlite_url, row(1, "queued"), row(2, "queued"), row(3, "created"))
    for instance in ("a", "b", "c"):
        jobs.enqueue_create(redis, instance, s.queue, 60)
    redis.hset("unacked", "t", json.dumps([{}, "", s.queue]))
    ProcessingLock(redis, 30).try_acquire("a")

    assert run(s, "metrics", "--once") == 0
    captured = capsys.readouterr()
    got = samples(captured.out)
    assert "PROMETHEUS_MULTIPROC_DIR" in captured.err  # the operator is told which setting is missing
    assert got[("oceane_queue_messages", (("queue", s.queue),))] == 3
    assert got[("oceane_queue_unacked_messages", (("queue", s.queue),))] == 1
    assert got[("oceane_processing_lock_held", ())] == 1
    assert got[("oceane_requests", (("status", "queued"),))] == 2
    assert got[("oceane_requests_writeback", (("writeback_state", "none"),))] == 3
    assert got[("oceane_requests_writeback", (("writeback_state", "pending"),))] == 0
    assert got[("oceane_oldest_open_request_age_seconds", ())] >= 0
    assert got[("oceane_scrape_source_up", (("source", "database"),))] == 1


def test_serve_answers_on_http(sqlite_url: str) -> None:
    s = make_settings(database_url=sqlite_url, redis_url=CLOSED_REDIS)
    server = metrics.serve(s, port=0, address="127.0.0.1")
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    finally:
        server.shutdown()
    assert 'oceane_scrape_source_up{source="redis"} 0.0' in text
