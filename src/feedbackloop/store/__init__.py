"""Persistence: SQLAlchemy models, Alembic migrations and the tenant-scoped repository."""

from __future__ import annotations

from feedbackloop import pandas_options  # noqa: F401  (before any frame is built)
from feedbackloop.config.settings import Settings
from feedbackloop.store.db import Database
from feedbackloop.store.repo import DEFAULT_TENANT, Store, TenantRef, utcnow

__all__ = ["DEFAULT_TENANT", "Database", "Store", "TenantRef", "open_store", "utcnow"]


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Open the configured database, migrating it on first use."""
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    if migrate:
        db.ensure_schema()
    return Store(db)
