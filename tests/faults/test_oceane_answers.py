"""What Oceane answers, end to end through a real worker.

429 waits its Retry-After; 401 code 42 renews the token without spending a retry; 500, 503 and
timeouts retry with backoff up to OCEANE_RETRY_COUNT and then fail with the four error columns
filled; 400 and 403 fail at once; malformed, non-JSON and HTML answers are recorded readably.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.faults.kit import alarm_params

pytestmark = pytest.mark.integration


def _failures(stack: Any, instance: str) -> list[dict[str, Any]]:
    from sqlalchemy import text

    from oceane_ticket.storage import db

    with db.get_engine(stack.pg_url).connect() as conn:
        query = text("SELECT * FROM failed_ticket_requests WHERE instance = :i ORDER BY id")
        return [dict(r) for r in conn.execute(query, {"i": instance}).mappings()]


def test_429_waits_its_retry_after(stack: Any, ledger: Any) -> None:
    book = ledger("429 Retry-After: 2 -> waits 2 s, then creates")
    stack.worker()
    stack.sandbox.force(429, group="create", count=1, retry_after=2)
    instance = book.accept(stack.submit(alarm_params(10)))
    book.finish(timeout=30)
    [failure] = _failures(stack, instance)
    assert (failure["http_error_code"], failure["app_error_code"], failure["final"]) == (429, "53", False)
    done = stack.row(instance)
    waited = (done["updated_at"] - failure["failed_at"]).total_seconds()
    assert waited >= 1.9, f"retried after {waited:.2f} s although Oceane asked for 2 s"


@pytest.mark.parametrize("how", ["expired-token", "forced-401-42"])
def test_401_code_42_renews_the_token_without_spending_a_retry(stack: Any, ledger: Any, how: str) -> None:
    book = ledger(f"401 code 42 ({how}) -> new token, no retry spent")
    stack.configure(retry_count=0)  # a spent retry would turn this into a failure
    stack.worker()
    first = book.accept(stack.submit(alarm_params(20)))
    book.finish(timeout=30, check=False)
    if how == "expired-token":
        assert stack.sandbox.expire_tokens() == 1
    else:
        stack.sandbox.force(401, 42, group="create", count=1)
    second = book.accept(stack.submit(alarm_params(21)))
    book.finish(timeout=30)
    assert stack.row(second)["retries_used"] == 0 and stack.row(first)["retries_used"] == 0
    assert book.failures() == []
    assert stack.sandbox.state()["tokens_issued"] == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("status", "code", "retries"),
    [(500, 1, 2), (503, 5, 1)],
    ids=["500", "503"],
)
def test_5xx_retries_with_backoff_then_fails_with_the_four_columns(
    stack: Any, ledger: Any, status: int, code: int, retries: int
) -> None:
    book = ledger(f"{status} every time, retry count {retries} -> {retries + 1} attempts, failed")
    stack.configure(retry_count=retries)
    stack.worker()
    stack.sandbox.force(status, code, group="create", count=None, message="Injected", description="boom")
    instance = book.accept(stack.submit(alarm_params(30)), expect="failed")
    book.finish(timeout=40)
    rows = _failures(stack, instance)
    assert [r["final"] for r in rows] == [False] * retries + [True]
    assert {(r["http_error_code"], r["app_error_code"], r["error_message"], r["error_description"]) for r in rows} == {
        (status, str(code), "Injected", "boom")
    }
    assert stack.sandbox.state()["create_calls"] == retries + 1
    # Backoff: each retry waited (the attempts are spread out, not back to back).
    gaps = [(b["failed_at"] - a["failed_at"]).total_seconds() for a, b in itertools.pairwise(rows)]
    assert all(gap >= 0.2 for gap in gaps), gaps


@pytest.mark.slow
def test_timeouts_retry_then_fail(stack: Any, ledger: Any) -> None:
    timeout = stack.settings.http_timeout
    book = ledger(f"timeouts (no answer within {timeout:g} s) -> retried, failed")
    stack.worker()
    # The create is held well past the worker's read timeout and then refused, so no ticket ever
    # exists: every attempt is a timeout, and each retry looks the externalId up first and finds nothing.
    stack.sandbox.set_faults(latency={"create": 6 * timeout}, forced={"create": {"status": 503, "count": None}})
    instance = book.accept(stack.submit(alarm_params(40)), expect="failed")
    book.finish(timeout=40)
    rows = _failures(stack, instance)
    assert [(r["http_error_code"], r["app_error_code"], r["error_message"]) for r in rows] == [(0, "", "Timeout")] * 2
    assert f"within {timeout:g} s" in rows[-1]["error_description"]  # the stored error says how long we waited
    state = stack.sandbox.state()
    assert state["create_calls"] == 2 and state["find_calls"] == 1  # the retry looked up first


@pytest.mark.parametrize(("status", "code"), [(400, 24), (403, 50)], ids=["400", "403"])
def test_400_and_403_fail_at_once(stack: Any, ledger: Any, status: int, code: int) -> None:
    book = ledger(f"{status} code {code} -> failed at once, no retry")
    stack.configure(retry_count=3)
    stack.worker()
    stack.sandbox.force(status, code, group="create", count=None)
    instance = book.accept(stack.submit(alarm_params(50)), expect="failed")
    book.finish(timeout=30)
    [failure] = _failures(stack, instance)
    assert (failure["http_error_code"], failure["app_error_code"], failure["final"]) == (status, str(code), True)
    assert stack.row(instance)["retries_used"] == 0
    assert stack.sandbox.state()["create_calls"] == 1


def test_401_code_41_gets_one_new_token_then_fails(stack: Any, ledger: Any) -> None:
    book = ledger("401 code 41 -> one new token, then failed")
    stack.configure(retry_count=3)
    stack.worker()
    stack.sandbox.force(401, 41, group="create", count=None)
    instance = book.accept(stack.submit(alarm_params(55)), expect="failed")
    book.finish(timeout=30)
    [failure] = _failures(stack, instance)
    assert (failure["http_error_code"], failure["app_error_code"]) == (401, "41")
    state = stack.sandbox.state()
    assert (state["create_calls"], state["tokens_issued"]) == (2, 2)


MALFORMED = {
    "502 HTML page": ({"status": 502, "kind": "html"}, 502, "HTML page: 502 Bad Gateway"),
    "503 empty body": ({"status": 503, "kind": "empty"}, 503, "empty body"),
    "201 truncated JSON": ({"status": 201, "kind": "truncated_json"}, 201, "non-JSON body"),
    "500 text with NUL": (
        {"status": 500, "body": "Oops \x00\xff plain text", "content_type": "text/plain"},
        500,
        "non-JSON body: Oops",
    ),
    "201 with a 100-char ticket id": (
        {
            "status": 201,
            "content_type": "application/json",
            "body": json.dumps({"id": "X" * 100, "status": "acknowledged", "externalId": "12/345/60"}),
        },
        201,
        "ticket id",
    ),
    "201 with NUL in the ticket id": (
        {
            "status": 201,
            "content_type": "application/json",
            "body": json.dumps({"id": "21\u0000M1", "status": "acknowledged"}),
        },
        201,
        "ticket id",
    ),
}


@pytest.mark.parametrize("what", list(MALFORMED))
def test_malformed_answers_are_recorded_readably(stack: Any, ledger: Any, what: str) -> None:
    fault, http, description = MALFORMED[what]
    book = ledger(f"malformed create answer ({what}) -> readable failure")
    stack.worker()
    stack.sandbox.set_faults(malformed={"group": "create", **fault})
    instance = book.accept(stack.submit(alarm_params(60)), expect="failed")
    book.finish(timeout=30)
    rows = _failures(stack, instance)
    assert rows and all(r["http_error_code"] == http for r in rows)
    assert description in rows[-1]["error_description"], rows[-1]
    assert "Traceback" not in stack.logs()


def test_malformed_token_answer_is_recorded_readably(stack: Any, ledger: Any) -> None:
    book = ledger("malformed token answer (200 HTML) -> readable failure")
    stack.worker()
    stack.sandbox.set_faults(malformed={"group": "token", "status": 200, "kind": "html"})
    instance = book.accept(stack.submit(alarm_params(70)), expect="failed")
    book.finish(timeout=30)
    final = _failures(stack, instance)[-1]
    assert (final["http_error_code"], final["error_message"]) == (200, "Malformed token answer")
    assert "HTML page" in final["error_description"]


def test_error_body_with_control_characters_is_stored(stack: Any, ledger: Any) -> None:
    book = ledger("400 whose JSON description holds NUL -> readable failure")
    stack.worker()
    stack.sandbox.force(
        400, 24, group="create", count=None, message="Bad\x00field", description="priority\x00\x07 is bad"
    )
    instance = book.accept(stack.submit(alarm_params(80)), expect="failed")
    book.finish(timeout=30)
    [failure] = _failures(stack, instance)
    assert (failure["error_message"], failure["error_description"]) == ("Bad\ufffdfield", "priority\ufffd\ufffd is bad")
