"""The emulated Salesforce org as a Flask app: auth, daily quota, faults and call counting around the routes.

Every ``/services/data`` request passes, in order: bearer-token check (401 ``INVALID_SESSION_ID``), the
daily API allocation (403 ``REQUEST_LIMIT_EXCEEDED``), then fault injection; every answer carries
``Sforce-Limit-Info: api-usage=N/M``. Injected "429" faults answer 503 ``SERVER_UNAVAILABLE``: Salesforce
does not use 429 for API limits (the reference, §7.4: quota is a 403, and there is no Retry-After), and a
503 is what a client sees when an instance sheds load.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from feedbackloop.sandbox.faults import CallStats, FaultInjector, endpoint_key
from feedbackloop.sandbox.salesforce.admin import register_admin
from feedbackloop.sandbox.salesforce.bulk import BulkJobs, register_bulk
from feedbackloop.sandbox.salesforce.oauth import TokenStore, bearer_token, register_oauth
from feedbackloop.sandbox.salesforce.objects import WorldFrames
from feedbackloop.sandbox.salesforce.org import OrgData, OrgOptions
from feedbackloop.sandbox.salesforce.outbound import OutboundSender
from feedbackloop.sandbox.salesforce.rest import CursorStore, SalesforceError, register_rest
from feedbackloop.sandbox.salesforce.rest_writes import register_writes
from feedbackloop.sandbox.salesforce.tooling_routes import register_tooling
from feedbackloop.sandbox.serving import reset_connection

__all__ = ["SalesforceSandbox", "create_salesforce_app", "error_response", "sandbox_of"]

_FILLED = ("sobject",)
MAX_URI = 16_384  # Salesforce refuses longer URIs (reference §4.1: 414/431); long IN lists must be split


class SalesforceSandbox:
    """Everything one emulated org holds; reachable from the app as ``sandbox_of(app)``."""

    def __init__(
        self,
        world: WorldFrames,
        *,
        lock: AbstractContextManager[Any],
        stats: CallStats,
        faults: FaultInjector,
        options: OrgOptions,
        sender: OutboundSender | None,
    ) -> None:
        self.world, self.lock, self.stats, self.faults, self.options = world, lock, stats, faults, options
        self.org = OrgData(world, lock, options)
        self.tokens = TokenStore(options)
        self.cursors = CursorStore()
        self.jobs = BulkJobs(self.org)
        self.sender = sender
        self.base_url = options.instance_url or ""
        self._day = world.now.date()

    def instance_url(self) -> str:
        """The URL clients should call: configured, else the host the current request came to."""
        if self.options.instance_url:
            return self.options.instance_url
        try:
            return request.host_url.rstrip("/")
        except RuntimeError:
            return self.base_url

    def after_advance(self, step: Any) -> int:
        """What the org does after the world moved (call it after ``world.advance``, outside the world
        lock): a new simulated day restores the daily API allocation, the new present is mapped in the
        background, and closed deals are announced as outbound messages. Returns the messages queued."""
        today = self.world.now.date()
        if today != self._day:
            self._day = today
            with self.org.lock:
                self.org.api_used = 0
        threading.Thread(
            target=self.org.rows, args=("Opportunity",), name="salesforce-map", daemon=True
        ).start()
        if self.sender is None or not step.closed_deal_ids:
            return 0
        return self.sender.notify(step.closed_deal_ids)

    def reset(self) -> None:
        """Back to the world's initial present, with no writes, installs, jobs, counts or faults."""
        with self.lock:
            self.world.reset()  # type: ignore[attr-defined]
        self._day = self.world.now.date()
        self.org.reset_writes()
        self.jobs.jobs.clear()
        self.stats.reset()
        self.faults.configure(0.0)

    def close(self) -> None:
        if self.sender is not None:
            self.sender.stop()


def sandbox_of(app: Flask) -> SalesforceSandbox:
    sandbox = app.extensions["salesforce_sandbox"]
    assert isinstance(sandbox, SalesforceSandbox)
    return sandbox


def error_response(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    """Salesforce's REST error body: a JSON list of ``{"message", "errorCode"[, "fields"]}``."""
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields:
        body["fields"] = fields
    return Response(json.dumps([body]), status=status, mimetype="application/json")


def create_salesforce_app(
    world: WorldFrames,
    lock: AbstractContextManager[Any],
    *,
    stats: CallStats,
    faults: FaultInjector,
    outbound_url: str | None = None,
    outbound_verify: bool | str = True,
    **options: Any,
) -> Flask:
    """A Flask app emulating one Salesforce org over ``world`` (shared with the HubSpot sandbox via ``lock``).

    ``options`` are :class:`OrgOptions` fields (``daily_api_limit``, ``token_lifetime_seconds``,
    ``disabled_fields``, ``preinstall``, …). With ``outbound_url``, deals that close when the world
    advances are announced there as outbound messages.
    """
    org_options = OrgOptions(**options)
    sandbox = SalesforceSandbox(
        world, lock=lock, stats=stats, faults=faults, options=org_options, sender=None
    )
    if outbound_url:
        sandbox.sender = OutboundSender(
            outbound_url, sandbox.org, instance_url=sandbox.instance_url, verify=outbound_verify
        ).start()
    sandbox.org.rows("Opportunity")  # map the world now rather than on the first request
    app = Flask("feedbackloop.sandbox.salesforce")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False
    app.extensions["salesforce_sandbox"] = sandbox
    register_oauth(app, sandbox.tokens, sandbox.org.org_id, sandbox.org.user_id, sandbox.instance_url)
    register_rest(app, sandbox.org, sandbox.cursors)
    register_writes(app, sandbox.org)
    register_bulk(app, sandbox.jobs)
    register_tooling(app, sandbox.org)
    register_admin(app, sandbox)

    @app.before_request
    def gatekeeper() -> Response | None:
        if not sandbox.base_url:  # remember where we are served, for outbound messages' EnterpriseUrl
            sandbox.base_url = request.host_url.rstrip("/")
        path = request.path
        if len(request.full_path) > MAX_URI:
            return error_response(414, "URI_TOO_LONG", f"The request URI is longer than {MAX_URI} bytes")
        if path.startswith("/_sandbox") or path == "/services/oauth2/authorize":
            return None
        key = endpoint_key(_FILLED)
        if path.startswith("/services/data/v"):  # the version list is public
            if not sandbox.tokens.valid(bearer_token()):
                sandbox.stats.record(key)
                return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if not sandbox.org.count_api_call():
                sandbox.stats.record(key, rate_limited=True)
                return error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        fault = sandbox.faults.draw()
        sandbox.stats.record(key, rate_limited=fault == "429")
        if fault == "slow":
            time.sleep(sandbox.faults.slow_seconds)
        elif fault == "429":
            return error_response(
                503, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please retry later."
            )
        elif fault == "500":
            return error_response(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you "
                "contact support: 1929384756-12345 (-1029384756)",
            )
        elif fault == "reset":
            reset_connection(request.environ)
            return Response(status=500)
        return None

    @app.after_request
    def limit_header(response: Response) -> Response:
        if request.path.startswith("/services/data"):
            response.headers["Sforce-Limit-Info"] = sandbox.org.limit_info()
        return response

    @app.errorhandler(SalesforceError)
    def salesforce_error(exc: SalesforceError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 404:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        if exc.code == 405:
            return error_response(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed.")
        if (exc.code or 500) >= 500:
            return error_response(exc.code or 500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
        return error_response(exc.code or 400, "INVALID_REQUEST", exc.description or exc.name)

    return app
