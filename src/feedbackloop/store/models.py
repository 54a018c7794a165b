"""SQLAlchemy 2 table models. Every row but a tenant's own carries ``tenant_id``.

Times are stored as timezone-aware UTC. JSON columns hold only JSON-serialisable state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AnalysisRun",
    "Base",
    "Credential",
    "DealRow",
    "DecisionRow",
    "InboxEvent",
    "MessageRow",
    "OptimizerStateRow",
    "SyncStateRow",
    "TemplateRow",
    "TemplateStatusChange",
    "Tenant",
    "WriteBackStateRow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back UTC-aware, on every backend.

    SQLite keeps no offset: without this, 12:00+02:00 would be stored as 12:00 and read back as 12:00
    UTC. Naive values are taken as UTC (the domain's rule for timestamps without an offset).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        del dialect
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        del dialect
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


TENANT_FK = "tenants.id"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    """One connected CRM account (HubSpot portal, Salesforce org) or a CSV-fed workspace."""

    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(20), default="csv")
    external_id: Mapped[str | None] = mapped_column(String(100))
    settings: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Credential(Base):
    """An encrypted secret of a tenant (token, refresh token, webhook secret, API key hash)."""

    __tablename__ = "credentials"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DealRow(Base):
    __tablename__ = "deals"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    deal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    segment: Mapped[str | None] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(128))
    loss_reason: Mapped[str | None] = mapped_column(String(255))
    competitor: Mapped[str | None] = mapped_column(String(128))
    stage_lost: Mapped[str | None] = mapped_column(String(128))
    sequence_id: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(20))
    crm_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_deals_tenant_closed", "tenant_id", "closed_at"),)


class MessageRow(Base):
    __tablename__ = "messages"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deal_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str | None] = mapped_column(String(64))
    template_id: Mapped[str | None] = mapped_column(String(64))
    sequence_id: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20), default="email")
    direction: Mapped[str] = mapped_column(String(10), default="outbound")
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    opened: Mapped[bool | None] = mapped_column(Boolean)
    clicked: Mapped[bool | None] = mapped_column(Boolean)
    replied: Mapped[bool | None] = mapped_column(Boolean)
    response_sentiment: Mapped[float | None] = mapped_column(Float)
    objections: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_messages_tenant_deal", "tenant_id", "deal_id"),)


class TemplateRow(Base):
    __tablename__ = "templates"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TemplateStatusChange(Base):
    """History of every template status change, by the engine or a human."""

    __tablename__ = "template_status_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), index=True)
    template_id: Mapped[str] = mapped_column(String(64))
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(20))  # "engine" | "human"
    reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SyncStateRow(Base):
    """A connector's cursor per stream, as one JSON dict (Singer-style bookmarks)."""

    __tablename__ = "sync_state"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class InboxEvent(Base):
    """A webhook event stored durably before it is processed (at-least-once, idempotent by key)."""

    __tablename__ = "webhook_inbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("tenant_id", "provider", "event_key", name="uq_webhook_inbox_event"),
        Index("ix_webhook_inbox_status", "status", "next_attempt_at"),
    )


class AnalysisRun(Base):
    """One engine run over a tenant's data, with its JSON result."""

    __tablename__ = "analysis_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="analyze")
    as_of: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    result: Mapped[dict[str, object] | None] = mapped_column(JSON)


class DecisionRow(Base):
    """A decision the engine took for a template in a run, with its criteria."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("analysis_runs.id", ondelete="SET NULL"))
    template_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    criteria: Mapped[dict[str, object]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_decisions_tenant_template", "tenant_id", "template_id", "decided_at"),)


class OptimizerStateRow(Base):
    """Optimizer state (JSON) per tenant and name (the bandit, each A/B test, …)."""

    __tablename__ = "optimizer_state"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WriteBackStateRow(Base):
    """What was last written successfully to a CRM record, so only changed values are sent."""

    __tablename__ = "writeback_state"
    tenant_id: Mapped[int] = mapped_column(ForeignKey(TENANT_FK, ondelete="CASCADE"), primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "hubspot:deal"
    record_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value_hash: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[datetime] = mapped_column(UtcDateTime())
