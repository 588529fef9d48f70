"""DataMiner's answer to "is this alarm still active?", read through Web Services v1. No Celery, no database.

The reconcile (oceane_ticket/reconcile.py) asks, per element with open tickets, two documented methods
(SkylineCommunications/dataminer-docs, develop/webservices/WS_v1/):

- ``GetElement`` (``WS_Methods_v1/GetElement.md``: input ``connection``, ``dmaID``, ``elementID``; output a
  ``DMAElement``, ``WS_CustomDataTypes_v1/DMAElement.md``: ``DataMinerID``, ``ID``, ``State``, ...): proof that
  DataMiner knows the element and that it runs. What ``GetActiveAlarmsForElement`` answers for an element
  it does not know is not documented (an empty list would read as "every alarm gone"), so an element
  is only judged once ``GetElement`` has named it, with the ``State`` ``Active``;
- ``GetActiveAlarmsForElement`` (``WS_Methods_v1/GetActiveAlarmsForElement.md``: the same input; output
  ``GetActiveAlarmsForElementResult``, an array of ``DMAAlarm``, ``WS_CustomDataTypes_v1/DMAAlarm.md``:
  ``DataMinerID``, ``ElementID``, ``ID`` (the alarm), ``RootAlarmID`` (the first alarm of the tree),
  ``IsCleared`` (DataMiner 9.5.5+), ...). Every JSON answer is wrapped as ``{"d": ...}``
  (``WS_About_v1/Using_the_Web_Services_v1.md``).

Our rows name an alarm by its root alarm ID (``[ROOTKEY]``, docs/oceane-api.md §5), while each update of
an alarm tree gets a new alarm ID: an alarm of ours is active when an active ``DMAAlarm`` of its element
has it as ``RootAlarmID``, or, for a row that was given an alarm ID instead, as ``ID``. Matching either
only ever keeps a ticket open; it never invents a clear. An entry with ``IsCleared`` true is cleared.

Anything else (DataMiner unreachable, a fault, an element it does not name, an answer we cannot read)
proves nothing: :class:`AlarmStateUnknown`, and the reconcile changes nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from oceane_ticket.alarm_writer import WebServicesWriter, WritebackError
from oceane_ticket.settings import Settings

GET_ELEMENT = "GetElement"
GET_ACTIVE_ALARMS = "GetActiveAlarmsForElement"
# DMAElement.State of an element whose alarms DataMiner evaluates; a stopped or paused element's
# list of active alarms says nothing about whether the alarm condition went away.
ELEMENT_ACTIVE = "active"


class AlarmStateUnknown(Exception):
    """DataMiner could not say (unreachable, a fault, an unknown or inactive element); one safe line."""


class AlarmStateReader(Protocol):
    """Which alarms of one element DataMiner reports active."""

    def active_alarm_ids(self, dma_id: int, element_id: int) -> frozenset[int]:
        """Every ``ID`` and ``RootAlarmID`` of the element's active, not cleared, alarms.

        Raises:
            AlarmStateUnknown: no answer that proves anything.
        """

    def close(self) -> None:
        """Release pooled connections."""


def unavailable_reason(settings: Settings) -> str | None:
    """Why the reconcile cannot ask DataMiner with these settings; None when it can."""
    if settings.reconcile_interval <= 0:
        return "OCEANE_RECONCILE_INTERVAL is 0"
    if settings.alarm_writer == "none":
        return "OCEANE_ALARM_WRITER=none: no way to ask DataMiner which alarms are active"
    if settings.alarm_writer == "udapi":
        return (
            "OCEANE_ALARM_WRITER=udapi: the User-Defined API has no documented way to list active alarms;"
            " the reconcile needs OCEANE_ALARM_WRITER=webservices"
        )
    return None


def make_reader(settings: Settings) -> AlarmStateReader | None:
    """The reader for these settings, or None when the reconcile is off (:func:`unavailable_reason`)."""
    if unavailable_reason(settings) is not None:
        return None
    return WebServicesAlarmState(WebServicesWriter(settings))


class WebServicesAlarmState:
    """:class:`AlarmStateReader` over the write-back's Web Services connection (``ConnectApp`` account)."""

    def __init__(self, client: WebServicesWriter) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"WebServicesAlarmState({self.client!r})"

    def close(self) -> None:
        """Close the client's pooled connections."""
        self.client.close()

    def active_alarm_ids(self, dma_id: int, element_id: int) -> frozenset[int]:
        """``GetElement`` (the element is known and active), then ``GetActiveAlarmsForElement``."""
        where = f"element {dma_id}/{element_id}"
        parameters = {"dmaID": dma_id, "elementID": element_id}
        element = self._call(GET_ELEMENT, parameters, where)
        _check_element(element, dma_id, element_id, where)
        alarms = self._call(GET_ACTIVE_ALARMS, parameters, where)
        return _active_ids(alarms, where)

    def _call(self, method: str, parameters: dict[str, Any], where: str) -> Any:
        try:
            return self.client.call(method, parameters)
        except WritebackError as exc:
            raise AlarmStateUnknown(f"{method} for {where}: {exc}") from None


def _check_element(element: Any, dma_id: int, element_id: int, where: str) -> None:
    if not isinstance(element, dict):
        raise AlarmStateUnknown(f"DataMiner does not name {where} (GetElement answered no DMAElement)")
    if _int(element.get("ID")) != element_id or _int(element.get("DataMinerID")) != dma_id:
        raise AlarmStateUnknown(f"GetElement for {where} answered another element")
    state = element.get("State")
    if not isinstance(state, str) or state.strip().lower() != ELEMENT_ACTIVE:
        raise AlarmStateUnknown(f"{where} is not active in DataMiner (State {str(state)[:40]!r})")


def _active_ids(alarms: Any, where: str) -> frozenset[int]:
    if not isinstance(alarms, list):
        raise AlarmStateUnknown(f"GetActiveAlarmsForElement for {where} answered no array of DMAAlarm")
    active: set[int] = set()
    for alarm in alarms:
        ids = (_int(alarm.get("ID")), _int(alarm.get("RootAlarmID"))) if isinstance(alarm, dict) else (None, None)
        if ids[0] is None or ids[1] is None:
            # One unreadable entry could be the very alarm we look for: the whole answer proves nothing.
            raise AlarmStateUnknown(f"GetActiveAlarmsForElement for {where} listed an alarm without ID/RootAlarmID")
        if alarm.get("IsCleared") is True:
            continue
        active.update(i for i in ids if i is not None)
    return frozenset(active)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
