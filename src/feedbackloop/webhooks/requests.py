"""Request helpers shared by the blueprints: the public URI a caller signed, JSON bodies, content types."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from flask import request

from feedbackloop.errors import InputError, WebhookError

__all__ = [
    "Forbidden",
    "Unauthorized",
    "UnknownTenant",
    "UnsupportedMediaType",
    "json_body",
    "public_uri",
    "require_content_type",
]


class UnsupportedMediaType(WebhookError):
    """The request's content type is not the one the endpoint accepts (answered 415)."""


class UnknownTenant(InputError):
    """The request names a portal or org that is not installed (answered 404)."""


class Forbidden(WebhookError):
    """The request is authentic but not allowed for this tenant (answered 403)."""


class Unauthorized(WebhookError):
    """Missing or wrong credentials on an API call (answered 401)."""


def public_uri(public_url: str) -> str:
    """The full URL the caller used: ``public_url`` (scheme, host, prefix) + the raw path and query.

    Behind a proxy the scheme and host the CRM signed are not the ones we see, so they come from the
    configured ``FEEDBACKLOOP_PUBLIC_URL``; the path and query are taken raw (as sent, escapes intact).
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        raw = quote(request.path, safe="/:@!$&'()*+,;=-._~")
        query = request.query_string.decode("latin-1")
        if query:
            raw = f"{raw}?{query}"
    return public_url.rstrip("/") + raw


def require_content_type(*accepted: str) -> None:
    """Reject a request whose media type is not one of ``accepted``."""
    if request.mimetype not in accepted:
        raise UnsupportedMediaType(f"expected content type {' or '.join(accepted)}")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(raw: bytes) -> Any:
    """Parse strict JSON (no NaN/Infinity) from raw bytes, or raise :class:`InputError`."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError("the body is not valid JSON") from None
