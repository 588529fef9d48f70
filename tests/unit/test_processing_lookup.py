"""What a lookup that could not see everything means for the create that follows.

It is trusted only when every earlier create was refused (nothing of ours can exist); after a
create that may have reached Oceane it is retried and in the end fails readably, never a second
create. Same world as tests/unit/test_processing.py: SQLite, fakeredis and a scripted fake Oceane.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from oceane_ticket.oceane.errors import Action, LookupIncomplete
from oceane_ticket.storage import db
from oceane_ticket.storage.models import Ticket
from tests.unit.test_processing import World, status, timeout
from worker import processing
from worker.processing import Outcome, RetryLater


def unsure() -> LookupIncomplete:
    return LookupIncomplete(200, 0, "Lookup incomplete", "saw 40 of 45 tickets", Action.RETRY)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(tmp_path, monkeypatch)


@pytest.mark.parametrize(("code", "app"), [(503, 5), (429, 53)])
def test_after_a_refused_create_an_incomplete_lookup_still_creates(world: World, code: int, app: int) -> None:
    instance = world.request()
    world.oceane.create_plan = [status(code, app)]
    world.oceane.find_plan = [unsure()]
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    assert processing.process(world.ctx, instance) is Outcome.CREATED
    assert world.oceane.calls == ["create", "find", "create"]
    assert len(world.oceane.tickets) == 1


@pytest.mark.parametrize("first", ["timeout", "500"])
def test_after_a_create_that_may_have_landed_an_incomplete_lookup_never_creates(world: World, first: str) -> None:
    instance = world.request()
    world.oceane.create_plan = [timeout() if first == "timeout" else status(500, 1)]
    world.oceane.stores = {0}  # it did land: a second create would be a duplicate
    world.oceane.find_plan = [unsure()]
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    assert processing.process(world.ctx, instance) is Outcome.FAILED  # retry_count 1: spent
    assert world.oceane.calls == ["create", "find"]
    assert len(world.oceane.tickets) == 1
    final = world.failures(instance)[-1]
    assert (final.final, final.error_message, final.http_error_code) == (True, "Lookup incomplete", 200)


def test_after_a_crash_mid_create_an_incomplete_lookup_never_creates(world: World) -> None:
    instance = world.request()
    with Session(db.get_engine(world.url)) as s:  # counted, then the worker died: no answer recorded
        s.execute(sa.update(Ticket).where(Ticket.instance == instance).values(status="processing", attempts=1))
        s.commit()
    world.oceane.find_plan = [unsure(), unsure()]
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    assert processing.process(world.ctx, instance) is Outcome.FAILED
    assert world.oceane.calls == ["find", "find"]


def test_one_uncertain_attempt_among_refused_ones_is_enough_to_hold_back(world: World) -> None:
    world.settings = world.settings.replace(retry_count=3)
    world.ctx = world.context()
    instance = world.request()
    world.oceane.create_plan = [timeout(), status(503, 5)]
    # The first lookup is complete (nothing there yet), so the second create goes out; the one
    # after it cannot see everything, and the timed-out first create may still have landed.
    world.oceane.find_plan = [None, unsure()]
    for _ in range(2):
        with pytest.raises(RetryLater):
            processing.process(world.ctx, instance)
    with pytest.raises(RetryLater):
        processing.process(world.ctx, instance)
    assert world.oceane.calls == ["create", "find", "create", "find"]
