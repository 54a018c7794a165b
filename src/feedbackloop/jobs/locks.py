"""A database lock per job name, so two processes never run the same tenant's job at once.

A lock is a lease row in ``job_locks`` (name, owner, expires_at): taken with one INSERT … ON CONFLICT
DO UPDATE … WHERE the holder's lease ran out (or it is ours), which SQLite and PostgreSQL both run
atomically. A crashed holder's lock frees itself when its lease expires.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from feedbackloop.store import Store, utcnow
from feedbackloop.store.service_models import JobLockRow

__all__ = ["JobLock", "default_owner"]

_TABLE = cast(sa.Table, JobLockRow.__table__)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobLock:
    """Leases on named jobs held by one ``owner``."""

    def __init__(self, store: Store, owner: str | None = None) -> None:
        self.store = store
        self.owner = owner or default_owner()

    def acquire(self, name: str, ttl: timedelta) -> bool:
        """Take (or renew) the lease on ``name``; False when another owner holds an unexpired one."""
        now = utcnow()
        with self.store.db.engine.begin() as conn:
            insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            stmt = insert(_TABLE)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
                where=sa.or_(_TABLE.c.expires_at < now, _TABLE.c.owner == self.owner),
            )
            # RETURNING, not rowcount: psycopg reports a row for an upsert whose WHERE declined it.
            row = conn.execute(
                stmt.returning(_TABLE.c.owner), {"name": name, "owner": self.owner, "expires_at": now + ttl}
            ).first()
            return row is not None

    def release(self, name: str) -> None:
        with self.store.db.engine.begin() as conn:
            conn.execute(sa.delete(_TABLE).where(_TABLE.c.name == name, _TABLE.c.owner == self.owner))

    @contextmanager
    def held(self, name: str, ttl: timedelta) -> Iterator[bool]:
        """``with lock.held(name, ttl) as got:`` — run the body only if ``got``; released after."""
        got = self.acquire(name, ttl)
        try:
            yield got
        finally:
            if got:
                self.release(name)
