"""OAuth 2.0 for the emulated app: auto-approving authorize, v1 token grants, token introspection.

Access tokens live ``token_ttl_seconds`` (30 min like HubSpot); the private-app token never expires.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from feedbackloop.sandbox.hubspot.options import HubSpotOptions
from feedbackloop.sandbox.hubspot.wire import HubSpotError

__all__ = ["TokenStore", "oauth_blueprint"]

DEFAULT_SCOPES = ("oauth", "crm.objects.deals.read", "crm.objects.contacts.read", "sales-email-read")
MISSING_SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. "
    "Read more about required scopes here: https://developers.hubspot.com/scopes."
)


@dataclass
class _Grant:
    scopes: list[str]
    expires_at: float
    refresh_token: str = ""
    redirect_uri: str = ""


class TokenStore:
    """Issued codes, access and refresh tokens (in memory; a restart logs every client out)."""

    def __init__(self, options: HubSpotOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self.codes: dict[str, _Grant] = {}
        self.access: dict[str, _Grant] = {}
        self.refresh: dict[str, list[str]] = {}

    def issue_code(self, scopes: list[str], redirect_uri: str) -> str:
        code = secrets.token_hex(18)
        with self._lock:
            self.codes[code] = _Grant(scopes, self.options.clock() + 600, redirect_uri=redirect_uri)
        return code

    def _issue(self, scopes: list[str], refresh_token: str) -> dict[str, Any]:
        token = "CN" + secrets.token_urlsafe(96)[:150]
        ttl = self.options.token_ttl_seconds
        self.access[token] = _Grant(scopes, self.options.clock() + ttl, refresh_token=refresh_token)
        return {
            "token_type": "bearer",
            "refresh_token": refresh_token,
            "access_token": token,
            "expires_in": ttl,
            "hub_id": self.options.hub_id,
            "scopes": scopes,
        }

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        with self._lock:
            grant = self.codes.pop(code, None)
            if grant is None or grant.expires_at < self.options.clock() or grant.redirect_uri != redirect_uri:
                raise _oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
            refresh_token = "na1-" + secrets.token_hex(4) + "-" + secrets.token_hex(16)
            self.refresh[refresh_token] = grant.scopes
            return self._issue(grant.scopes, refresh_token)

    def exchange_refresh(self, refresh_token: str) -> dict[str, Any]:
        with self._lock:
            scopes = self.refresh.get(refresh_token)
            if scopes is None:
                raise _oauth_error("BAD_REFRESH_TOKEN", "refresh token is invalid, expired or revoked")
            return self._issue(scopes, refresh_token)

    def check(self, token: str) -> str | None:
        """None if the bearer token is good, else the error category (expired or unknown)."""
        if token == self.options.private_token:
            return None
        grant = self.access.get(token)
        if grant is None:
            return "INVALID_AUTHENTICATION"
        if grant.expires_at <= self.options.clock():
            return "EXPIRED_AUTHENTICATION"
        return None

    def scopes_of(self, token: str) -> list[str] | None:
        """The scopes an accepted token carries; None for the private-app token (all of them)."""
        grant = self.access.get(token)
        return None if grant is None else grant.scopes

    def info(self, token: str) -> dict[str, Any] | None:
        grant = self.access.get(token)
        remaining = int(grant.expires_at - self.options.clock()) if grant else 0
        if grant is None or remaining <= 0:
            return None
        o = self.options
        return {
            "token": token,
            "user": "sandbox.user@example.com",
            "hub_domain": f"sandbox-{o.hub_id}.hubspot.com",
            "scopes": grant.scopes,
            "hub_id": o.hub_id,
            "app_id": o.app_id,
            "expires_in": remaining,
            "user_id": 1001,
            "token_type": "access",
            "is_private_distribution": False,
        }

    def refresh_info(self, token: str) -> dict[str, Any] | None:
        scopes = self.refresh.get(token)
        if scopes is None:
            return None
        o = self.options
        return {
            "token": token,
            "user": "sandbox.user@example.com",
            "hub_domain": f"sandbox-{o.hub_id}.hubspot.com",
            "scopes": scopes,
            "hub_id": o.hub_id,
            "client_id": o.client_id,
            "user_id": 1001,
            "token_type": "refresh",
        }


def _oauth_error(status: str, description: str) -> HubSpotError:
    return HubSpotError(
        400,
        description,
        status,
        extra={"status": status, "error": "invalid_grant", "error_description": description},
    )


def oauth_blueprint(store: TokenStore) -> Blueprint:
    bp = Blueprint("hubspot_oauth", __name__)
    options = store.options

    @bp.get("/oauth/authorize")
    def authorize() -> BaseResponse:
        args = request.args
        if args.get("client_id") != options.client_id:
            raise HubSpotError(400, "Invalid client_id", "BAD_CLIENT_ID")
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri:
            raise HubSpotError(400, "redirect_uri is required", "BAD_REDIRECT_URI")
        scopes = [s for s in (args.get("scope", "") + " " + args.get("optional_scope", "")).split() if s]
        code = store.issue_code(scopes or list(DEFAULT_SCOPES), redirect_uri)
        query = {"code": code, **({"state": args["state"]} if "state" in args else {})}
        sep = "&" if "?" in redirect_uri else "?"
        return redirect(f"{redirect_uri}{sep}{urlencode(query)}", code=302)

    @bp.post("/oauth/v1/token")
    def token() -> Response:
        form = request.form
        if form.get("client_id") != options.client_id or form.get("client_secret") != options.client_secret:
            raise HubSpotError(
                400,
                "missing or invalid client id / secret",
                "BAD_CLIENT_ID",
                extra={"status": "BAD_CLIENT_ID", "error": "invalid_client"},
            )
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return jsonify(store.exchange_code(form.get("code", ""), form.get("redirect_uri", "")))
        if grant == "refresh_token":
            return jsonify(store.exchange_refresh(form.get("refresh_token", "")))
        raise HubSpotError(400, f"unsupported grant_type {grant!r}", "BAD_GRANT_TYPE")

    @bp.get("/oauth/v1/access-tokens/<token>")
    def access_token_info(token: str) -> Response:
        info = store.info(token)
        if info is None:
            raise HubSpotError(404, "Token not found or expired", "NOT_FOUND")
        return jsonify(info)

    @bp.get("/oauth/v1/refresh-tokens/<token>")
    def refresh_token_info(token: str) -> Response:
        info = store.refresh_info(token)
        if info is None:
            raise HubSpotError(404, "Refresh token not found", "NOT_FOUND")
        return jsonify(info)

    @bp.delete("/oauth/v1/refresh-tokens/<token>")
    def revoke(token: str) -> Response:
        store.refresh.pop(token, None)
        return Response(status=204)

    return bp
