"""``GET /``: a small status page (a replaceable blueprint; the dashboard issue swaps it out)."""

from __future__ import annotations

from html import escape

from flask import Blueprint, Response

from feedbackloop import __version__
from feedbackloop.webhooks.context import service

__all__ = ["bp"]

bp = Blueprint("status", __name__)


@bp.get("/")
def index() -> Response:
    ctx = service()
    tenants = ctx.store.list_tenants()
    counts = ctx.inbox.counts()
    rows = "".join(f"<tr><td>{escape(t.name)}</td><td>{escape(t.provider)}</td></tr>" for t in tenants)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>feedbackloop</title></head><body>"
        f"<h1>feedbackloop {escape(__version__)}</h1>"
        f"<p>Inbox: {counts['pending']} pending, {counts['done']} done, {counts['dead']} dead.</p>"
        f"<table><tr><th>Tenant</th><th>CRM</th></tr>{rows}</table>"
        "<p><a href='/healthz'>health</a> · <a href='/metrics'>metrics</a></p></body></html>"
    )
    return Response(page, content_type="text/html; charset=utf-8")
