"""Settings: defaults from the connector, named errors, secrets never shown."""

from __future__ import annotations

import pytest

from cli.main import BAD_SETTING, main
from oceane_ticket.settings import SettingsError, load_settings
from tests.conftest import make_settings


def test_connector_defaults() -> None:
    s = make_settings()
    assert (s.retry_count, s.ticket_retention_days, s.ticket_max_count, s.debug_page) == (1, 90, 1000, False)
    assert s.effective_token_url == "http://127.0.0.1:8090/oauth/v3/token"
    assert s.priorities == ("1", "2", "3", "4")
    assert s.urgencies == s.technical_impacts == s.client_impacts == ("Critical", "Major", "Minor", "None")


def test_lists_and_user_map_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCEANE_PRIORITIES", "P1, P2")
    monkeypatch.setenv("OCEANE_URGENCIES", '["High", "Low"]')
    monkeypatch.setenv("OCEANE_USER_MAP", "alice=U-1,bob=U-2")
    s = load_settings()
    assert s.priorities == ("P1", "P2") and s.urgencies == ("High", "Low")
    # Read only by `db upgrade` / `users import-env`, which copy the pairs into oceane_users.
    assert s.user_map == {"alice": "U-1", "bob": "U-2"}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OCEANE_RETRY_COUNT": "-1"}, "OCEANE_RETRY_COUNT"),
        ({"OCEANE_RETRY_COUNT": "many"}, "OCEANE_RETRY_COUNT"),
        ({"OCEANE_BASE_URL": "oceane.example"}, "OCEANE_BASE_URL"),
        ({"OCEANE_TICKET_URL_TEMPLATE": "https://x/ticket"}, "OCEANE_TICKET_URL_TEMPLATE"),
        ({"OCEANE_DATABASE_URL": "mysql://x"}, "OCEANE_DATABASE_URL"),
        ({"OCEANE_PRIORITIES": " , "}, "OCEANE_PRIORITIES"),
        ({"OCEANE_HTTP_TIMEOUT": "30"}, "OCEANE_LOCK_TIMEOUT"),
        ({"OCEANE_DEBUG_PAGE": "perhaps"}, "OCEANE_DEBUG_PAGE"),
    ],
)
def test_an_invalid_setting_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()
    assert main(["tickets"]) == BAD_SETTING
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


def test_repr_and_dump_never_show_secrets() -> None:
    s = make_settings(
        client_secret="s3cr3t-value",
        redis_url="redis://:redispw@h:6379/0",
        database_url="postgresql+psycopg://u:dbpw@h/db",
    )
    text = repr(s) + str(s)
    for secret in ("s3cr3t-value", "redispw", "dbpw"):
        assert secret not in text
    assert "s3cr3t-value" not in repr(s.as_dict())


def test_the_worker_refuses_to_start_on_an_invalid_setting() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    celery = str(Path(sys.executable).with_name("celery"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCEANE_")} | {"OCEANE_RETRY_COUNT": "-1"}
    done = subprocess.run([celery, "-A", "worker", "worker"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "invalid setting OCEANE_RETRY_COUNT" in done.stderr
    assert "Traceback" not in done.stderr
