"""Opening the database: engine options per backend, migrations on first use.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so the CLI, the service and the worker
can share one file. PostgreSQL is used through its URL as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from feedbackloop.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "Database", "alembic_config", "create_db_engine"]

_MIGRATIONS = Path(__file__).parent / "migrations"

#: The newest migration's revision id. Every command checks the schema against it; reading it from the
#: migration scripts would import Alembic (and Mako, Pygments) on every start, ~0.2 s. A test checks it
#: is Alembic's head, so a new migration cannot be forgotten here.
HEAD_REVISION = "service_tables"


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
    from alembic.config import Config

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
        """The schema's revision (None before the first migration), read without loading Alembic."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def head_revision(self) -> str:
        return HEAD_REVISION

    def upgrade(self) -> tuple[str | None, str | None]:
        """Migrate to the newest schema; returns (before, after) revisions. Idempotent."""
        try:
            from alembic import command

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
