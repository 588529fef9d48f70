"""The floor of row 3: a bare endpoint on the intake's server (FastAPI under uvicorn, same options)
that does the same INSERT of a ticket row and the same LPUSH, on pooled connections, in the threadpool.

Run as ``python bench/intake_floor.py PORT`` with ``OCEANE_DATABASE_URL`` and ``OCEANE_REDIS_URL`` set.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from oceane_ticket import jobs
from oceane_ticket.storage import direct

DSN = os.environ["OCEANE_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
QUEUE = os.environ.get("OCEANE_QUEUE", "bench.intake")
INSERT = direct._sql(direct.INSERT_REQUEST, "postgresql")
POOL: queue.LifoQueue[Any] = queue.LifoQueue()
R = redis.Redis.from_url(os.environ["OCEANE_REDIS_URL"])
app = FastAPI()


def record(body: dict[str, Any]) -> str:
    try:
        conn = POOL.get_nowait()
    except queue.Empty:
        conn = psycopg.connect(DSN, autocommit=True)
    try:
        now = datetime.now(UTC)
        instance = uuid.uuid4().hex
        values = {
            "instance": instance, "alarm_id": int(body["alarmId"]), "dma_id": int(body["dmaId"]),
            "element_id": int(body["elementId"]), "element_name": body["elementName"], "created_at": now,
            "priority": body["priority"], "urgency": body["urgency"], "technical_impact": body["technicalImpact"],
            "client_impact": None, "root_cause": "bench", "status": "queued", "user": None,
            "oceane_user_id": "sandbox-user", "alarm_value": None, "root_time": None, "updated_at": now,
            "attempts": 0, "retries_used": 0, "adopted": False, "writeback_state": "none",
            "origin": "operator", "released_at": now,
        }  # fmt: skip
        conn.execute(INSERT, values)
        R.lpush(QUEUE, json.dumps(jobs.task_message(jobs.TASK_CREATE, [instance], QUEUE)))
        return instance
    finally:
        POOL.put(conn)


@app.post("/floor", status_code=201)
async def floor(request: Request) -> JSONResponse:
    body = await request.json()
    instance = await run_in_threadpool(record, body)
    return JSONResponse({"instance": instance, "status": "queued"}, status_code=201)


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=True,
        log_level="info",
        server_header=False,
        proxy_headers=False,
    )
