"""Retention on the SQLite default: the two limits, open requests untouched, failures cascade, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oceane_ticket.storage import db, retention
from tests.conftest import make_settings
from tests.rows import failure_row, ticket_row

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TICKETS = retention.TICKETS
FAILURES = retention.FAILURES


def load(url: str, tickets: list[dict[str, Any]], failures: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    with db.get_engine(url).begin() as conn:
        conn.execute(sa.delete(FAILURES))
        conn.execute(sa.delete(TICKETS))
        if tickets:
            conn.execute(sa.insert(TICKETS), tickets)
        if failures:
            conn.execute(sa.insert(FAILURES), list(failures))


def remaining(url: str) -> dict[str, str]:
    with db.get_engine(url).connect() as conn:
        return dict(conn.execute(sa.select(TICKETS.c.instance, TICKETS.c.status)).all())  # type: ignore[arg-type]


def failure_instances(url: str) -> list[str]:
    with db.get_engine(url).connect() as conn:
        return sorted(conn.execute(sa.select(FAILURES.c.instance)).scalars())


def test_expired_tickets_go_with_their_failures_and_open_requests_stay(sqlite_url: str) -> None:
    old = NOW - timedelta(days=91)
    rows = [
        ticket_row(1, old),
        ticket_row(2, old, "failed"),
        ticket_row(3, old, "queued"),
        ticket_row(4, old, "processing"),
        ticket_row(5, NOW - timedelta(days=89)),
        ticket_row(6, NOW - timedelta(days=1), "failed"),
    ]
    load(sqlite_url, rows, [failure_row(2, old), failure_row(2, old), failure_row(6, NOW)])
    s = make_settings(database_url=sqlite_url)

    result = retention.cleanup(s, now=NOW)

    assert (result.expired, result.over_limit, result.failed_requests) == (2, 0, 2)
    assert (result.kept, result.open_requests) == (2, 2)
    assert set(remaining(sqlite_url)) == {f"{n:032x}" for n in (3, 4, 5, 6)}
    assert failure_instances(sqlite_url) == [f"{6:032x}"]
    again = retention.cleanup(s, now=NOW)
    assert again.removed == 0 and again.failed_requests == 0


def test_keeps_the_newest_max_count_finished_and_open_requests_do_not_count(sqlite_url: str) -> None:
    rows = [ticket_row(n, NOW - timedelta(hours=n), "failed" if n % 3 == 0 else "created") for n in range(1, 11)]
    # Open requests older and newer than the boundary: none deleted, none counted.
    rows += [ticket_row(100, NOW, "queued"), ticket_row(101, NOW - timedelta(days=30), "processing")]
    load(sqlite_url, rows, [failure_row(9, NOW), failure_row(3, NOW)])
    s = make_settings(database_url=sqlite_url, ticket_max_count=4)

    result = retention.cleanup(s, now=NOW)

    assert (result.expired, result.over_limit, result.failed_requests, result.kept) == (0, 6, 1, 4)
    left = remaining(sqlite_url)
    assert set(left) == {f"{n:032x}" for n in (1, 2, 3, 4, 100, 101)}
    assert failure_instances(sqlite_url) == [f"{3:032x}"]


def test_ties_on_created_at_are_broken_by_instance_so_exactly_max_count_remain(sqlite_url: str) -> None:
    same = NOW - timedelta(days=1)
    load(sqlite_url, [ticket_row(n, same) for n in range(1, 8)])
    result = retention.cleanup(make_settings(database_url=sqlite_url, ticket_max_count=3), now=NOW)
    assert result.over_limit == 4
    assert set(remaining(sqlite_url)) == {f"{n:032x}" for n in (5, 6, 7)}


def test_dry_run_counts_exactly_what_a_real_run_removes_and_deletes_nothing(sqlite_url: str) -> None:
    rows = [ticket_row(n, NOW - timedelta(days=n * 10)) for n in range(1, 15)] + [ticket_row(50, NOW, "queued")]
    load(sqlite_url, rows, [failure_row(n, NOW) for n in (1, 5, 12)])
    s = make_settings(database_url=sqlite_url, ticket_max_count=5, ticket_retention_days=100)

    dry = retention.cleanup(s, dry_run=True, now=NOW)
    assert len(remaining(sqlite_url)) == 15
    real = retention.cleanup(s, now=NOW)

    assert dry.dry_run and not real.dry_run
    keys = ("expired", "over_limit", "failed_requests", "kept", "open_requests", "removed")
    assert {k: dry.as_dict()[k] for k in keys} == {k: real.as_dict()[k] for k in keys}
    assert (real.expired, real.over_limit, real.failed_requests, real.kept) == (4, 5, 1, 5)


def test_an_empty_database_is_fine(sqlite_url: str) -> None:
    load(sqlite_url, [])
    result = retention.cleanup(make_settings(database_url=sqlite_url), now=NOW)
    assert result.as_dict()["removed"] == 0 and result.kept == 0


def test_failures_go_with_their_ticket_without_a_foreign_key(sqlite_url: str) -> None:
    # Migration 0003 dropped the cascade (a per-row trigger on PostgreSQL): cleanup itself must
    # take the failures of the tickets it removes, and only those.
    load(
        sqlite_url,
        [ticket_row(1, NOW - timedelta(days=200)), ticket_row(2, NOW)],
        [failure_row(1, NOW), failure_row(2, NOW)],
    )
    with db.get_engine(sqlite_url).connect() as conn:
        assert sa.inspect(conn).get_foreign_keys("failed_ticket_requests") == []
    result = retention.cleanup(make_settings(database_url=sqlite_url), now=NOW)
    assert (result.removed, result.failed_requests) == (1, 1)
    assert failure_instances(sqlite_url) == [ticket_row(2, NOW)["instance"]]


def test_as_dict_is_json_ready(sqlite_url: str) -> None:
    import json

    load(sqlite_url, [ticket_row(1, NOW - timedelta(days=200))])
    data = retention.cleanup(make_settings(database_url=sqlite_url), now=NOW).as_dict()
    assert json.loads(json.dumps(data))["cutoff"] == "2026-03-03T12:00:00Z"
    assert data["removed"] == 1


STATUSES = st.sampled_from(["queued", "processing", "created", "failed"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(0, 400), STATUSES, st.booleans()), max_size=40),
    max_count=st.integers(1, 12),
    days=st.integers(1, 300),
)
def test_matches_a_reference_model(
    sqlite_url: str, rows: list[tuple[int, str, bool]], max_count: int, days: int
) -> None:
    # Ages in whole days give ties; the model orders by (created_at, instance) like the SQL.
    tickets = [ticket_row(n, NOW - timedelta(days=age), status) for n, (age, status, _) in enumerate(rows)]
    failures = [failure_row(n, NOW) for n, (_, _, failed) in enumerate(rows) if failed]
    load(sqlite_url, tickets, failures)
    cutoff = NOW - timedelta(days=days)
    finished = sorted(
        ((t["created_at"], t["instance"]) for t in tickets if t["status"] in ("created", "failed")), reverse=True
    )
    keep = {i for at, i in finished[:max_count] if at >= cutoff}
    expected = keep | {t["instance"] for t in tickets if t["status"] in ("queued", "processing")}

    result = retention.cleanup(
        make_settings(database_url=sqlite_url, ticket_max_count=max_count, ticket_retention_days=days), now=NOW
    )

    assert set(remaining(sqlite_url)) == expected
    assert set(failure_instances(sqlite_url)) <= expected
    assert result.removed == len(tickets) - len(expected)
    assert result.kept == len(keep)
    assert result.expired == sum(1 for at, _ in finished if at < cutoff)
    assert (
        retention.cleanup(
            make_settings(database_url=sqlite_url, ticket_max_count=max_count, ticket_retention_days=days), now=NOW
        ).removed
        == 0
    )


@pytest.mark.parametrize("bad", [0, -1])
def test_settings_refuse_a_useless_limit(bad: int) -> None:
    from oceane_ticket.settings import SettingsError

    with pytest.raises(SettingsError, match="OCEANE_TICKET_MAX_COUNT"):
        make_settings(ticket_max_count=bad)


def test_orphaned_failures_go_with_the_next_removal_and_the_dry_run_counts_them(sqlite_url: str) -> None:
    # Failures are deleted as "whose ticket no longer exists", after the tickets: a failure row left
    # without its ticket (none can be written so, but say by hand) goes with the next removal.
    load(
        sqlite_url,
        [ticket_row(1, NOW - timedelta(days=200), "failed"), ticket_row(2, NOW, "failed")],
        [failure_row(1, NOW), failure_row(2, NOW), failure_row(99, NOW)],
    )
    s = make_settings(database_url=sqlite_url)

    dry = retention.cleanup(s, dry_run=True, now=NOW)
    real = retention.cleanup(s, now=NOW)

    assert (dry.removed, dry.failed_requests) == (real.removed, real.failed_requests) == (1, 2)
    assert failure_instances(sqlite_url) == [f"{2:032x}"]


def test_nothing_to_remove_touches_no_failure(sqlite_url: str) -> None:
    load(sqlite_url, [ticket_row(1, NOW)], [failure_row(1, NOW), failure_row(99, NOW)])
    result = retention.cleanup(make_settings(database_url=sqlite_url), now=NOW)
    assert (result.removed, result.failed_requests, result.kept) == (0, 0, 1)
    assert len(failure_instances(sqlite_url)) == 2


def test_the_line_is_the_cutoff_when_the_max_count_th_newest_is_older(sqlite_url: str) -> None:
    # Five finished tickets, two within 30 days: the maximum (3) does not bind, the cutoff does.
    rows = [ticket_row(n, NOW - timedelta(days=10 * n + 1)) for n in range(1, 6)]
    load(sqlite_url, rows, [failure_row(n, NOW) for n in range(1, 6)])
    result = retention.cleanup(
        make_settings(database_url=sqlite_url, ticket_max_count=3, ticket_retention_days=30), now=NOW
    )
    assert (result.expired, result.over_limit, result.failed_requests, result.kept) == (3, 0, 3, 2)
    assert set(remaining(sqlite_url)) == {f"{n:032x}" for n in (1, 2)}


def test_upgrading_a_0003_database_adds_the_retention_index(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db.upgrade(url, "0003")
    load(url, [ticket_row(1, NOW - timedelta(days=200)), ticket_row(2, NOW, "queued")], [failure_row(1, NOW)])

    db.upgrade(url)

    with db.get_engine(url).connect() as conn:
        indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes("tickets")}
    assert indexes["ix_tickets_finished_created_at"]["column_names"] == ["created_at", "instance"]
    result = retention.cleanup(make_settings(database_url=url), now=NOW)
    assert (result.removed, result.failed_requests, result.open_requests) == (1, 1, 1)
