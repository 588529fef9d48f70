"""The producer's path stays light: a real `create` loads no Celery, SQLAlchemy, HTTP client or worker code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("celery", "kombu", "sqlalchemy", "sqlmodel", "alembic", "requests", "requests_oauthlib", "oauthlib",
         "urllib3", "worker", "rich", "prometheus_client", "flower")  # fmt: skip

SCRIPT = """
import json, sys
from cli.main import main
code = main(["create", "--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=n", "--priority", "1",
             "--urgency", "Major", "--technical-impact", "Major", "--json"])
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_create_imports_nothing_heavy(redis_url: str, real_redis: object, sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")}
    env |= {"OCEANE_REDIS_URL": redis_url, "OCEANE_DATABASE_URL": sqlite_url, "OCEANE_QUEUE": "oceane.imports-test"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert sorted(set(result["modules"]) & set(HEAVY)) == []
