"""The producer's hand-built job message is the one Celery itself would send."""

from __future__ import annotations

import base64
import json

import fakeredis

from oceane_ticket import jobs, keys


def _celery_message(queue: str) -> dict:
    from celery import Celery

    server = fakeredis.FakeServer()
    app = Celery(broker="redis://fake/0")
    app.conf.task_default_queue = queue
    client = fakeredis.FakeRedis(server=server)
    # Publish through kombu's real Redis transport into fakeredis, then read what it wrote.
    from unittest import mock

    with (
        mock.patch("redis.Redis", fakeredis.FakeRedis),
        mock.patch("redis.StrictRedis", fakeredis.FakeRedis),
        mock.patch("kombu.transport.redis.Channel._create_client", lambda self, asynchronous=False: client),
    ):
        app.send_task(jobs.TASK_CREATE, args=["abc123"])
    return json.loads(client.lpop(queue))


def test_message_matches_celery_send_task() -> None:
    ours = jobs.task_message(jobs.TASK_CREATE, ["abc123"], "oceane.tickets")
    theirs = _celery_message("oceane.tickets")
    assert set(ours) == set(theirs)
    assert set(ours["headers"]) == set(theirs["headers"])
    assert set(ours["properties"]) - {"reply_to"} <= set(theirs["properties"])
    assert base64.b64decode(ours["body"]) == base64.b64decode(theirs["body"])
    for key in ("lang", "task", "retries", "timelimit", "argsrepr", "kwargsrepr"):
        assert ours["headers"][key] == theirs["headers"][key], key
    assert ours["properties"]["delivery_info"] == theirs["properties"]["delivery_info"]
    assert ours["headers"]["id"] == ours["headers"]["root_id"] == ours["properties"]["correlation_id"]


def test_enqueue_pushes_the_job_and_sets_the_marker_atomically() -> None:
    r = fakeredis.FakeRedis()
    task_id = jobs.enqueue_create(r, "abc123", "q", marker_ttl=60)
    message = json.loads(r.lpop("q"))
    assert message["headers"]["id"] == task_id
    assert json.loads(base64.b64decode(message["body"]))[0] == ["abc123"]
    assert 0 < r.ttl(keys.enqueued_marker("abc123")) <= 60
