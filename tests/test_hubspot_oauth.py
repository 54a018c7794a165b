"""OAuth (code exchange, hub_id lookup, refresh before expiry) and `feedbackloop connect hubspot`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import sqlalchemy as sa
from typer.testing import CliRunner

from feedbackloop.cli import app
from feedbackloop.config.settings import Settings, load_settings
from feedbackloop.connectors.hubspot import create_connector
from feedbackloop.connectors.hubspot.client import HubSpotClient
from feedbackloop.connectors.hubspot.oauth import (
    OAUTH_CREDENTIAL,
    OAuthApp,
    TokenSource,
    connect_from_code,
    exchange_code,
    refresh_tokens,
    store_connection,
)
from feedbackloop.connectors.sync import run_sync
from feedbackloop.crypto import secret_box
from feedbackloop.errors import AuthError
from feedbackloop.store import Store
from feedbackloop.store.models import Credential
from tests.test_hubspot_support import Portal, sandbox


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the HubSpot API; the contract and resume tests cover PostgreSQL."""
    return f"sqlite:///{tmp_path / 'store.db'}"


REDIRECT = "https://app.example.com/oauth-callback"


class Clock:
    """One fake clock for the sandbox (token expiry) and for us (when to refresh)."""

    def __init__(self) -> None:
        self.t = 1_790_000_000.0

    def __call__(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=UTC)


def _authorize(portal: Portal) -> str:
    response = requests.get(
        f"{portal.url}/oauth/authorize",
        params={
            "client_id": "sandbox-client",
            "redirect_uri": REDIRECT,
            "scope": "oauth crm.objects.deals.read crm.objects.contacts.read sales-email-read",
            "state": "xyz",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    return parse_qs(urlparse(response.headers["Location"]).query)["code"][0]


def test_code_exchange_hub_id_and_refresh_before_expiry(settings: Settings, store: Store) -> None:
    clock = Clock()
    with sandbox(deals=60, clock=clock) as portal:
        oauth = HubSpotClient(lambda: "", base_url=portal.url, tenant_key="oauth-test")
        app_ = OAuthApp("sandbox-client", "sandbox-secret", REDIRECT)
        tokens = exchange_code(oauth, app_, _authorize(portal), now=clock.now)
        assert tokens.hub_id == portal.handle.hubspot.options.hub_id
        assert tokens.expires_at == clock.now() + timedelta(seconds=1800)
        box = secret_box(settings)
        tenant = store_connection(
            store, box, "oauth", base_url=portal.url, hub_id=tokens.hub_id, tokens=tokens
        )
        assert tenant.external_id == str(tokens.hub_id)

        refreshes: list[str] = []

        def refresher(refresh: str) -> object:
            refreshes.append(refresh)
            return refresh_tokens(oauth, app_, refresh, now=clock.now)

        source = TokenSource(store, tenant, box, refresher=refresher, now=clock.now)  # type: ignore[arg-type]
        assert source() == tokens.access_token
        clock.t += 24 * 60  # 24 minutes: still more than the 5-minute margin left
        assert source() == tokens.access_token
        clock.t += 2 * 60  # 26 minutes: refresh now, before HubSpot's 30-minute expiry
        fresh = source()
        assert fresh != tokens.access_token
        assert refreshes == [tokens.refresh_token]
        stored = json.loads(store.get_credential(tenant, OAUTH_CREDENTIAL, box) or "{}")
        assert stored["access_token"] == fresh
        clock.t += 10 * 60  # the old token has expired at HubSpot; the fresh one works
        assert requests.get(
            f"{portal.url}/crm/v3/pipelines/deals", headers={"Authorization": f"Bearer {fresh}"}, timeout=10
        ).ok
        assert not requests.get(
            f"{portal.url}/crm/v3/pipelines/deals",
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            timeout=10,
        ).ok


def test_an_oauth_tenant_syncs_through_the_connector(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_HUBSPOT_CLIENT_ID", "sandbox-client")
    monkeypatch.setenv("FEEDBACKLOOP_HUBSPOT_CLIENT_SECRET", "sandbox-secret")
    settings = load_settings()
    with sandbox(deals=80) as portal:
        oauth = HubSpotClient(lambda: "", base_url=portal.url, tenant_key="oauth-test-2")
        tokens = exchange_code(
            oauth, OAuthApp("sandbox-client", "sandbox-secret", REDIRECT), _authorize(portal)
        )
        tenant = store_connection(
            store, secret_box(settings), "o", base_url=portal.url, hub_id=tokens.hub_id, tokens=tokens
        )
        tenant = store.update_tenant(
            tenant, settings={**tenant.settings, "limits": {"burst": 10**6, "search": 10**6}}
        )
        connector = create_connector(settings, store, tenant)
        report = connector.check()
        summary = run_sync(store, tenant, connector)
        truth = portal.get("truth")
    assert report.ok, report.problems
    assert "crm.objects.deals.read" in report.scopes
    # granted: deals, contacts, sales email; not companies, owners, sequences, templates
    assert "segments from deal amounts" in report.missing["scope:crm.objects.companies.read"]
    assert "scope:automation.sequences.read" in report.missing
    # the sync degrades instead of failing: every closed deal and email, segments from amounts, no steps
    assert summary.deals == truth["deals"]["won"] + truth["deals"]["lost"]
    assert summary.messages == truth["emails"]
    assert {s.record_id for s in summary.skipped if s.kind == "scope"} == {"companies", "sequences"}
    deals = store.deals_frame(tenant)
    assert deals["industry"].isna().all()
    assert deals["segment"].notna().all()
    assert store.messages_frame(tenant)["position"].isna().all()


def test_connect_command_verifies_and_encrypts_the_token(settings: Settings, store: Store) -> None:
    runner = CliRunner()
    with sandbox(deals=40) as portal:
        token = portal.handle.token
        ok = runner.invoke(
            app,
            [
                "connect",
                "hubspot",
                "--token",
                token,
                "--base-url",
                portal.url,
                "--tenant",
                "acme",
                "--format",
                "json",
            ],
        )
        bad = runner.invoke(
            app, ["connect", "hubspot", "--token", "wrong", "--base-url", portal.url, "--tenant", "x"]
        )
        again = runner.invoke(
            app, ["connect", "hubspot", "--token", token, "--base-url", portal.url, "--tenant", "acme"]
        )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["tenant"] == "acme"
    tenant = store.get_tenant("acme")
    assert tenant is not None
    assert (tenant.provider, tenant.settings["base_url"]) == ("hubspot", portal.url)
    assert bad.exit_code == 1
    assert isinstance(bad.exception, AuthError)  # `main()` prints it as one line and exits 1
    assert "401" in str(bad.exception)
    assert "wrong" not in str(bad.exception)
    assert store.get_tenant("x") is None
    assert again.exit_code == 0
    with store.db.engine.connect() as conn:
        secrets = conn.execute(sa.select(Credential.ciphertext)).scalars().all()
    assert secrets
    assert all(token.encode() not in s for s in secrets)


def test_the_install_callback_is_one_call(settings: Settings, store: Store) -> None:
    with sandbox(deals=30) as portal:
        app_ = OAuthApp("sandbox-client", "sandbox-secret", REDIRECT)
        tenant = connect_from_code(store, secret_box(settings), app_, _authorize(portal), base_url=portal.url)
        again = connect_from_code(store, secret_box(settings), app_, _authorize(portal), base_url=portal.url)
    hub_id = portal.handle.hubspot.options.hub_id
    assert (tenant.name, tenant.provider, tenant.external_id) == (f"hubspot-{hub_id}", "hubspot", str(hub_id))
    assert again.id == tenant.id
    stored = json.loads(store.get_credential(tenant, OAUTH_CREDENTIAL, secret_box(settings)) or "{}")
    assert stored["refresh_token"].startswith("na1-")


def test_tokens_never_reach_the_logs(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with sandbox(deals=30) as portal:
        app_ = OAuthApp("sandbox-client", "sandbox-secret", REDIRECT)
        tenant = connect_from_code(store, secret_box(settings), app_, _authorize(portal), base_url=portal.url)
        tokens = json.loads(store.get_credential(tenant, OAUTH_CREDENTIAL, secret_box(settings)) or "{}")
    text = caplog.text
    assert tokens["access_token"] not in text
    assert tokens["refresh_token"] not in text
