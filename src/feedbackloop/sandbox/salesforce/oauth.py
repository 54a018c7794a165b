"""OAuth 2.0 web-server flow with PKCE, refresh tokens, userinfo, and expiring access tokens.

``/services/oauth2/authorize`` approves at once (there is no user to ask) and redirects back with a
code; ``/services/oauth2/token`` checks the client secret, the redirect URI and the PKCE S256 verifier.
Access tokens expire after ``token_lifetime_seconds`` (real time); an expired or unknown token gets
401 ``INVALID_SESSION_ID``. The fixed session id ``sandbox-token`` is accepted too (expirable in tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request

from feedbackloop.sandbox.salesforce.org import OrgOptions

__all__ = ["TokenStore", "register_oauth"]

_CODE_SECONDS = 900.0


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    expires: float
    scope: str


class TokenStore:
    """Issued codes, access tokens (with expiry) and refresh tokens; thread-safe."""

    def __init__(self, options: OrgOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, float] = {}
        self._refresh: dict[str, str] = {}
        self._static_expires = (
            time.monotonic() + options.static_token_lifetime_seconds
            if options.static_token_lifetime_seconds is not None
            else float("inf")
        )

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        now = time.monotonic()
        if token == self.options.static_token:
            return now < self._static_expires
        with self._lock:
            return self._access.get(token, 0.0) > now

    def expire_all(self) -> None:
        """Expire every access token, the static one included (refresh tokens keep working)."""
        with self._lock:
            self._access = dict.fromkeys(self._access, 0.0)
            self._static_expires = 0.0

    def new_code(self, code: _Code) -> str:
        value = "aPrx" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[value] = code
        return value

    def take_code(self, value: str) -> _Code | None:
        with self._lock:
            code = self._codes.pop(value, None)
        return code if code is not None and code.expires > time.monotonic() else None

    def issue(self, client_id: str, *, with_refresh: bool) -> tuple[str, str | None]:
        access = "00Dsandbox!" + secrets.token_urlsafe(32)
        refresh = "5Aep" + secrets.token_urlsafe(40) if with_refresh else None
        with self._lock:
            self._access[access] = time.monotonic() + self.options.token_lifetime_seconds
            if refresh:
                self._refresh[refresh] = client_id
        return access, refresh

    def refresh_client(self, token: str) -> str | None:
        with self._lock:
            return self._refresh.get(token)

    def revoke(self, token: str) -> None:
        with self._lock:
            self._access.pop(token, None)
            self._refresh.pop(token, None)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() in {"bearer", "oauth"} else None


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    return response


def register_oauth(app: Flask, tokens: TokenStore, org_id: str, user_id: str, instance_url: Any) -> None:
    """Add the OAuth routes; ``instance_url()`` gives the base URL the token response announces."""
    options = tokens.options

    @app.get("/services/oauth2/authorize")
    def authorize() -> Response:
        args = request.args
        if args.get("client_id") != options.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return _oauth_error("redirect_uri_mismatch", "redirect_uri must be an absolute http(s) URL")
        if args.get("response_type") != "code":
            query = {"error": "unsupported_response_type", "error_description": "response type not supported"}
            return redirect(f"{redirect_uri}?{urlencode(query)}")  # type: ignore[return-value]
        method = args.get("code_challenge_method", "S256")
        if args.get("code_challenge") and method != "S256":
            return _oauth_error("invalid_request", "code_challenge_method must be S256")
        code = tokens.new_code(
            _Code(
                options.client_id,
                redirect_uri,
                args.get("code_challenge"),
                method,
                time.monotonic() + _CODE_SECONDS,
                args.get("scope", "api refresh_token"),
            )
        )
        query = {"code": code, **({"state": args["state"]} if "state" in args else {})}
        return redirect(f"{redirect_uri}?{urlencode(query)}")  # type: ignore[return-value]

    def token_body(access: str, refresh: str | None, scope: str) -> dict[str, Any]:
        base = instance_url()
        identity = f"{base}/id/{org_id}/{user_id}"
        issued = str(int(time.time() * 1000))
        digest = hmac.new(
            options.client_secret.encode(), (identity + issued).encode(), hashlib.sha256
        ).digest()
        body = {
            "access_token": access,
            "signature": base64.b64encode(digest).decode(),
            "scope": scope,
            "instance_url": base,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued,
        }
        return {**body, "refresh_token": refresh} if refresh else body

    @app.post("/services/oauth2/token")
    def token() -> Response:
        form = request.form
        if form.get("client_id") != options.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if form.get("client_secret") is not None and form.get("client_secret") != options.client_secret:
            return _oauth_error("invalid_client", "invalid client credentials")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = tokens.take_code(form.get("code", ""))
            if code is None or code.redirect_uri != form.get("redirect_uri"):
                return _oauth_error("invalid_grant", "authentication failure")
            if code.challenge is not None:
                verifier = form.get("code_verifier", "")
                digest = hashlib.sha256(verifier.encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code.challenge:
                    return _oauth_error("invalid_grant", "invalid code verifier")
            elif form.get("client_secret") is None:
                return _oauth_error("invalid_client", "client secret required")
            access, refresh = tokens.issue(code.client_id, with_refresh="refresh_token" in code.scope.split())
            return jsonify(token_body(access, refresh, code.scope))
        if grant == "refresh_token":
            client = tokens.refresh_client(form.get("refresh_token", ""))
            if client is None:
                return _oauth_error("invalid_grant", "expired access/refresh token")
            access, _ = tokens.issue(client, with_refresh=False)
            return jsonify(token_body(access, None, "api refresh_token"))
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    @app.post("/services/oauth2/revoke")
    def revoke() -> Response:
        tokens.revoke(request.form.get("token", ""))
        return Response(status=200)

    @app.get("/id/<org>/<user>")
    @app.get("/services/oauth2/userinfo")
    def userinfo(**_: str) -> Response:
        if not tokens.valid(bearer_token()):
            return Response("Bad_OAuth_Token", status=403)
        base = instance_url()
        return jsonify(
            {
                "sub": f"{base}/id/{org_id}/{user_id}",
                "user_id": user_id,
                "organization_id": org_id,
                "preferred_username": "integration@sandbox.feedbackloop",
                "name": "Integration User",
                "email": "integration@sandbox.feedbackloop",
                "email_verified": True,
                "zoneinfo": "Etc/UTC",
                "locale": "en_US",
                "language": "en_US",
                "user_type": "STANDARD",
                "active": True,
                "urls": {
                    "rest": f"{base}/services/data/v{{version}}/",
                    "query": f"{base}/services/data/v{{version}}/query/",
                },
            }
        )
