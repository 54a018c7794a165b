"""The HubSpot record card endpoint: v3-signed GET, segment scores and the deal's own templates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedbackloop.store import Store, utcnow
from feedbackloop.store.models import AnalysisRun, DealRow, MessageRow
from feedbackloop.webhooks.signature import sign_v3
from tests.service_support import NOW, PORTAL, PUBLIC, SECRET, js, make_app

pytestmark = pytest.mark.store

T0 = datetime(2026, 5, 1, tzinfo=UTC)
RESULT = {
    "as_of": "2026-06-01T00:00:00+00:00",
    "templates": [
        {"template_id": "A", "name": "Intro", "score": 0.4, "status": "promoted"},
        {"template_id": "B", "name": "Bump", "score": -0.3, "status": "deprecated"},
        {"template_id": "C", "name": "Case", "score": 0.1, "status": "active"},
    ],
    "segments": {"top_templates": {"smb": [{"template_id": "C"}]}},
}


def get_signed(client, query: str, *, timestamp: float = NOW, tamper: bool = False):
    ts = str(int(timestamp * 1000))
    path = "/hubspot/card" + query
    signature = sign_v3(SECRET, "GET", PUBLIC + path + ("x" if tamper else ""), b"", ts)
    return client.get(path, headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": ts})


@pytest.fixture
def client(settings, store: Store):
    tenant = store.create_tenant("hub", provider="hubspot", external_id=str(PORTAL))
    store.upsert(DealRow, tenant, [{"deal_id": "d1", "outcome": "won", "segment": "smb"}])
    store.upsert(
        MessageRow,
        tenant,
        [
            {"message_id": "m1", "deal_id": "d1", "template_id": "B", "position": 1, "sent_at": T0},
            {"message_id": "m2", "deal_id": "d1", "template_id": "A", "position": 2, "sent_at": T0},
        ],
    )
    return make_app(settings, store).test_client(), store, tenant


def test_card_without_analysis_says_so(client):
    c, _, _ = client
    body = js(get_signed(c, f"?portalId={PORTAL}&userId=9&dealId=d1"))
    assert body["status"] == "no_analysis"
    assert [t["template_id"] for t in body["deal_templates"]] == ["B", "A"]


def test_card_shows_segment_winners_first_and_the_deals_templates(client):
    c, store, tenant = client
    store.upsert(
        AnalysisRun, tenant, [{"kind": "analyze", "as_of": T0, "started_at": utcnow(), "result": RESULT}]
    )
    response = get_signed(c, f"?portalId={PORTAL}&userId=9&hs_object_id=d1")
    assert response.status_code == 200
    body = js(response)
    assert body["status"] == "ok"
    assert body["segment"] == "smb"
    assert [t["template_id"] for t in body["segment_templates"]] == ["C", "A", "B"]
    assert [(t["template_id"], t["status"]) for t in body["deal_templates"]] == [
        ("B", "deprecated"),
        ("A", "promoted"),
    ]


def test_card_rejects_bad_signatures_and_unknown_portals(client):
    c, _, _ = client
    assert get_signed(c, f"?portalId={PORTAL}&dealId=d1", tamper=True).status_code == 401
    assert get_signed(c, f"?portalId={PORTAL}&dealId=d1", timestamp=NOW - 600).status_code == 401
    assert get_signed(c, "?portalId=1&dealId=d1").status_code == 404
    assert get_signed(c, f"?portalId={PORTAL}").status_code == 400
