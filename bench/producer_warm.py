"""Row 2: ``create_ticket()`` called many times in one process (the warm producer).

Floor: the same INSERT of a ticket row and the same LPUSH of a job message, on a psycopg
connection and a redis-py client opened once. Calls alternate in blocks between the two, so
machine noise hits both alike.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

from bench.common import REDIS, Row, fresh_database, libpq, make_settings, median, ms, p99, redis_client

QUEUE = "bench.warm"
BLOCK = 50


def run(size: str) -> list[Row]:
    """Row 2."""
    import psycopg

    from oceane_ticket import jobs
    from oceane_ticket.storage import direct
    from producer import create_ticket

    n = 1000 if size == "full" else 20
    with fresh_database() as url:
        settings = make_settings(database_url=url, redis_url=REDIS, queue=QUEUE)
        r = redis_client()
        conn = psycopg.connect(libpq(url), autocommit=True)
        insert = direct._sql(direct.INSERT_REQUEST, "postgresql")
        ours: list[float] = []
        floor: list[float] = []
        alarm = 0

        def one_ours() -> None:
            nonlocal alarm
            alarm += 1
            start = time.perf_counter()
            create_ticket(
                {"dma_id": 1, "element_id": 2, "alarm_id": alarm, "element_name": "bench"},
                priority="1",
                urgency="Major",
                technical_impact="Major",
                settings=settings,
            )
            ours.append(time.perf_counter() - start)

        def one_floor() -> None:
            nonlocal alarm
            alarm += 1
            now = datetime.now(UTC)
            instance = uuid.uuid4().hex
            values = {
                "instance": instance, "alarm_id": alarm, "dma_id": 1, "element_id": 2, "element_name": "bench",
                "created_at": now, "priority": "1", "urgency": "Major", "technical_impact": "Major",
                "client_impact": None, "root_cause": "bench", "status": "queued", "user": None,
                "oceane_user_id": "sandbox-user", "alarm_value": None, "root_time": None, "updated_at": now,
                "attempts": 0, "retries_used": 0, "adopted": False, "writeback_state": "none",
                "origin": "operator", "released_at": now,
            }  # fmt: skip
            start = time.perf_counter()
            conn.execute(insert, values)
            r.lpush(QUEUE, json.dumps(jobs.task_message(jobs.TASK_CREATE, [instance], QUEUE)))
            floor.append(time.perf_counter() - start)

        try:
            for _ in range(5):  # warm both: imports, connections
                one_ours()
                one_floor()
            ours.clear()
            floor.clear()
            while len(ours) < n:
                for _ in range(min(BLOCK, n - len(ours))):
                    one_ours()
                for _ in range(min(BLOCK, n - len(floor))):
                    one_floor()
        finally:
            conn.close()
            r.delete(QUEUE)
            from oceane_ticket.storage import db

            db.dispose_all()
    return [
        Row(
            "2",
            f"producer warm: create_ticket() x {n} in one process",
            ms(median(ours)),
            "ms",
            floor=ms(median(floor)),
            p99=ms(p99(ours)),
            floor_p99=ms(p99(floor)),
            target=3.0,
            note="floor = INSERT + LPUSH per request on open connections",
        ).judge()
    ]
