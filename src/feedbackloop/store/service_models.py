"""Tables of the web service and scheduler (issue 7), on the store's metadata.

Kept apart from ``models.py`` so the service's schema lands as one additive migration
(``service_tables``): API keys (hashed), job locks, the outcome ledger, OAuth install states, worker
heartbeats and debounced analysis requests.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from feedbackloop.store.models import TENANT_FK, Base, UtcDateTime

__all__ = [
    "AnalysisRequest",
    "ApiKeyRow",
    "JobLockRow",
    "OAuthStateRow",
    "OutcomeLedgerRow",
    "WorkerHeartbeat",
]


class ApiKeyRow(Base):
    """A selection-API key of a tenant: only its SHA-256 is kept; the prefix finds the row."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(24), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class JobLockRow(Base):
    """A lease: one owner runs the named job until ``expires_at`` (renewed while it runs)."""

    __tablename__ = "job_locks"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutcomeLedgerRow(Base):
    """A deal outcome the optimizer has learned from: written with the inbox status, once per outcome."""

    __tablename__ = "outcome_ledger"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    deal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[int | None] = mapped_column(Integer)
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OAuthStateRow(Base):
    """An OAuth ``state`` in flight (stored by its hash), with the PKCE verifier, until it expires."""

    __tablename__ = "oauth_states"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    verifier: Mapped[str | None] = mapped_column(Text)
    tenant_name: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WorkerHeartbeat(Base):
    """The last time each inbox worker was alive (``/healthz`` reads it)."""

    __tablename__ = "worker_heartbeats"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AnalysisRequest(Base):
    """A debounced request to re-analyse a tenant and write back, due at ``due_at``."""

    __tablename__ = "analysis_requests"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
