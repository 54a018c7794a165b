"""service tables: api keys, job locks, outcome ledger, oauth states, worker heartbeats, analysis requests

Revision ID: service_tables
Revises: 0001
Create Date: 2026-11-24 15:50:00

APScheduler's own job table (``apscheduler_jobs``) is created by its SQLAlchemyJobStore on start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "service_tables"
down_revision = "0001"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=24), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("last_used_at", _TZ, nullable=True),
        _tenant_fk("api_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_job_locks"),
    )
    op.create_table(
        "outcome_ledger",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("applied_at", _TZ, nullable=False),
        _tenant_fk("outcome_ledger"),
        sa.PrimaryKeyConstraint("tenant_id", "deal_id", "outcome", name="pk_outcome_ledger"),
    )
    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=True),
        sa.Column("tenant_name", sa.String(length=100), nullable=True),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name="pk_oauth_states"),
    )
    op.create_table(
        "worker_heartbeats",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("beat_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_worker_heartbeats"),
    )
    op.create_table(
        "analysis_requests",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", _TZ, nullable=False),
        sa.Column("due_at", _TZ, nullable=False),
        _tenant_fk("analysis_requests"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_analysis_requests"),
    )


def downgrade() -> None:
    for table in (
        "analysis_requests",
        "worker_heartbeats",
        "oauth_states",
        "outcome_ledger",
        "job_locks",
        "api_keys",
    ):
        op.drop_table(table)
