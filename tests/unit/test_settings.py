"""Settings: defaults from the connector, named errors, secrets never shown."""

from __future__ import annotations

import os
from pathlib import Path

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


# --- the reader itself: one declaration per setting, read from the environment and .env ---


@pytest.fixture
def bare_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No OCEANE_* variable, and a current directory of our own (no .env unless a test writes one)."""
    for name in list(os.environ):
        if name.upper().startswith("OCEANE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OCEANE_RETRY_COUNT", "21", "invalid setting OCEANE_RETRY_COUNT: must be a whole number >= 0 and <= 20"),
        ("OCEANE_RETRY_COUNT", "1.5", "invalid setting OCEANE_RETRY_COUNT: must be a whole number"),
        ("OCEANE_HTTP_TIMEOUT", "0", "invalid setting OCEANE_HTTP_TIMEOUT: must be a number > 0 and <= 300"),
        ("OCEANE_HTTP_TIMEOUT", "nan", "invalid setting OCEANE_HTTP_TIMEOUT: must be a number"),
        ("OCEANE_LOCK_SCOPE", "cluster", "invalid setting OCEANE_LOCK_SCOPE: must be one of global, alarm"),
        ("OCEANE_ALARM_WRITER", "snmp", "invalid setting OCEANE_ALARM_WRITER: must be one of none, udapi, webservices"),
        ("OCEANE_DEBUG_PAGE", "maybe", "invalid setting OCEANE_DEBUG_PAGE: must be true or false"),
        ("OCEANE_USER_MAP", "alice", "invalid setting OCEANE_USER_MAP: expected JSON or name=oceane_user_id pairs"),
        ("OCEANE_URGENCIES", "[not json", "invalid setting OCEANE_URGENCIES: must be a JSON array"),
        ("OCEANE_REDIS_URL", "http://h", "invalid setting OCEANE_REDIS_URL: must be a redis://, rediss:// or unix://"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_and_what_is_allowed(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(message)


def test_every_bad_value_is_reported_at_once_and_none_is_echoed(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCEANE_RETRY_COUNT", "-1")
    monkeypatch.setenv("OCEANE_DATABASE_URL", "mysql://u:dbpw@h/db")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "invalid setting OCEANE_RETRY_COUNT",
        "invalid setting OCEANE_DATABASE_URL",
    ]
    assert "dbpw" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [(t, True) for t in ("true", "True", "1", "yes", "YES", "on", " y ")]
    + [(t, False) for t in ("false", "FALSE", "0", "no", "off", "Off", "n")],
)
def test_booleans_take_the_usual_spellings(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, text: str, value: bool
) -> None:
    monkeypatch.setenv("OCEANE_DEBUG_PAGE", text)
    assert load_settings().debug_page is value


def test_dotenv_is_read_and_a_variable_wins_over_it(bare_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (bare_env / ".env").write_text(
        "# a comment\n"
        "OCEANE_RETRY_COUNT=3\n"
        "OCEANE_QUEUE=from-file\n"
        'export OCEANE_USER_ID="quoted value"  # trailing comment\n'
        "OCEANE_NOT_A_SETTING=whatever\n"
        "FLOWER_BASIC_AUTH=ops:pw\n"
    )
    monkeypatch.setenv("OCEANE_QUEUE", "from-env")
    monkeypatch.setenv("OCEANE_ALSO_NOT_A_SETTING", "x")
    s = load_settings()
    assert (s.retry_count, s.queue, s.user_id) == (3, "from-env", "quoted value")
    assert s.is_set("retry_count") and s.is_set("queue") and not s.is_set("ticket_max_count")
    # Arguments win over both.
    assert load_settings(queue="from-code").queue == "from-code"


def test_a_bad_value_in_dotenv_is_named_too(bare_env: Path) -> None:
    (bare_env / ".env").write_text("OCEANE_TICKET_MAX_COUNT=0\n")
    with pytest.raises(SettingsError, match="invalid setting OCEANE_TICKET_MAX_COUNT: must be a whole number >= 1"):
        load_settings()


def test_no_secret_shows_in_repr_str_or_errors() -> None:
    s = make_settings(
        client_secret="cs-value",
        dataminer_token="tok-value",
        dataminer_password="pw-value",
        intake_token="in-value",
        redis_url="rediss://user:redispw@h:6379/0",
        database_url="postgresql+psycopg://u:dbpw@h/db",
    )
    text = repr(s) + str(s) + str(s.client_secret) + repr(s.intake_token)
    for secret in ("cs-value", "tok-value", "pw-value", "in-value", "redispw", "dbpw"):
        assert secret not in text
    # A dump keeps secrets wrapped (the URLs are plain values there, as in the environment).
    assert not any(secret in repr(s.as_dict()) for secret in ("cs-value", "tok-value", "pw-value", "in-value"))
    assert s.client_secret.get_secret_value() == "cs-value"
    assert s.intake_token.get_secret_value() == "in-value"
    assert "rediss://user:***@h:6379/0" in repr(s)


def test_settings_are_frozen_and_replace_checks_the_new_value() -> None:
    s = make_settings()
    with pytest.raises(AttributeError):
        s.retry_count = 5  # type: ignore[misc]
    assert s.replace(retry_count="5").retry_count == 5 and s.retry_count == 1
    with pytest.raises(SettingsError, match="OCEANE_RETRY_COUNT"):
        s.replace(retry_count=-1)
    with pytest.raises(SettingsError, match="OCEANE_LOCK_TIMEOUT"):
        s.replace(http_timeout=60)


def test_as_env_reproduces_the_settings_in_a_child(bare_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = make_settings(
        client_secret='s,e=c"ret',
        user_map={"alice": "U-1", "bob, jr": "U=2"},
        priorities=("P1", "P,2"),
        debug_page=True,
        require_user_mapping="yes",
        http_timeout=2.5,
        lock_timeout=30,
        lock_scope="alarm",
        alarm_writer="webservices",
        dataminer_url="https://dma.test/",
        dataminer_user="svc",
        dataminer_password="pw",
        database_url="postgres://u:p@h/db",
    )
    for name, value in s.as_env().items():
        monkeypatch.setenv(name, value)
    again = load_settings()
    assert again == s
    assert again.client_secret.get_secret_value() == 's,e=c"ret'
    assert (again.dataminer_url, again.database_url) == ("https://dma.test", "postgresql://u:p@h/db")


def test_an_unknown_setting_in_code_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="retry_cuont"):
        make_settings(retry_cuont=3)


def test_a_misspelt_variable_is_reported_once_naming_the_closest_setting(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Silently ignored, the retry count would stay at its default while the operator believes it is 3.
    monkeypatch.setenv("OCEANE_RETRYCOUNT", "3")
    monkeypatch.setenv("OCEANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")  # the project's own, not a setting
    assert load_settings().retry_count == 1  # a warning, not an error
    load_settings()
    err = capsys.readouterr().err
    assert err.count("OCEANE_RETRYCOUNT") == 1
    assert "OCEANE_RETRY_COUNT" in err
    assert "OCEANE_TEST_REDIS_URL" not in err
