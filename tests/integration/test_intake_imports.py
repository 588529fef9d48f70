"""The intake's process stays light: serving POST /tickets loads no SQLAlchemy, ORM, Oceane HTTP client or Celery.

Those libraries were about 30 MB of the intake's memory (docs/performance.md, row 8), loaded at start by
the listener, the alarm events, the tables and the hub's callback path; they now load at the first call
that needs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "requests", "requests_oauthlib", "oauthlib", "celery", "kombu", "worker")

SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
before = set(sys.modules)
import cli.main  # what `oceane-ticket serve` loads before its command runs
from intake.app import create_app
from oceane_ticket.settings import get_settings
with TestClient(create_app(get_settings())) as client:
    answer = client.post("/tickets", json={"dmaId": 1, "elementId": 2, "alarmId": 3, "elementName": "n",
                                           "priority": "1", "urgency": "Major", "technicalImpact": "Major"},
                         headers={"Authorization": "Bearer " + "t" * 32})
loaded = sorted({m.split(".")[0] for m in set(sys.modules) - before})
print(json.dumps({"status": answer.status_code, "before": sorted({m.split(".")[0] for m in before}), "loaded": loaded}))
"""


def test_serving_tickets_imports_nothing_heavy(
    redis_url: str, real_redis: object, sqlite_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")}
    env |= {
        "OCEANE_REDIS_URL": redis_url,
        "OCEANE_DATABASE_URL": sqlite_url,
        "OCEANE_QUEUE": "oceane.imports-test",
        "OCEANE_INTAKE_TOKEN": "t" * 32,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 201
    assert sorted(set(result["before"]) & set(HEAVY)) == []  # the test client itself loads none of them
    assert sorted(set(result["loaded"]) & set(HEAVY)) == []
