"""``/tables``: the connector's Tickets and Failed Ticket Requests tables, page by page, for DataMiner's GQI.

The kit's "Oceane Tables" data sources (dataminer/scripts/OceaneTables.cs) read these with the intake's
token and show them in Dashboards and Low-Code Apps. Newest first; ``next`` is the offset of the following
page (null on the last), so a reader pages without counting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic.alias_generators import to_camel
from starlette.concurrency import run_in_threadpool

from intake.deps import SettingsDep
from intake.models import AUTH, INVALID, UNAVAILABLE, TablePage
from oceane_ticket.settings import Settings
from oceane_ticket.statuses import Status
from oceane_ticket.storage.columns import FAILED_TICKET_REQUESTS_TABLE, TICKET_REPORT_COLUMNS
from producer.core import Unavailable

# SQLAlchemy, SQLModel and the models are imported by the reads below, at the first page asked for:
# they are most of the intake's memory, and POST /tickets never needs them (docs/performance.md, row 8).

MAX_PAGE = 500

router = APIRouter(prefix="/tables", tags=["tables"])


def _value(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value


def _tickets(settings: Settings, offset: int, limit: int, status: Status | None) -> list[dict[str, Any]]:
    from oceane_ticket.storage import db, reads

    with db.session(settings.database_url) as s:
        tickets = reads.list_tickets(s, limit, status, offset=offset)
        return [{to_camel(c): _value(getattr(t, c)) for c in TICKET_REPORT_COLUMNS} for t in tickets]


def _failed(settings: Settings, offset: int, limit: int) -> list[dict[str, Any]]:
    from oceane_ticket.storage import db, reads

    rows = []
    with db.session(settings.database_url) as s:
        for failure, ticket_id in reads.list_failed(s, limit, offset=offset):
            row = {to_camel(c): _value(getattr(failure, c)) for c in FAILED_TICKET_REQUESTS_TABLE}
            row["ticketId"] = failure.ticket_id or ticket_id
            rows.append(row)
    return rows


async def _page(read: Any, offset: int, limit: int) -> JSONResponse:
    import sqlalchemy.exc

    try:
        # One row more than asked: whether a next page exists, without a COUNT.
        rows = await run_in_threadpool(read, offset, limit + 1)
    except sqlalchemy.exc.OperationalError as exc:
        raise Unavailable("database", type(exc).__name__) from None
    page = TablePage(rows=rows[:limit], offset=offset, limit=limit, next=offset + limit if len(rows) > limit else None)
    return JSONResponse(page.model_dump())


OFFSET = Query(0, ge=0, le=10_000_000, description="rows to skip (newest first)")
LIMIT = Query(100, ge=1, le=MAX_PAGE, description=f"rows per page (at most {MAX_PAGE})")


@router.get(
    "/tickets",
    response_model=TablePage,
    responses={**AUTH, **INVALID, **UNAVAILABLE},
    summary="The Tickets table, newest first",
)
async def tickets(
    settings: SettingsDep, offset: int = OFFSET, limit: int = LIMIT, status: Status | None = None
) -> JSONResponse:
    """The connector's Tickets columns, then the write-back state and Oceane's status."""
    return await _page(lambda o, n: _tickets(settings, o, n, status), offset, limit)


@router.get(
    "/failed-requests",
    response_model=TablePage,
    responses={**AUTH, **INVALID, **UNAVAILABLE},
    summary="The Failed Ticket Requests table, newest first",
)
async def failed_requests(settings: SettingsDep, offset: int = OFFSET, limit: int = LIMIT) -> JSONResponse:
    """The connector's Failed Ticket Requests columns."""
    return await _page(lambda o, n: _failed(settings, o, n), offset, limit)
