"""What ``status`` and the metrics show of the ticket's life after the click.

Alarm events by state, the tickets "alarm gone, ticket open" (a known clear while Oceane's status is
not final, whatever ``OCEANE_ON_ALARM_CLEARED`` is) and the reconcile with DataMiner (on or off and
why, its last run: oceane_ticket/reconcile.py). Read at call time from the database (and the last run
from Redis), like the other debug values: no worker needs to run for them to be right.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from oceane_ticket import reconcile
from oceane_ticket.settings import Settings


def event_counts(settings: Settings) -> dict[str, int]:
    """Alarm events per state (every state present, 0 when none)."""
    from oceane_ticket.storage import alarm_events, db

    with db.get_engine(settings.database_url).connect() as conn:
        return alarm_events.count_by_state(conn)


def alarm_gone_ticket_open(settings: Settings) -> int:
    """Tickets whose alarm is known cleared while Oceane's status is not final."""
    from oceane_ticket.storage import alarm_events, db

    with db.get_engine(settings.database_url).connect() as conn:
        return alarm_events.alarm_gone_ticket_open(conn)


def reconcile_block(settings: Settings) -> dict[str, Any]:
    """The reconcile's state (reconcile.status_block) over a command's Redis client."""
    from oceane_ticket import connections

    client = connections.redis_client(settings, purpose="command")
    try:
        return reconcile.status_block(settings, client)
    finally:
        client.close()


def status_block(settings: Settings) -> dict[str, Any]:
    """The ``events`` block of ``status --json``; ``{"error": ...}`` when the database does not answer."""
    block: dict[str, Any] = {"reconcile": reconcile_block(settings)}
    try:
        block.update(counts=event_counts(settings), alarm_gone_ticket_open=alarm_gone_ticket_open(settings))
    except Exception as exc:
        block["error"] = f"database unavailable: {type(exc).__name__}"
    return block


class EventsCollector:
    """Scrape-time gauges: ``oceane_alarm_events{state}``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One reading; nothing when the database does not answer (QueueCollector reports that)."""
        try:
            counts = event_counts(self.settings)
        except Exception:
            return
        family = GaugeMetricFamily(
            "oceane_alarm_events", "Alarm events per state (pending: not yet applied)", labels=["state"]
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family
        yield from self._reconcile()

    def _reconcile(self) -> Iterator[GaugeMetricFamily]:
        try:
            gone = alarm_gone_ticket_open(self.settings)
        except Exception:
            return
        yield GaugeMetricFamily(
            "oceane_alarm_gone_ticket_open",
            "Tickets whose alarm is known cleared (an event or the reconcile) while Oceane's status is not final",
            value=gone,
        )
        block = reconcile_block(self.settings)
        yield GaugeMetricFamily(
            "oceane_reconcile_enabled", "Whether the reconcile with DataMiner runs", value=int(block["enabled"])
        )
        last = block.get("last_run")
        if last:
            family = GaugeMetricFamily(
                "oceane_reconcile_last_run_tickets",
                "Open tickets the last reconcile asked DataMiner about, by what it said (unknown: it could not say)",
                labels=["result"],
            )
            for result in ("checked", "active", "gone", "unknown"):
                family.add_metric([result], float(last.get(result) or 0))
            yield family
