"""The Flask app factory: one blueprint per concern, one JSON error handler, a 1 MB body limit."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, Response, g, request

from feedbackloop.config.settings import Settings
from feedbackloop.crypto import secret_box
from feedbackloop.store import Store, open_store
from feedbackloop.webhooks import health, hubspot, salesforce, status
from feedbackloop.webhooks.context import ServiceContext
from feedbackloop.webhooks.errors import register_error_handlers
from feedbackloop.webhooks.inbox import Inbox

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 1024 * 1024


def _optional_blueprints() -> list[Blueprint]:
    """Blueprints that need optional parts (connectors' OAuth, the optimizer) when those are present."""
    from feedbackloop.webhooks import api, card, oauth

    return [api.bp, card.bp, oauth.bp]


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Callable[[], float] | None = None,
    index: Blueprint | None = None,
    extra: Iterable[Blueprint] = (),
    inbox: Inbox | None = None,
) -> Flask:
    """Build the service app. ``index`` replaces the status page at ``/`` (the dashboard plugs in here)."""
    app = Flask("feedbackloop.webhooks")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    store = store or open_store(settings)
    ctx = ServiceContext(
        settings=settings,
        store=store,
        inbox=inbox or Inbox(store),
        box=secret_box(settings),
        clock=clock or time.time,
    )
    ctx.install(app)
    register_error_handlers(app)
    for bp in [hubspot.bp, salesforce.bp, health.bp, *_optional_blueprints(), *extra]:
        app.register_blueprint(bp)
    app.register_blueprint(index or status.bp)
    _count_requests(app, ctx)
    return app


def _count_requests(app: Flask, ctx: ServiceContext) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        ctx.metrics.requests.labels(endpoint, str(response.status_code)).inc()
        started = g.get("started")
        if started is not None:
            ctx.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response
