"""The selection API with per-tenant keys, and the `apikeys` commands."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from feedbackloop.cli import app
from feedbackloop.store import Store
from feedbackloop.store.models import TemplateRow
from feedbackloop.webhooks.apikeys import authenticate, create_key, list_keys, revoke_key
from tests.service_support import js, make_app

pytestmark = pytest.mark.store


@pytest.fixture
def setup(settings, store: Store) -> tuple[Any, str, Store]:
    tenant = store.create_tenant("acme", provider="hubspot", external_id="1")
    store.upsert(
        TemplateRow,
        tenant,
        [
            {"template_id": "A", "status": "active"},
            {"template_id": "B", "status": "active"},
            {"template_id": "C", "status": "deprecated"},
        ],
    )
    key = create_key(store, tenant, "bot")
    return make_app(settings, store).test_client(), key, store


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_hashed_and_revocable(setup):
    _, key, store = setup
    assert authenticate(store, key) is not None
    assert authenticate(store, key[:-1] + ("x" if key[-1] != "x" else "y")) is None
    assert authenticate(store, "nonsense") is None
    (info,) = list_keys(store)
    assert key not in repr(info)
    revoke_key(store, info.prefix)
    assert authenticate(store, key) is None


def test_select_returns_an_active_template_with_a_reason(setup):
    client, key, _ = setup
    seen = set()
    for i in range(20):
        response = client.post(
            "/api/v1/select", json={"context": {"segment": "smb", "prospect_id": f"p{i}"}}, headers=auth(key)
        )
        assert response.status_code == 200, js(response)
        body = js(response)
        assert body["reason"]
        seen.add(body["template_id"])
    assert seen <= {"A", "B"}  # never the deprecated one


def test_outcomes_learn_once_per_deal_and_template(setup):
    client, key, _ = setup
    payload = {"deal_id": "d1", "outcome": "won", "templates": ["A", "B"], "context": {"segment": "smb"}}
    assert js(client.post("/api/v1/outcomes", json=payload, headers=auth(key)))["learned"] == ["A", "B"]
    assert js(client.post("/api/v1/outcomes", json=payload, headers=auth(key)))["learned"] == []


def test_responses_boost(setup):
    client, key, _ = setup
    body = {"template_id": "A", "sentiment": 0.95, "meeting_intent": True}
    assert js(client.post("/api/v1/responses", json=body, headers=auth(key)))["boosted"] is True
    body = {"template_id": "A", "sentiment": 5}
    assert client.post("/api/v1/responses", json=body, headers=auth(key)).status_code == 400


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer fl_x_y"}, {"Authorization": "Basic abc"}])
def test_missing_or_wrong_key_is_401(setup, headers):
    client, _, _ = setup
    response = client.post("/api/v1/select", json={}, headers=headers)
    assert response.status_code == 401
    assert js(response)["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/select", "[1]"),
        ("/api/v1/select", "{bad"),
        ("/api/v1/outcomes", '{"deal_id": "d", "outcome": "maybe", "templates": ["A"]}'),
        ("/api/v1/outcomes", '{"deal_id": "d", "outcome": "won"}'),
        ("/api/v1/responses", '{"template_id": 3, "sentiment": 0.5}'),
    ],
)
def test_bad_bodies_are_400(setup, path, body):
    client, key, _ = setup
    response = client.post(path, data=body, content_type="application/json", headers=auth(key))
    assert response.status_code == 400


def test_apikeys_cli_prints_the_key_once(settings, store):
    store.create_tenant("acme")
    runner = CliRunner()
    created = runner.invoke(app, ["apikeys", "create", "--tenant", "acme"])
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    assert key.startswith("fl_")
    listed = runner.invoke(app, ["apikeys", "list", "--format", "json"])
    assert listed.exit_code == 0
    assert key not in listed.output
    assert key.split("_")[1] in listed.output
