"""End to end: both sandbox CRMs → webhooks / outbound messages → `serve` → store → scores back in the CRMs.

The service runs on waitress with its worker and a short-cycle scheduler; tenants are installed through
the OAuth routes against the sandboxes' authorize endpoints; the world then advances, the sandboxes
announce the deals that closed, and within one scheduler cycle the closed deals are in the store, their
outcomes in the ledger (once each) and their scores written back to both CRMs.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from pydantic import SecretStr

from feedbackloop.config.settings import load_settings
from feedbackloop.connectors.registry import build_connector
from feedbackloop.jobs.scheduler import ScheduleConfig
from feedbackloop.jobs.tasks import default_analyze, default_sync
from feedbackloop.sandbox.runner import start_sandboxes
from feedbackloop.sandbox.world import WorldConfig
from feedbackloop.store import open_store
from feedbackloop.store.models import DealRow, WriteBackStateRow
from feedbackloop.store.service_models import OutcomeLedgerRow
from feedbackloop.webhooks import create_app
from feedbackloop.webhooks.inbox import Inbox
from feedbackloop.webhooks.salesforce import set_outbound_secret
from feedbackloop.webhooks.service import BackgroundParts

pytestmark = pytest.mark.slow

OUTBOUND_SECRET = "e2e-outbound-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _deal_ids(store: Any, tenant: Any) -> set[str]:
    with store.db.session() as s:
        return set(s.scalars(sa.select(DealRow.deal_id).where(DealRow.tenant_id == tenant.id)))


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_closed_deals_flow_through_serve_and_back_into_both_crms(tmp_path):
    from waitress import create_server

    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    handle = start_sandboxes(
        WorldConfig(seed=5, deals=300, templates=12),
        0,
        0,
        webhook_url=f"{public}/webhooks/hubspot",
        outbound_url=f"{public}/webhooks/salesforce/{OUTBOUND_SECRET}",
        directory=tmp_path / "sandbox",
    )
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'service.db'}",
        hubspot_client_id="sandbox-client",
        hubspot_client_secret=SecretStr(handle.client_secret),
        salesforce_client_id="sandbox-client-id",
        salesforce_client_secret=SecretStr("sandbox-client-secret"),
        public_url=public,
    )
    store = open_store(settings)
    app = create_app(settings, store=store)
    app.config.update(
        FL_HUBSPOT_AUTHORIZE_URL=f"{handle.hubspot_url}/oauth/authorize",
        FL_HUBSPOT_API_URL=handle.hubspot_url,
        FL_SALESFORCE_LOGIN_URL=handle.salesforce_url,
        FL_SALESFORCE_CA_BUNDLE=handle.ca_path,
    )
    server: Any = create_server(app, host="127.0.0.1", port=port, threads=4)
    web = threading.Thread(target=server.run, daemon=True)
    web.start()
    parts = BackgroundParts(
        settings,
        store,
        app.extensions["feedbackloop"].metrics,
        schedule=ScheduleConfig(sync_minutes=60, analyze_minutes=60, due_check_seconds=1),
        debounce=timedelta(seconds=0.5),
    )
    try:
        # Install both apps through OAuth (the sandboxes approve at once and redirect back).
        hub = requests.get(f"{public}/oauth/hubspot/install?tenant=hub", timeout=60)
        assert hub.status_code == 200, hub.text
        sf = requests.get(f"{public}/oauth/salesforce/install?tenant=sf", timeout=60, verify=handle.ca_path)
        assert sf.status_code == 200, sf.text
        tenants = {t.name: t for t in store.list_tenants()}
        assert tenants["hub"].provider == "hubspot"
        assert tenants["sf"].provider == "salesforce"
        set_outbound_secret(store, tenants["sf"], OUTBOUND_SECRET)
        tenants = {t.name: t for t in store.list_tenants()}
        # What `feedbackloop install` and the first scheduler cycle do: properties, sync, analyze, write back.
        for tenant in tenants.values():
            build_connector(settings, store, tenant).install()
            default_sync(settings, store, tenant)
            default_analyze(settings, store, tenant)
        before = {name: _deal_ids(store, t) for name, t in tenants.items()}
        parts.start()

        summary = handle.advance(6)
        assert summary["closed_deals"] > 0
        inbox = Inbox(store)

        def settled() -> bool:
            with store.db.engine.connect() as conn:
                providers = {
                    p for (p,) in conn.execute(sa.text("SELECT DISTINCT provider FROM webhook_inbox"))
                }
                due = conn.execute(sa.text("SELECT count(*) FROM analysis_requests")).scalar()
            return {"hubspot", "salesforce"} <= providers and inbox.counts()["pending"] == 0 and due == 0

        _wait(settled, 120, "the inbox to drain and the re-analysis to run")
        assert inbox.counts()["dead"] == 0
        for name, tenant in tenants.items():
            closed_now = _deal_ids(store, tenant) - before[name]
            assert closed_now, f"{name}: no newly closed deal reached the store"
            with store.db.session() as s:
                written = set(
                    s.scalars(
                        sa.select(WriteBackStateRow.record_key).where(
                            WriteBackStateRow.tenant_id == tenant.id
                        )
                    )
                )
                learned = set(
                    s.scalars(
                        sa.select(OutcomeLedgerRow.deal_id).where(OutcomeLedgerRow.tenant_id == tenant.id)
                    )
                )
            # Each newly closed deal was learned once and its scores were written back to the CRM.
            assert closed_now <= learned, f"{name}: {closed_now - learned} not learned"
            assert {f"deal:{d}" for d in closed_now} <= written, f"{name}: scores not written back"
        # And HubSpot really holds them: read a newly closed deal through the sandbox API.
        deal_id = sorted(_deal_ids(store, tenants["hub"]) - before["hub"])[0]
        response = requests.get(
            f"{handle.hubspot_url}/crm/v3/objects/deals/{deal_id}",
            params={"properties": "fl_template_scores,fl_last_scored_at"},
            headers={"Authorization": f"Bearer {handle.token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["properties"].get("fl_last_scored_at")
    finally:
        parts.close()
        server.close()
        handle.stop()
        store.db.dispose()
