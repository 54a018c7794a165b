"""HubSpot OAuth in one place: code exchange, ``hub_id`` lookup, refresh before the 30-minute expiry.

Used by ``feedbackloop connect hubspot`` (private-app tokens: only the portal lookup) and by the web
service's install callback. Tokens are kept encrypted (one JSON credential per tenant); HubSpot says a
401 is no reliable sign of expiry, so we refresh on the clock, ``REFRESH_MARGIN`` before ``expires_at``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from feedbackloop.connectors.hubspot.client import HubSpotClient
from feedbackloop.crypto import SecretBox
from feedbackloop.errors import AuthError, ConnectorError, CredentialError
from feedbackloop.store import Store, TenantRef

__all__ = [
    "OAUTH_CREDENTIAL",
    "REFRESH_MARGIN",
    "TOKEN_CREDENTIAL",
    "OAuthApp",
    "OAuthTokens",
    "TokenSource",
    "connect_from_code",
    "exchange_code",
    "lookup_hub_id",
    "refresh_tokens",
    "store_connection",
]

#: Credential kinds in the store.
TOKEN_CREDENTIAL = "hubspot_token"  # a private-app access token (does not expire)
OAUTH_CREDENTIAL = "hubspot_oauth"  # JSON: access_token, refresh_token, expires_at
REFRESH_MARGIN = timedelta(minutes=5)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OAuthApp:
    """The public app's client credentials and redirect URL."""

    client_id: str
    client_secret: str
    redirect_uri: str = ""


@dataclass(frozen=True)
class OAuthTokens:
    """An access token, its refresh token and when the access token expires."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    hub_id: int | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at.isoformat(),
                "hub_id": self.hub_id,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> OAuthTokens:
        try:
            raw = json.loads(text)
            return cls(
                str(raw["access_token"]),
                str(raw["refresh_token"]),
                datetime.fromisoformat(str(raw["expires_at"])),
                raw.get("hub_id"),
            )
        except (ValueError, KeyError, TypeError):
            raise CredentialError("the stored HubSpot OAuth credential is unreadable; reconnect") from None


def _tokens(response: Any, now: datetime, hub_id: int | None = None) -> OAuthTokens:
    expires_in = int(getattr(response, "expires_in", None) or 1800)
    return OAuthTokens(
        access_token=str(response.access_token),
        refresh_token=str(response.refresh_token),
        expires_at=now + timedelta(seconds=expires_in),
        hub_id=hub_id,
    )


def exchange_code(
    client: HubSpotClient, app: OAuthApp, code: str, *, now: Callable[[], datetime] = _utcnow
) -> OAuthTokens:
    """Trade an authorization code for tokens, and look up the portal (``hub_id``) they belong to."""
    api = client.api("oauth.tokens_api")
    response = client.call(
        "OAuth code exchange",
        lambda t: api.create(
            grant_type="authorization_code",
            code=code,
            redirect_uri=app.redirect_uri,
            client_id=app.client_id,
            client_secret=app.client_secret,
            _request_timeout=t,
        ),
    )
    tokens = _tokens(response, now())
    return OAuthTokens(
        tokens.access_token,
        tokens.refresh_token,
        tokens.expires_at,
        lookup_hub_id(client, tokens.access_token),
    )


def refresh_tokens(
    client: HubSpotClient, app: OAuthApp, refresh_token: str, *, now: Callable[[], datetime] = _utcnow
) -> OAuthTokens:
    """A new access token from the refresh token (the refresh token itself stays the same)."""
    api = client.api("oauth.tokens_api")
    try:
        response = client.call(
            "OAuth token refresh",
            lambda t: api.create(
                grant_type="refresh_token",
                refresh_token=refresh_token,
                client_id=app.client_id,
                client_secret=app.client_secret,
                _request_timeout=t,
            ),
        )
    except ConnectorError as exc:
        raise AuthError(
            f"HubSpot refused to refresh the access token; reconnect the tenant ({exc})"
        ) from None
    return _tokens(response, now())


def lookup_hub_id(client: HubSpotClient, access_token: str) -> int | None:
    """The portal id of an OAuth access token (``GET /oauth/v1/access-tokens/{token}``), None if unknown.

    Private-app tokens cannot be introspected that way; ``/account-info/v3/details`` is tried next.
    """
    api = client.api("oauth.access_tokens_api")
    try:
        info = client.call("token info", lambda t: api.get(token=access_token, _request_timeout=t))
        if getattr(info, "hub_id", None):
            return int(info.hub_id)
    except ConnectorError:
        pass
    try:
        details = client.request_json("account details", "GET", "/account-info/v3/details")
    except ConnectorError:
        return None
    portal = details.get("portalId") or details.get("hubId")
    return int(portal) if portal else None


class TokenSource:
    """The access token to use now: a stored private-app token, or OAuth tokens refreshed on the clock.

    Refreshed tokens are saved back (encrypted) at once, so a crash after a refresh loses nothing.
    """

    def __init__(
        self,
        store: Store,
        tenant: TenantRef,
        box: SecretBox,
        *,
        refresher: Callable[[str], OAuthTokens] | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store, self._tenant, self._box = store, tenant, box
        self._refresher = refresher
        self._now = now
        self._lock = threading.Lock()
        self._private = store.get_credential(tenant, TOKEN_CREDENTIAL, box)
        stored = None if self._private else store.get_credential(tenant, OAUTH_CREDENTIAL, box)
        self._oauth = OAuthTokens.from_json(stored) if stored else None
        if self._private is None and self._oauth is None:
            raise CredentialError(
                f"tenant {tenant.name!r} has no HubSpot credentials; run `feedbackloop connect hubspot`"
            )

    def bind_refresher(self, refresher: Callable[[str], OAuthTokens]) -> None:
        self._refresher = refresher

    def __call__(self) -> str:
        if self._private is not None:
            return self._private
        with self._lock:
            assert self._oauth is not None
            if self._oauth.expires_at - self._now() <= REFRESH_MARGIN:
                if self._refresher is None:
                    raise AuthError(
                        "the HubSpot access token expired and no OAuth app is configured to refresh it"
                    )
                fresh = self._refresher(self._oauth.refresh_token)
                self._oauth = OAuthTokens(
                    fresh.access_token, fresh.refresh_token, fresh.expires_at, self._oauth.hub_id
                )
                self._store.put_credential(
                    self._tenant, OAUTH_CREDENTIAL, self._oauth.to_json(), self._box, self._oauth.expires_at
                )
            return self._oauth.access_token


def store_connection(
    store: Store,
    box: SecretBox,
    name: str,
    *,
    base_url: str,
    hub_id: int | None,
    private_token: str | None = None,
    tokens: OAuthTokens | None = None,
) -> TenantRef:
    """Create or update the tenant of a HubSpot portal and store its credential encrypted.

    Shared by ``feedbackloop connect hubspot`` (private-app token) and the OAuth install callback.
    """
    external_id = str(hub_id) if hub_id is not None else None
    tenant = store.create_tenant(
        name, provider="hubspot", external_id=external_id, settings={"base_url": base_url}
    )
    merged = {**tenant.settings, "base_url": base_url}
    if tenant.provider != "hubspot" or tenant.external_id != external_id or tenant.settings != merged:
        tenant = store.update_tenant(tenant, provider="hubspot", external_id=external_id, settings=merged)
    if private_token is not None:
        store.put_credential(tenant, TOKEN_CREDENTIAL, private_token, box)
    if tokens is not None:
        store.put_credential(tenant, OAUTH_CREDENTIAL, tokens.to_json(), box, tokens.expires_at)
    return tenant


def connect_from_code(
    store: Store,
    box: SecretBox,
    app: OAuthApp,
    code: str,
    *,
    base_url: str,
    name: str | None = None,
) -> TenantRef:
    """The OAuth install callback in one call: exchange ``code``, find the portal, save the tenant.

    The tenant is named ``hubspot-<portal id>`` unless ``name`` is given; reinstalling updates it.
    """
    client = HubSpotClient(lambda: "", base_url=base_url, tenant_key=f"oauth:{base_url}")
    try:
        tokens = exchange_code(client, app, code)
    finally:
        client.close()
    tenant_name = name or (f"hubspot-{tokens.hub_id}" if tokens.hub_id is not None else "hubspot")
    return store_connection(store, box, tenant_name, base_url=base_url, hub_id=tokens.hub_id, tokens=tokens)
