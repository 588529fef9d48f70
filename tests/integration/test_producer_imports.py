"""The producer's path stays light: `create` loads no Celery, SQLAlchemy, HTTP client, worker code or pydantic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("celery", "kombu", "sqlalchemy", "sqlmodel", "alembic", "requests", "requests_oauthlib", "oauthlib",
         "urllib3", "worker", "rich", "prometheus_client", "flower",
         # The settings are read without a validation framework (bench rows 1 and 8: a third of
         # the process and most of its memory); the intake's FastAPI is another process.
         "pydantic", "pydantic_core", "pydantic_settings", "fastapi", "starlette", "dotenv")  # fmt: skip

SCRIPT = """
import json, sys
from cli.main import main
code = main(["create", "--alarm", "DMA ID=1;Element ID=2;Alarm ID=3;Element Name=n", "--priority", "1",
             "--urgency", "Major", "--technical-impact", "Major", "--json"])
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_create_imports_nothing_heavy(redis_url: str, real_redis: object, sqlite_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")}
    env |= {"OCEANE_REDIS_URL": redis_url, "OCEANE_DATABASE_URL": sqlite_url, "OCEANE_QUEUE": "oceane.imports-test"}
    # From a directory without a .env: reading one is the only time the settings import python-dotenv.
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert sorted(set(result["modules"]) & set(HEAVY)) == []
