"""/healthz, /metrics, the status page, and `feedbackloop serve` / `worker` as processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from feedbackloop.store import Store
from feedbackloop.webhooks.inbox import Inbox
from feedbackloop.webhooks.worker import InboxWorker, StoreOutcomes
from tests.service_support import PORTAL, hs_event, js, make_app, post_hubspot

pytestmark = pytest.mark.store


def test_healthz_reports_database_worker_and_backlog(settings, store: Store):
    store.create_tenant("hub", provider="hubspot", external_id=str(PORTAL))
    client = make_app(settings, store).test_client()
    body = js(client.get("/healthz"))
    assert body["database"] == "ok"
    assert body["worker"]["alive"] is False
    assert body["status"] == "degraded"
    post_hubspot(client, [hs_event(1), hs_event(2)])
    assert js(client.get("/healthz"))["inbox"]["backlog"] == 2
    InboxWorker(store, StoreOutcomes(store)).beat()
    body = js(client.get("/healthz"))
    assert body["worker"]["alive"] is True
    assert body["status"] == "ok"


def test_metrics_count_requests_and_webhook_results(settings, store: Store):
    store.create_tenant("hub", provider="hubspot", external_id=str(PORTAL))
    client = make_app(settings, store).test_client()
    post_hubspot(client, [hs_event(1)])
    post_hubspot(client, [hs_event(1)])
    post_hubspot(client, [hs_event(2)], headers={"X-HubSpot-Signature-v3": "bad"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'feedbackloop_webhook_events_total{provider="hubspot",result="accepted"} 1.0' in text
    assert 'feedbackloop_webhook_events_total{provider="hubspot",result="duplicate"} 1.0' in text
    assert 'feedbackloop_webhook_events_total{provider="hubspot",result="rejected"} 1.0' in text
    assert 'feedbackloop_http_requests_total{endpoint="/webhooks/hubspot",status="401"} 1.0' in text
    assert "feedbackloop_inbox_backlog 1.0" in text
    assert "feedbackloop_inbox_dead_letters_total" in text
    assert "feedbackloop_job_runs_total" in text or "feedbackloop_job_runs" in text


def test_status_page(settings, store: Store):
    store.create_tenant("hub", provider="hubspot", external_id=str(PORTAL))
    response = make_app(settings, store).test_client().get("/")
    assert response.status_code == 200
    assert "hub" in response.get_data(as_text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_and_worker_commands_run_as_processes(settings, store: Store):
    port = _free_port()
    env = {**os.environ, "FEEDBACKLOOP_HUBSPOT_CLIENT_SECRET": "s", "FEEDBACKLOOP_DATABASE_URL": store.db.url}
    cli = [sys.executable, "-m", "feedbackloop.cli"]
    web = subprocess.Popen([*cli, "serve", "--port", str(port), "--no-worker"], env=env)
    worker = subprocess.Popen([*cli, "worker", "--no-scheduler"], env=env)
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline:
            try:
                body = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
                if body["worker"]["alive"]:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        assert body is not None
        assert body["worker"]["alive"], body
        assert Inbox(store).counts()["pending"] == 0
    finally:
        for proc in (web, worker):
            proc.send_signal(signal.SIGTERM)
        assert web.wait(timeout=30) == 0
        assert worker.wait(timeout=30) == 0
