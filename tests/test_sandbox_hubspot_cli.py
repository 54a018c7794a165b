"""`start_sandboxes` in-process, and `feedbackloop sandbox` as a real process (ready, answering, Ctrl-C)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from feedbackloop.sandbox.runner import start_sandboxes
from tests.test_sandbox_hubspot_support import make_world, sdk

HAS_SALESFORCE = importlib.util.find_spec("feedbackloop.sandbox.salesforce") is not None


def _get(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
        return json.loads(response.read())


def test_start_sandboxes_in_process_shares_one_world() -> None:
    world = make_world()
    heard: list[Any] = []
    with start_sandboxes(world, 0, None, faults=0.0) as handle:
        handle.hubspot.listeners.append(lambda step, day: heard.append((step, day)))
        assert handle.token == "sandbox-token"
        assert handle.client_secret == "sandbox-secret"
        assert sdk(handle.hubspot_url).crm.deals.basic_api.get_page(limit=1).results
        before = world.now
        summary = handle.advance(3)
        assert world.now > before
        assert summary["end"] == str(world.now)
        assert len(heard) == 1
        stats = _get(handle.hubspot_url + "/_sandbox/stats")
        assert stats["by_endpoint"] == {"GET /crm/v3/objects/deals": 1}


def test_advance_past_the_simulated_future_is_a_400() -> None:
    with start_sandboxes(make_world(), 0, None) as handle:
        request = urllib.request.Request(
            handle.hubspot_url + "/_sandbox/advance",
            data=b'{"days": 100000}',
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400


@pytest.mark.skipif(not HAS_SALESFORCE, reason="the Salesforce sandbox is merged separately")
def test_salesforce_runs_on_the_same_world(tmp_path: Any) -> None:
    salesforce = importlib.import_module("feedbackloop.sandbox.salesforce")
    world = make_world()
    with start_sandboxes(world, 0, 0, directory=tmp_path) as handle:
        assert handle.salesforce_url
        assert handle.salesforce_url.startswith("https://")
        assert handle.ca_path
        session = salesforce.trusting_session(handle.ca_path)
        query = {"q": "SELECT Id FROM Opportunity"}
        auth = {"Authorization": f"Bearer {handle.token}"}
        url = handle.salesforce_url + "/services/data/v60.0/query"
        before = session.get(url, params=query, headers=auth, timeout=10).json()["totalSize"]
        summary = handle.advance(30)
        after = session.get(url, params=query, headers=auth, timeout=10).json()["totalSize"]
        assert after == before + summary["new_deals"]


def test_busy_port_is_a_usage_error() -> None:
    from feedbackloop.errors import UsageError

    world = make_world()
    with start_sandboxes(world, 0, None) as first:
        port = int(first.hubspot_url.rsplit(":", 1)[1])
        with pytest.raises(UsageError, match="already in use"):
            start_sandboxes(world, port, None)


def test_cli_serves_the_default_world_and_stops_on_ctrl_c() -> None:
    command = [
        sys.executable,
        "-m",
        "feedbackloop.cli",
        "sandbox",
        "--hubspot-port",
        "0",
        "--salesforce-port",
        "0",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        ready = time.perf_counter() - started
        text = "".join(lines)
        match = re.search(r"HubSpot\s+(http://127\.0\.0\.1:\d+)", text)
        assert match, text
        assert "sandbox-token" in text
        assert "sandbox-secret" in text
        assert _get(match.group(1) + "/crm/v3/pipelines/deals", "sandbox-token")["results"]
        assert ready < 30  # the benchmark measures the real figure (README); here only "it comes up"
    finally:
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=15)
    assert process.returncode == 0, remaining
