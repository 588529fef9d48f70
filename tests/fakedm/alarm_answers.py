"""The fake DataMiner's Web Services v1 alarm reads, answered as SkylineCommunications/dataminer-docs documents them.

- ``GetElement`` (develop/webservices/WS_v1/WS_Methods_v1/GetElement.md): input ``connection``, ``dmaID``,
  ``elementID``; output ``{"d": DMAElement}`` with the fields of WS_CustomDataTypes_v1/DMAElement.md.
- ``GetActiveAlarmsForElement`` (WS_Methods_v1/GetActiveAlarmsForElement.md): the same input; output
  ``{"d": [DMAAlarm, ...]}`` with the fields of WS_CustomDataTypes_v1/DMAAlarm.md (``ID`` the alarm,
  ``RootAlarmID`` the first alarm of its tree, ``IsCleared``...).

Objects carry ASP.NET's ``__type`` with the namespace of the JSON examples (WS_About_v1/WS_v1_examples.md,
``Skyline.DataMiner.Web.Common.v1``). Faults are the server's ASP.NET JSON fault (HTTP 500
``{"Message", "ExceptionType", "StackTrace"}``): a lapsed connection says "No connection available"
(Using_the_Web_Services_v1.md), a missing parameter is ASP.NET's own "Invalid web service call, missing
value for parameter". What DataMiner answers for an element it does not know is not documented: this
fake answers a fault, and the service never relies on it (it asks GetElement first and judges only a
DMAElement that names the element).
"""

from __future__ import annotations

from typing import Any

METHODS = ("GetElement", "GetActiveAlarmsForElement")
NAMESPACE = "Skyline.DataMiner.Web.Common.v1."
ELEMENT_NAME = "Encoder {dma}/{element}"
# 2026-11-27 08:12:00 UTC, the sample alarm's root time, in the documented milliseconds since 1970.
ROOT_TIME_UTC = 1_795_767_120_000


def _fault(message: str, exception_type: str) -> tuple[int, Any]:
    return 500, {"Message": message, "ExceptionType": exception_type, "StackTrace": ""}


def unknown_connection(state: Any, data: dict[str, Any]) -> tuple[int, Any] | None:
    """Web Services' fault for a call whose ``connection`` is not one ConnectApp gave out, or None."""
    connection = data.get("connection")
    with state.lock:
        known = isinstance(connection, str) and connection in state.connections
    if known:
        return None
    return _fault(
        "No connection available. The connection may have expired; call ConnectApp again.",
        "Skyline.DataMiner.Web.Common.DataMinerSecurityException",
    )


def answer(state: Any, method: str, data: dict[str, Any]) -> tuple[int, Any]:
    """The HTTP status and JSON body of one alarm read (``state``: the server's ``_State``)."""
    refused = unknown_connection(state, data)
    if refused is not None:
        return refused
    ids: list[int] = []
    for name in ("dmaID", "elementID"):
        value = data.get(name)
        if value is None:
            return _fault(
                f"Invalid web service call, missing value for parameter: '{name}'.", "System.InvalidOperationException"
            )
        if isinstance(value, bool) or not isinstance(value, int):
            return _fault(
                f"Cannot convert object of type '{type(value).__name__}' to type 'System.Int32'",
                "System.InvalidOperationException",
            )
        ids.append(value)
    dma, element = ids
    with state.lock:
        element_state = state.elements.get((dma, element))
        alarms = {k[2]: dict(v) for k, v in state.active_alarms.items() if k[:2] == (dma, element)}
    if element_state is None:
        return _fault(f"Element {dma}/{element} not found.", "Skyline.DataMiner.Web.Common.DataMinerException")
    if method == "GetElement":
        return 200, {"d": _element(dma, element, element_state)}
    return 200, {"d": [_alarm(dma, element, root, alarm) for root, alarm in sorted(alarms.items())]}


def _element(dma: int, element: int, state: str) -> dict[str, Any]:
    return {
        "__type": NAMESPACE + "DMAElement",
        "DataMinerID": dma,
        "ID": element,
        "Name": ELEMENT_NAME.format(dma=dma, element=element),
        "Description": "",
        "AlarmState": "Normal",
        "AlarmStateCappedIncluded": "",
        "AlarmStateCappedNotUsed": "",
        "IsTimeout": False,
        "Views": [],
        "Services": [],
        "ProtocolName": "Generic Encoder",
        "ProtocolVersion": "1.0.0.1",
        "State": state,
        "IsCPE": False,
        "IsSLA": False,
        "IsSpectrum": False,
        "IsDVE": False,
        "IsDerived": False,
        "IsMonitored": True,
        "HasTrendTemplate": False,
        "HideParameters": False,
        "Type": "Element",
        "PollingIP": "127.0.0.1",
        "ProtocolType": "snmp",
        "LastChangeUTC": ROOT_TIME_UTC,
        "IsEnhancedService": False,
        "IsServiceTemplate": False,
    }


def _alarm(dma: int, element: int, root: int, alarm: dict[str, Any]) -> dict[str, Any]:
    return {
        "__type": NAMESPACE + "DMAAlarm",
        "DataMinerID": dma,
        "HostingAgentID": dma,
        "ID": alarm["ID"],
        "RootAlarmID": root,
        "ElementID": element,
        "ElementName": ELEMENT_NAME.format(dma=dma, element=element),
        "IsElementMasked": False,
        "ParameterID": 2,
        "ParameterName": "Input Signal",
        "TableIndex": "",
        "DisplayValue": "",
        "AlarmState": "Normal" if alarm["IsCleared"] else "Critical",
        "Type": "Cleared" if alarm["IsCleared"] else ("New Alarm" if alarm["ID"] == root else "Escalated From Major"),
        "IsAggregation": False,
        "IsMasked": False,
        "Services": [],
        "TimeOfArrival": "2026-11-27 09:12:00",
        "TimeOfArrivalUTC": ROOT_TIME_UTC,
        "RootTime": "2026-11-27 09:12:00",
        "RootTimeUTC": ROOT_TIME_UTC,
        "IsTrending": False,
        "IsOwner": False,
        "OwnerName": "",
        "LastChangeUTC": ROOT_TIME_UTC,
        "IsCleared": alarm["IsCleared"],
    }
