"""Salesforce OAuth: the web-server flow with PKCE, the refresh-token flow, and where tokens are kept.

simple-salesforce has neither (reference §9, §10.1), so this is the one place that does it; the CLI and
the web service's install callback both use it. Token requests go through the same retry policy and
timeouts as API calls. Tokens are stored encrypted (:meth:`Store.put_credential`) and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlparse

import requests

from feedbackloop.connectors.retry import RetryPolicy, Transient
from feedbackloop.crypto import SecretBox
from feedbackloop.errors import AuthError, RemoteError
from feedbackloop.store import Store, TenantRef

__all__ = [
    "ACCESS_TOKEN",
    "REFRESH_TOKEN",
    "OAuthApp",
    "Pkce",
    "TokenSet",
    "org_id_from_identity",
    "save_tokens",
]

ACCESS_TOKEN = "salesforce_access_token"
REFRESH_TOKEN = "salesforce_refresh_token"
DEFAULT_SCOPE = "api refresh_token"


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair: keep ``verifier`` secret until the token exchange, send ``challenge`` (S256)."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)[:96]
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint answered (``refresh_token`` only for code grants with that scope)."""

    access_token: str
    instance_url: str
    identity_url: str | None = None
    refresh_token: str | None = None
    issued_at: datetime | None = None
    scope: str | None = None

    @property
    def org_id(self) -> str | None:
        return org_id_from_identity(self.identity_url)

    def __repr__(self) -> str:  # tokens never end up in logs or tracebacks
        return f"TokenSet(instance_url={self.instance_url!r}, org_id={self.org_id!r})"


def org_id_from_identity(identity_url: str | None) -> str | None:
    """The org id from an identity URL ``https://login.salesforce.com/id/<org id>/<user id>``."""
    if not identity_url:
        return None
    parts = [p for p in urlparse(identity_url).path.split("/") if p]
    if len(parts) >= 3 and parts[-3] == "id":
        return parts[-2]
    return None


def _classify(exc: BaseException) -> Transient | None:
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return Transient(type(exc).__name__)
    if isinstance(exc, _ServerError):
        return Transient(f"HTTP {exc.status}")
    return None


class _ServerError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass(frozen=True)
class OAuthApp:
    """A connected app (consumer key/secret) and the login host its users authorise against."""

    client_id: str
    redirect_uri: str
    login_url: str = "https://login.salesforce.com"
    client_secret: str | None = None
    ca_bundle: str | None = None

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r}, login_url={self.login_url!r})"

    def authorization_url(self, state: str, pkce: Pkce, scope: str = DEFAULT_SCOPE) -> str:
        """Where to send the user's browser (step 1 of the web-server flow)."""
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.login_url.rstrip('/')}/services/oauth2/authorize?{urlencode(query)}"

    def exchange_code(self, code: str, pkce: Pkce, *, policy: RetryPolicy | None = None) -> TokenSet:
        """Trade the callback's ``code`` (with the PKCE verifier) for tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": pkce.verifier,
        }
        return self._token(form, policy or RetryPolicy(), refresh_token=None)

    def refresh(self, refresh_token: str, *, policy: RetryPolicy | None = None) -> TokenSet:
        """A new access token from a refresh token (the refresh token is kept unless rotated)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._token(form, policy or RetryPolicy(), refresh_token=refresh_token)

    def _token(self, form: dict[str, str], policy: RetryPolicy, refresh_token: str | None) -> TokenSet:
        form = {**form, "client_id": self.client_id}
        if self.client_secret:
            form["client_secret"] = self.client_secret
        url = f"{self.login_url.rstrip('/')}/services/oauth2/token"

        def post() -> requests.Response:
            response = requests.post(url, data=form, timeout=policy.timeout, verify=self.ca_bundle or True)
            if response.status_code >= 500:
                raise _ServerError(response.status_code)
            return response

        try:
            response = policy.call(post, classify=_classify, what="the OAuth token request")
        except (requests.RequestException, _ServerError) as exc:
            raise RemoteError(f"cannot reach the Salesforce login host {self.login_url}: {exc}") from None
        body: dict[str, Any] = response.json() if response.content else {}
        if response.status_code != 200 or "access_token" not in body:
            error = body.get("error", f"HTTP {response.status_code}")
            description = body.get("error_description", "")
            raise AuthError(f"Salesforce refused the OAuth grant ({error}: {description}); connect again")
        issued = str(body.get("issued_at") or "")
        return TokenSet(
            access_token=str(body["access_token"]),
            instance_url=str(body.get("instance_url") or self.login_url).rstrip("/"),
            identity_url=body.get("id"),
            refresh_token=body.get("refresh_token") or refresh_token,
            issued_at=datetime.fromtimestamp(int(issued) / 1000, UTC)
            if str(issued or "").isdigit()
            else None,
            scope=body.get("scope"),
        )


def save_tokens(store: Store, tenant: TenantRef, tokens: TokenSet, box: SecretBox) -> None:
    """Keep the access (and refresh) token encrypted at rest."""
    store.put_credential(tenant, ACCESS_TOKEN, tokens.access_token, box)
    if tokens.refresh_token:
        store.put_credential(tenant, REFRESH_TOKEN, tokens.refresh_token, box)
