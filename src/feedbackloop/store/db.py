"""Opening the database: engine options per backend, migrations on first use.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so the CLI, the service and the worker
can share one file. PostgreSQL is used through its URL as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.errors import StoreError

__all__ = ["Database", "alembic_config", "create_db_engine"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def create_db_engine(url: str) -> Engine:
    """An engine for ``url`` with the options this project relies on."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs our migrations on ``engine`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


class Database:
    """The store's database: an engine, a session factory and the schema version."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = create_db_engine(url)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open database: {exc.__class__.__name__}: {exc}") from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.sessions()

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def upgrade(self) -> tuple[str | None, str | None]:
        """Migrate to the newest schema; returns (before, after) revisions. Idempotent."""
        try:
            before = self.current_revision()
            command.upgrade(alembic_config(self.engine), "head")
            return before, self.current_revision()
        except OperationalError as exc:
            raise StoreError(f"cannot migrate database {self.safe_url}: {exc.orig}") from None

    def ensure_schema(self) -> None:
        """Migrate on first use (or after an upgrade of feedbackloop)."""
        try:
            current = self.current_revision()
        except OperationalError as exc:
            raise StoreError(f"cannot connect to database {self.safe_url}: {exc.orig}") from None
        if current != self.head_revision():
            self.upgrade()

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
