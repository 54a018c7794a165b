"""The live dashboard as a Flask blueprint at ``/`` (``?tenant=NAME``, else the only tenant).

The store comes from the service's context (``app.extensions["feedbackloop"].store``), else from
``app.config["FEEDBACKLOOP_STORE"]``, else the configured store is opened once. The page shows the
latest recorded analysis (what `feedbackloop analyze` and the scheduler saved); before the first run it
computes one without recording it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, request

from feedbackloop.dashboard.render import dashboard_html
from feedbackloop.errors import FeedbackloopError
from feedbackloop.store import Store

__all__ = ["blueprint", "current_store"]

blueprint = Blueprint("dashboard", __name__)


def current_store() -> Store:
    """The store of the app handling this request."""
    ctx: Any = current_app.extensions.get("feedbackloop")
    if ctx is not None and isinstance(getattr(ctx, "store", None), Store):
        store: Store = ctx.store
        return store
    configured = current_app.config.get("FEEDBACKLOOP_STORE")
    if isinstance(configured, Store):
        return configured
    from feedbackloop.config.settings import load_settings
    from feedbackloop.store import open_store

    opened = open_store(load_settings())
    current_app.config["FEEDBACKLOOP_STORE"] = opened
    return opened


def _page(status: int, title: str, text: str) -> Response:
    from html import escape

    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title></head>"
        f'<body style="font-family:system-ui,sans-serif;padding:20px"><h1>{escape(title)}</h1>'
        f'<p class="placeholder">{escape(text)}</p></body></html>'
    )
    return Response(body, status=status, content_type="text/html; charset=utf-8")


@blueprint.get("/")
def index() -> Response:
    store = current_store()
    name = request.args.get("tenant") or None
    tenants = store.list_tenants()
    if not tenants:
        return _page(200, "feedbackloop", "Not enough data yet: no tenant. Import or connect a CRM first.")
    try:
        tenant = store.resolve_tenant(name, create=False)
    except FeedbackloopError as exc:
        names = ", ".join(t.name for t in tenants)
        return _page(404 if name else 400, "feedbackloop", f"{exc} (tenants: {names}; add ?tenant=NAME)")
    html = dashboard_html(store, tenant, datetime.now(UTC), prefer_recorded=True)
    return Response(html, content_type="text/html; charset=utf-8")
