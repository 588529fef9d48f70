"""Sentinel and multi-host PostgreSQL settings: how they are read, refused, and turned into connections."""

from __future__ import annotations

import pytest

from oceane_ticket import connections
from oceane_ticket.settings import SettingsError
from oceane_ticket.storage import urls
from tests.conftest import make_settings

MULTI = "postgresql+psycopg://u:pw@/oceane?host=db1:5432&host=db2:6543&target_session_attrs=read-write"


def test_multi_host_url_becomes_libpq_lists() -> None:
    uri = urls.libpq_uri(MULTI)
    assert uri.startswith("postgresql://u:pw@/oceane?")
    assert "host=db1,db2" in uri and "port=5432,6543" in uri and "target_session_attrs=read-write" in uri


def test_single_host_url_is_left_as_it_is() -> None:
    assert urls.libpq_uri("postgresql+psycopg://u@h:5/db") == "postgresql://u@h:5/db"


def test_connect_args_ask_for_synchronous_commits_unless_the_url_sets_options() -> None:
    assert urls.connect_args(MULTI)["options"] == urls.SESSION_OPTIONS
    assert "options" not in urls.connect_args(MULTI + "&options=-csynchronous_commit%3Dlocal")


def test_a_bad_host_entry_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match=r"OCEANE_DATABASE_URL.*host entry 'db1:x'"):
        make_settings(database_url="postgresql+psycopg://u@/db?host=db1:x")


def test_sentinels_without_a_master_name_are_refused() -> None:
    with pytest.raises(SettingsError, match="OCEANE_REDIS_SENTINEL_MASTER"):
        make_settings(redis_sentinels="s1:26379")


def test_a_bad_sentinel_entry_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"OCEANE_REDIS_SENTINELS.*'s1'"):
        make_settings(redis_sentinels="s1", redis_sentinel_master="m")


def test_broker_goes_through_every_sentinel_with_the_url_db_and_password() -> None:
    settings = make_settings(
        redis_url="redis://:p%40ss@ignored/4",
        redis_sentinels="s1:26379, s2:26380",
        redis_sentinel_master="oceane",
        redis_sentinel_password="sentinel-secret",
    )
    assert connections.broker_url(settings) == "sentinel://:p%40ss@s1:26379/4;sentinel://:p%40ss@s2:26380/4"
    options = connections.broker_transport_options(settings, "worker")
    assert options["master_name"] == "oceane"
    assert options["sentinel_kwargs"]["password"] == "sentinel-secret"
    assert "sentinel-secret" not in repr(settings)


def test_without_sentinels_the_broker_is_the_redis_url() -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:6379/3")
    assert connections.broker_url(settings) == "redis://127.0.0.1:6379/3"
    assert "master_name" not in connections.broker_transport_options(settings, "command")
