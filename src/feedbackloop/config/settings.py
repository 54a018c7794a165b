"""Process settings: environment variables ``FEEDBACKLOOP_*`` over an optional ``feedbackloop.toml``.

Precedence, highest first: explicit overrides (tests, CLI flags), environment, the TOML file, defaults.
The TOML file is ``$FEEDBACKLOOP_CONFIG`` if set, else ``./feedbackloop.toml``, else
``$FEEDBACKLOOP_HOME/feedbackloop.toml``. Every problem is reported at once in one :class:`ConfigError`,
because fixing configuration one error per run is miserable.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from feedbackloop.errors import ConfigError

__all__ = ["Settings", "config_file_path", "load_settings", "masked"]

_PREFIX = "FEEDBACKLOOP_"


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("feedbackloop", appauthor=False))


class Settings(BaseSettings):
    """Effective settings of one feedbackloop process."""

    model_config = SettingsConfigDict(env_prefix=_PREFIX, extra="forbid", validate_default=True)

    home: Path = Field(default_factory=_default_home, description="data directory")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under home")
    secret_key: SecretStr | None = Field(
        default=None, description="encrypts credentials at rest; default a generated 0600 key file"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    hubspot_client_id: str | None = None
    hubspot_client_secret: SecretStr | None = None
    salesforce_client_id: str | None = None
    salesforce_client_secret: SecretStr | None = None
    public_url: str = Field(default="http://127.0.0.1:8000", description="where CRMs reach `serve`")

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("database_url", mode="after")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "is not a database URL such as sqlite:///path.db or postgresql://host/db"
            ) from None
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError(f"uses {url.get_backend_name()!r}; only sqlite and postgresql are supported")
        return value

    @model_validator(mode="after")
    def _home_is_directory(self) -> Settings:
        if self.home.exists() and not self.home.is_dir():
            raise ValueError(f"home {self.home} exists and is not a directory")
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL in force: the configured one or SQLite under home."""
        return self.database_url or f"sqlite:///{self.home / 'feedbackloop.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env or secrets-dir sources: the environment and the TOML file are the contract.
        del dotenv_settings, file_secret_settings
        return (init_settings, env_settings, _TomlSource(settings_cls))


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file; keys are the setting names without the prefix."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        del field
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_file_path()
        if path is None:
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        section = data.get("feedbackloop", data)
        if not isinstance(section, dict):
            raise ConfigError(f"config file {path}: [feedbackloop] must be a table")
        return section


def config_file_path() -> Path | None:
    """The TOML file in force, or None when there is none."""
    explicit = os.environ.get(f"{_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"FEEDBACKLOOP_CONFIG points to {path}, which is not a file")
        return path
    candidates = [Path.cwd() / "feedbackloop.toml"]
    home = os.environ.get(f"{_PREFIX}HOME")
    candidates.append((Path(home).expanduser() if home else _default_home()) / "feedbackloop.toml")
    return next((p for p in candidates if p.is_file()), None)


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ())) or "settings"
    name = f"{_PREFIX}{location.upper()}" if location != "settings" else location
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "is not a known setting"
        name = location
    elif error.get("type") == "literal_error":
        message = f"must be one of the allowed values ({message.split('Input should be ')[-1]})"
    return f"{name}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Load settings from all sources, or raise one :class:`ConfigError` naming every problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [_describe(dict(e)) for e in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain values, with every secret masked."""
    out: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            out[name] = "********" if value.get_secret_value() else ""
        elif isinstance(value, Path):
            out[name] = str(value)
        else:
            out[name] = value
    out["effective_database_url"] = _mask_url(settings.effective_database_url)
    if settings.database_url:
        out["database_url"] = _mask_url(settings.database_url)
    file = config_file_path()
    out["config_file"] = str(file) if file else None
    return out


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
