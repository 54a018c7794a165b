"""One JSON error handler: every 4xx/5xx is ``{"error": code, "message": ...}``, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from feedbackloop.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    FeedbackloopError,
    InputError,
    SignatureError,
    StoreError,
    UsageError,
    WebhookError,
)
from feedbackloop.webhooks.requests import (
    Forbidden,
    Unauthorized,
    UnknownTenant,
    UnsupportedMediaType,
)

__all__ = ["error_status", "register_error_handlers"]

log = logging.getLogger(__name__)

# Most specific first.
_STATUS: list[tuple[type[FeedbackloopError], int, str]] = [
    (SignatureError, 401, "invalid_signature"),
    (Unauthorized, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (UnsupportedMediaType, 415, "unsupported_media_type"),
    (UnknownTenant, 404, "unknown_tenant"),
    (InputError, 400, "bad_request"),
    (WebhookError, 400, "bad_request"),
    (UsageError, 400, "bad_request"),
    (AuthError, 502, "crm_auth_failed"),
    (ConnectorError, 502, "crm_error"),
    (ConfigError, 503, "not_configured"),
    (StoreError, 503, "store_unavailable"),
]


def error_status(exc: FeedbackloopError) -> tuple[int, str]:
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal_error"


def _reply(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(FeedbackloopError)
    def _ours(exc: FeedbackloopError) -> tuple[Response, int]:
        status, code = error_status(exc)
        if status >= 500:
            log.warning("request failed: %s", exc)
        return _reply(status, code, str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        return _reply(status, code, exc.description or exc.name or "error")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.error("unexpected error", exc_info=exc)
        return _reply(500, "internal_error", "an unexpected error occurred; see the server log")
