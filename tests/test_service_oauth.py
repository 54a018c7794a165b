"""OAuth install routes (state handling) and the HubSpot app files agreeing with the service."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from feedbackloop.store import Store
from feedbackloop.store.service_models import OAuthStateRow
from feedbackloop.webhooks.oauth import HUBSPOT_OPTIONAL_SCOPES, HUBSPOT_SCOPES
from tests.service_support import PUBLIC, js, make_app

pytestmark = pytest.mark.store

APP_DIR = Path(__file__).resolve().parents[1] / "integrations" / "hubspot-app"


@pytest.fixture
def client(settings, store: Store):
    return make_app(settings, store).test_client()


def test_hubspot_install_redirects_with_scopes_and_a_stored_state(client, store):
    response = client.get("/oauth/hubspot/install?tenant=acme")
    assert response.status_code == 302
    url = urlsplit(response.headers["Location"])
    query = parse_qs(url.query)
    assert url.netloc == "app.hubspot.com"
    assert query["redirect_uri"] == [f"{PUBLIC}/oauth/hubspot/callback"]
    assert query["scope"][0].split(" ") == list(HUBSPOT_SCOPES)
    state = query["state"][0]
    with store.db.session() as s:
        (row,) = s.scalars(sa.select(OAuthStateRow))
        assert row.state_hash != state  # only its hash is stored
        assert row.tenant_name == "acme"


def test_salesforce_install_uses_pkce(client, store):
    response = client.get("/oauth/salesforce/install")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"][0]
    with store.db.session() as s:
        (row,) = s.scalars(sa.select(OAuthStateRow))
        assert row.verifier  # encrypted
        assert query["code_challenge"][0] not in row.verifier


@pytest.mark.parametrize(
    "query",
    ["", "?code=x", "?state=nope&code=x", "?error=access_denied&state=s"],
)
def test_callback_without_a_valid_state_is_400(client, query):
    response = client.get(f"/oauth/hubspot/callback{query}")
    assert response.status_code == 400
    assert js(response)["error"] == "bad_request"


def test_state_is_single_use_and_expires(client, store):
    state = parse_qs(urlsplit(client.get("/oauth/hubspot/install").headers["Location"]).query)["state"][0]
    with store.db.session() as s:
        row = s.scalars(sa.select(OAuthStateRow)).one()
        row.expires_at = row.expires_at - timedelta(hours=1)
        s.commit()
    response = client.get(f"/oauth/hubspot/callback?state={state}&code=c")
    assert response.status_code == 400
    assert "expired" in js(response)["message"]
    again = client.get(f"/oauth/hubspot/callback?state={state}&code=c")
    assert "unknown or already used" in js(again)["message"]


def test_state_of_one_provider_is_not_accepted_by_the_other(client):
    state = parse_qs(urlsplit(client.get("/oauth/hubspot/install").headers["Location"]).query)["state"][0]
    assert client.get(f"/oauth/salesforce/callback?state={state}&code=c").status_code == 400


def test_install_without_app_credentials_is_503(settings, store):
    from feedbackloop.webhooks import create_app

    app = create_app(settings, store=store)  # no client id / secret configured
    response = app.test_client().get("/oauth/hubspot/install")
    assert response.status_code == 503
    assert js(response)["error"] == "not_configured"


def test_hubspot_app_files_agree_with_the_service():
    app = json.loads((APP_DIR / "src/app/app-hsmeta.json").read_text())["config"]
    assert app["auth"]["requiredScopes"] == list(HUBSPOT_SCOPES)
    assert app["auth"]["optionalScopes"] == list(HUBSPOT_OPTIONAL_SCOPES)
    base = app["permittedUrls"]["fetch"][0]
    assert app["auth"]["redirectUrls"] == [f"{base}/oauth/hubspot/callback"]
    hooks = json.loads((APP_DIR / "src/app/webhooks/webhooks-hsmeta.json").read_text())["config"]
    assert hooks["settings"]["targetUrl"] == f"{base}/webhooks/hubspot"
    props = {s.get("propertyName") for group in hooks["subscriptions"].values() for s in group}
    assert props == {"dealstage"}
    card = (APP_DIR / "src/app/cards/ScoresCard.jsx").read_text()
    assert f'SERVICE_URL = "{base}"' in card
    assert "/hubspot/card?dealId=" in card
    meta = json.loads((APP_DIR / "src/app/cards/scores-card-hsmeta.json").read_text())["config"]
    assert meta["entrypoint"] == "/app/cards/ScoresCard.jsx"
    assert meta["objectTypes"] == ["deals"]
