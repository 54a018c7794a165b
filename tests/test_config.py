"""Settings: sources, precedence, masking, and every error reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedbackloop.config.settings import load_settings, masked
from feedbackloop.errors import ConfigError


def test_defaults_put_sqlite_under_home(isolated_home: Path) -> None:
    settings = load_settings()
    assert settings.home == isolated_home
    assert settings.effective_database_url == f"sqlite:///{isolated_home / 'feedbackloop.db'}"


def test_toml_file_is_read_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "feedbackloop.toml").write_text(
        '[feedbackloop]\nlog_level = "DEBUG"\ndatabase_url = "sqlite:///from-file.db"\n'
    )
    monkeypatch.setenv("FEEDBACKLOOP_DATABASE_URL", "sqlite:///from-env.db")
    settings = load_settings()
    assert settings.log_level == "DEBUG"
    assert settings.database_url == "sqlite:///from-env.db"


def test_all_errors_are_reported_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "feedbackloop.toml").write_text('colour = "blue"\n')
    monkeypatch.setenv("FEEDBACKLOOP_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("FEEDBACKLOOP_DATABASE_URL", "mysql://db/x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "FEEDBACKLOOP_LOG_LEVEL" in message
    assert "FEEDBACKLOOP_DATABASE_URL: uses 'mysql'" in message
    assert "colour: is not a known setting" in message
    assert "Traceback" not in message


def test_unreadable_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "feedbackloop.toml").write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings()


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_SECRET_KEY", "hunter2")
    monkeypatch.setenv("FEEDBACKLOOP_HUBSPOT_CLIENT_SECRET", "shh")
    monkeypatch.setenv("FEEDBACKLOOP_DATABASE_URL", "postgresql://user:pw@db/x")
    shown = masked(load_settings())
    assert shown["secret_key"] == "********"
    assert shown["hubspot_client_secret"] == "********"
    assert "pw" not in shown["database_url"]
    assert "hunter2" not in repr(load_settings())
