"""``GET /healthz`` (database, worker heartbeat, inbox backlog) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from feedbackloop.store import utcnow
from feedbackloop.store.service_models import WorkerHeartbeat
from feedbackloop.webhooks.context import service

__all__ = ["HEARTBEAT_STALE", "bp"]

bp = Blueprint("health", __name__)

#: A worker that has not beaten for this long is reported as stale.
HEARTBEAT_STALE = timedelta(seconds=60)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    ctx = service()
    report: dict[str, object] = {}
    try:
        with ctx.store.db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            beats = conn.execute(sa.select(WorkerHeartbeat.name, WorkerHeartbeat.beat_at)).all()
        counts = ctx.inbox.counts()
    except SQLAlchemyError:
        return jsonify({"status": "fail", "database": "unreachable"}), 503
    now = utcnow()
    latest = max((b.beat_at for b in beats), default=None)
    if latest is not None and latest.tzinfo is None:
        latest = latest.replace(tzinfo=now.tzinfo)
    worker_ok = latest is not None and now - latest < HEARTBEAT_STALE
    ctx.metrics.inbox_backlog.set(counts["pending"])
    report = {
        "status": "ok" if worker_ok else "degraded",
        "database": "ok",
        "worker": {
            "alive": worker_ok,
            "last_heartbeat": latest.isoformat() if latest else None,
        },
        "inbox": {"backlog": counts["pending"], "dead": counts["dead"], "done": counts["done"]},
    }
    # Degraded (no worker) still answers 200: the web part serves; the body says what is missing.
    return jsonify(report), 200


@bp.get("/metrics")
def metrics() -> Response:
    ctx = service()
    with contextlib.suppress(SQLAlchemyError):
        ctx.metrics.inbox_backlog.set(ctx.inbox.counts()["pending"])
    return Response(generate_latest(ctx.metrics.registry), content_type=CONTENT_TYPE_LATEST)
