"""Error answers: one shape (``ErrorOut``), a 422 naming every wrong field, never a traceback."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic.alias_generators import to_camel
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake.models import ErrorOut, TicketIn
from oceane_ticket.request import MAX_ID, InputError
from producer.core import Unavailable


class InputErrors(Exception):
    """Several fields refused at once (each an :class:`InputError`, snake_case field names)."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = list(errors)


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """The JSON answer for an error."""
    body = ErrorOut(error=message, **extra).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status_code, headers=headers)


def _fields_error(problems: Mapping[str, str]) -> JSONResponse:
    fields = list(problems)
    message = "; ".join(f"{field}: {why}" for field, why in problems.items())
    return error_response(422, message, field=fields[0] if fields else None, fields=fields)


def all_problems(
    build: Callable[[Mapping[str, Any]], Any], raw: Mapping[str, Any], stand_ins: Mapping[str, Any]
) -> list[InputError]:
    """Every field ``build`` refuses, not only the first.

    Each refused field is replaced by a valid stand-in and ``build`` runs again, until it accepts or
    refuses a field twice.
    """
    data = dict(raw)
    problems: dict[str, InputError] = {}
    while True:
        try:
            build(data)
        except InputError as exc:
            if exc.field in problems or exc.field not in stand_ins:
                problems.setdefault(exc.field, exc)
                return list(problems.values())
            problems[exc.field] = exc
            data[exc.field] = stand_ins[exc.field]
        else:
            return list(problems.values())


_BODY_FIELDS = sorted(to_camel(name) for name in TicketIn.model_fields)
_OPTIONAL_BODY = {to_camel(n) for n, f in TicketIn.model_fields.items() if not f.is_required()}
_ID_FIELDS = {"dmaId", "elementId", "alarmId"}


def _describe(field: str, errors: list[dict[str, Any]]) -> str:
    """One field's problem in words (a union type reports one error per member: one message here)."""
    kinds = {e.get("type") for e in errors}
    if "missing" in kinds:
        return "is required"
    if "extra_forbidden" in kinds:
        return "is not a field of this request; allowed: " + ", ".join(_BODY_FIELDS)
    if "json_invalid" in kinds:
        return "must be valid JSON"
    if kinds & {"model_attributes_type", "dict_type", "model_type"}:
        return "must be a JSON object"
    if field in _ID_FIELDS:
        return f"must be a whole number from 0 to {MAX_ID} (a JSON number or a string of digits)"
    if field == "priority":
        return "must be a string or a whole number (one of GET /form's priority values)"
    if kinds == {"string_type"}:
        return "must be a string" + (" or null" if field in _OPTIONAL_BODY else "")
    return str(errors[0].get("msg", "is invalid"))  # pydantic's words; never the input itself


def _validation_error(exc: RequestValidationError) -> JSONResponse:
    by_field: dict[str, list[dict[str, Any]]] = {}
    for err in exc.errors():
        loc = list(err.get("loc", ()))[1:]  # drop "body" / "query" / "path"
        field = str(loc[0]) if loc and isinstance(loc[0], str) else "body"
        by_field.setdefault(field, []).append(err)
    return _fields_error({field: _describe(field, errors) for field, errors in by_field.items()})


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def _on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_error(exc)

    @app.exception_handler(InputError)
    async def _on_input(_request: Request, exc: InputError) -> JSONResponse:
        return _fields_error({to_camel(exc.field): exc.message})

    @app.exception_handler(InputErrors)
    async def _on_inputs(_request: Request, exc: InputErrors) -> JSONResponse:
        return _fields_error({to_camel(e.field): e.message for e in exc.errors})

    @app.exception_handler(Unavailable)
    async def _on_unavailable(_request: Request, exc: Unavailable) -> JSONResponse:
        return error_response(503, str(exc), headers={"Retry-After": "5"}, service=exc.service)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8, not JSON): that is invalid
            # input like any other, so it gets the documented 422 naming the field.
            return error_response(422, "the body must be a JSON object in UTF-8", field="body", fields=["body"])
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))
