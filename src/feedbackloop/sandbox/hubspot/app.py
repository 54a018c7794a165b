"""The emulated HubSpot API as a Flask app: auth, rate limits, faults and call counting around the routes.

Every API request passes, in order: call counting, bearer-token check (401 like HubSpot), the rate
limiter (search 5 / s, everything else 110 / 10 s rolling; 429 with ``policyName``), then fault injection.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from feedbackloop.sandbox.faults import CallStats, FaultInjector, endpoint_key
from feedbackloop.sandbox.hubspot.admin import AdvanceListener, admin_blueprint, advance
from feedbackloop.sandbox.hubspot.events import WebhookSender
from feedbackloop.sandbox.hubspot.limiter import RollingLimiter
from feedbackloop.sandbox.hubspot.oauth import MISSING_SCOPES_MESSAGE, TokenStore, oauth_blueprint
from feedbackloop.sandbox.hubspot.options import HubSpotOptions
from feedbackloop.sandbox.hubspot.portal import Portal
from feedbackloop.sandbox.hubspot.routes_associations import associations_blueprint
from feedbackloop.sandbox.hubspot.routes_meta import meta_blueprint
from feedbackloop.sandbox.hubspot.routes_objects import objects_blueprint
from feedbackloop.sandbox.hubspot.routes_schemas import schemas_blueprint
from feedbackloop.sandbox.hubspot.scopes import required_scopes
from feedbackloop.sandbox.hubspot.wire import HubSpotError, error_response
from feedbackloop.sandbox.serving import reset_connection

__all__ = ["HubSpotSandbox", "create_hubspot_app", "sandbox_of"]

_TYPE_PARAMS = ("objectType", "fromObjectType", "toObjectType")
_AUTH_MESSAGES = {
    "INVALID_AUTHENTICATION": "Authentication credentials not found. This API supports OAuth 2.0 "
    "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    "EXPIRED_AUTHENTICATION": "The OAuth token used to make this call expired.",
}


@dataclass
class HubSpotSandbox:
    """Everything one emulated portal holds; reachable from the app as ``sandbox_of(app)``."""

    portal: Portal
    options: HubSpotOptions
    tokens: TokenStore
    stats: CallStats
    faults: FaultInjector
    burst: RollingLimiter
    search: RollingLimiter
    webhooks: WebhookSender | None
    listeners: list[AdvanceListener] = field(default_factory=list)

    def advance(self, days: float) -> dict[str, Any]:
        """Advance the world (and every listening sandbox); queue the webhook events; return a summary."""
        summary, events = advance(self.portal, days, self.listeners)
        if self.webhooks is not None and events:
            self.webhooks.submit(events)
        return summary

    def reset(self) -> None:
        """Back to the world's start: writes, counts, faults and rate-limit windows cleared."""
        self.portal.reset()
        self.stats.reset()
        self.faults.configure(0.0)
        for limiter, limit in (
            (self.burst, self.options.burst_limit),
            (self.search, self.options.search_limit),
        ):
            limiter.limit = limit
            limiter.reset()

    def close(self) -> None:
        if self.webhooks is not None:
            self.webhooks.close()


def sandbox_of(app: Flask) -> HubSpotSandbox:
    sandbox = app.extensions["hubspot_sandbox"]
    assert isinstance(sandbox, HubSpotSandbox)
    return sandbox


def _check_scopes(sandbox: HubSpotSandbox, token: str, key: str) -> None:
    """403 ``MISSING_SCOPES`` when an OAuth token lacks every scope the endpoint accepts."""
    granted = sandbox.tokens.scopes_of(token)
    rule = request.url_rule
    if granted is None or rule is None:
        return
    with sandbox.portal.lock:
        needed = required_scopes(
            request.method,
            rule.rule.replace("<", "").replace(">", ""),
            request.view_args or {},
            sandbox.portal.resolve_type,
        )
    if needed and not set(needed) & set(granted):
        sandbox.stats.record(key)
        raise HubSpotError(
            403,
            MISSING_SCOPES_MESSAGE,
            "MISSING_SCOPES",
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": needed},
                }
            ],
            extra={"links": {"scopes": "https://developers.hubspot.com/scopes"}},
        )


def _rate_limited(policy: str) -> Response:
    response = jsonify(
        {
            "status": "error",
            "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": str(uuid.uuid4()),
        }
    )
    response.status_code = 429
    return response


def create_hubspot_app(
    world: Any,
    options: HubSpotOptions | None = None,
    *,
    lock: threading.RLock | None = None,
    faults: FaultInjector | None = None,
) -> Flask:
    """A Flask app emulating one HubSpot portal over ``world`` (shared with other sandboxes via ``lock``)."""
    options = options or HubSpotOptions()
    portal = Portal(world, options, lock)
    with portal.lock:
        portal.built()
    sandbox = HubSpotSandbox(
        portal=portal,
        options=options,
        tokens=TokenStore(options),
        stats=CallStats(),
        faults=faults or FaultInjector(seed=options.fault_seed),
        burst=RollingLimiter(options.burst_limit, options.burst_window_seconds, options.clock),
        search=RollingLimiter(options.search_limit, options.search_window_seconds, options.clock),
        webhooks=WebhookSender(options, options.webhook_url) if options.webhook_url else None,
    )
    app = Flask("feedbackloop.sandbox.hubspot")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["hubspot_sandbox"] = sandbox
    app.register_blueprint(oauth_blueprint(sandbox.tokens))
    app.register_blueprint(objects_blueprint(portal))
    app.register_blueprint(associations_blueprint(portal))
    app.register_blueprint(meta_blueprint(portal))
    app.register_blueprint(schemas_blueprint(portal))
    app.register_blueprint(admin_blueprint(sandbox))

    @app.before_request
    def gatekeeper() -> Response | None:
        if request.path.startswith("/_sandbox"):
            return None
        key = endpoint_key(_TYPE_PARAMS)
        is_oauth = request.path.startswith("/oauth")
        if not is_oauth:
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            problem = sandbox.tokens.check(token)
            if problem:
                sandbox.stats.record(key)
                raise HubSpotError(401, _AUTH_MESSAGES[problem], problem)
            _check_scopes(sandbox, token, key)
            is_search = request.method == "POST" and key.endswith("/search")
            decision = (sandbox.search if is_search else sandbox.burst).take()
            g.rate_decision = None if is_search else decision
            if not decision.allowed:
                sandbox.stats.record(key, rate_limited=True)
                return _rate_limited("SECONDLY" if is_search else "TEN_SECONDLY_ROLLING")
        sandbox.stats.record(key)
        fault = sandbox.faults.draw()
        if fault == "slow":
            time.sleep(sandbox.faults.slow_seconds)
        elif fault == "429":
            return _rate_limited("TEN_SECONDLY_ROLLING")
        elif fault == "500":
            raise HubSpotError(500, "internal error", "INTERNAL_ERROR")
        elif fault == "reset":
            reset_connection(request.environ)
            return Response(status=500)
        return None

    @app.after_request
    def rate_headers(response: Response) -> Response:
        decision = g.get("rate_decision")
        if decision is not None:
            response.headers["X-HubSpot-RateLimit-Max"] = str(decision.limit)
            response.headers["X-HubSpot-RateLimit-Remaining"] = str(decision.remaining)
            response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(decision.window_ms)
        return response

    @app.errorhandler(HubSpotError)
    def hubspot_error(exc: HubSpotError) -> Response:
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        category = "OBJECT_NOT_FOUND" if exc.code == 404 else "VALIDATION_ERROR"
        return error_response(HubSpotError(exc.code or 500, exc.description or exc.name, category))

    @app.errorhandler(ValueError)
    def bad_value(exc: ValueError) -> Response:
        return error_response(HubSpotError(400, f"Invalid input: {exc}"))

    return app
