"""The sandbox's own control API under ``/_sandbox`` (not Salesforce's; not counted, limited or faulted).

Bodies match the HubSpot sandbox: ``stats``, ``truth`` (template keys as EmailTemplate ids), ``advance``
(``{"days": N}``; deals that close are announced as outbound messages when a receiver is configured),
``faults``, ``reset``; plus ``expire-tokens`` and ``outbound`` for tests of token expiry and delivery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from feedbackloop.errors import FeedbackloopError
from feedbackloop.sandbox.salesforce.objects import sid
from feedbackloop.sandbox.salesforce.rest import SalesforceError, json_response

if TYPE_CHECKING:
    from feedbackloop.sandbox.salesforce.app import SalesforceSandbox

__all__ = ["advance", "register_admin", "truth"]


def truth(sandbox: SalesforceSandbox) -> dict[str, Any]:
    """``world.truth_summary()`` with template keys as the org shows them (EmailTemplate ids)."""
    with sandbox.lock:
        summary = dict(sandbox.world.truth_summary())  # type: ignore[attr-defined]
    templates = summary.get("templates")
    if isinstance(templates, dict):
        summary["templates"] = {sid("EmailTemplate", k): v for k, v in templates.items()}
    return summary


def advance(sandbox: SalesforceSandbox, days: float) -> dict[str, Any]:
    with sandbox.lock:
        step = sandbox.world.advance(days)  # type: ignore[attr-defined]
    messages = sandbox.after_advance(step)
    return {
        "start": str(step.start),
        "end": str(step.end),
        "new_deals": len(step.new_deal_ids),
        "closed_deals": len(step.closed_deal_ids),
        "changed_deals": len(step.changed_deal_ids),
        "outbound_messages": messages,
    }


def register_admin(app: Flask, sandbox: SalesforceSandbox) -> None:
    @app.get("/_sandbox/stats")
    def get_stats() -> Response:
        return json_response(sandbox.stats.snapshot())

    @app.get("/_sandbox/truth")
    def get_truth() -> Response:
        return json_response(truth(sandbox))

    @app.post("/_sandbox/advance")
    def post_advance() -> Response:
        body = request.get_json(silent=True) or {}
        try:
            days = float(body.get("days", 1))
        except (TypeError, ValueError):
            raise SalesforceError(400, "INVALID_REQUEST", "'days' must be a number") from None
        if days <= 0:
            raise SalesforceError(400, "INVALID_REQUEST", "'days' must be positive")
        try:
            return json_response(advance(sandbox, days))
        except FeedbackloopError as exc:  # e.g. past the end of the simulated future
            raise SalesforceError(400, "INVALID_REQUEST", str(exc)) from None

    @app.get("/_sandbox/faults")
    def get_faults() -> Response:
        return json_response(sandbox.faults.snapshot())

    @app.post("/_sandbox/faults")
    def post_faults() -> Response:
        body = request.get_json(silent=True) or {}
        try:
            sandbox.faults.configure(
                float(body.get("rate", 0.0)), body.get("kinds"), body.get("slow_seconds")
            )
        except (TypeError, ValueError) as exc:
            raise SalesforceError(400, "INVALID_REQUEST", str(exc)) from None
        return json_response(sandbox.faults.snapshot())

    @app.post("/_sandbox/reset")
    def post_reset() -> Response:
        sandbox.reset()
        return json_response({"status": "reset", "now": str(sandbox.world.now)})

    @app.post("/_sandbox/expire-tokens")
    def post_expire_tokens() -> Response:
        sandbox.tokens.expire_all()
        return json_response({"status": "expired"})

    @app.get("/_sandbox/outbound")
    def get_outbound() -> Response:
        return json_response(sandbox.sender.snapshot() if sandbox.sender else {"url": None})
