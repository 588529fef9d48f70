"""The intake's own routes: the dialog's form, the debug values, the health probe."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from intake.deps import ProducerDep, SettingsDep
from intake.errors import error_response
from intake.models import AUTH, FormOut, HealthOut, error_doc

router = APIRouter()


@router.get("/form", response_model=FormOut, responses={**AUTH}, summary="The dialog's fields and allowed values")
async def form(settings: SettingsDep) -> JSONResponse:
    """Allowed values per field, the required ones, and OCEANE_ALARM_WRITER (the scripts follow it)."""
    required = ["priority", "urgency", "technicalImpact"] + (["user"] if settings.require_user_mapping else [])
    data = FormOut(
        priority=list(settings.priorities),
        urgency=list(settings.urgencies),
        technical_impact=list(settings.technical_impacts),
        client_impact=list(settings.client_impacts),
        description_max_length=settings.description_max_length,
        required=required,
        alarm_writer=settings.alarm_writer,
    )
    return JSONResponse(data.model_dump(by_alias=True))


@router.get(
    "/status",
    responses={404: error_doc("OCEANE_DEBUG_PAGE is false"), **AUTH},
    summary="The debug values (as `oceane-ticket status --json`)",
)
async def status(settings: SettingsDep) -> JSONResponse:
    """The processing lock, the pending queue, the counts; 404 unless OCEANE_DEBUG_PAGE."""
    if not settings.debug_page:
        return error_response(404, "the debug values are off (OCEANE_DEBUG_PAGE=false)")
    from oceane_ticket import queue_state  # loaded only when asked for

    data = await run_in_threadpool(queue_state.collect_status, settings)
    return JSONResponse(jsonable_encoder(data))


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Redis or the database is down"}},
    summary="For probes; no token",
)
async def health(producer: ProducerDep) -> JSONResponse:
    """Whether Redis and the database answer."""
    # Unauthenticated: says what is down, not the error text (host names, ports).
    checks = {
        name: "ok" if v == "ok" else "unavailable" for name, v in (await run_in_threadpool(producer.ping)).items()
    }
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)
