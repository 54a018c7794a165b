"""`feedbackloop connect hubspot … sync … analyze … writeback` through the real CLI, against the sandbox.

The second write-back with no score changes makes no API call at all; the values are readable on the
sandbox deals through the API afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import requests

from tests.test_hubspot_support import sandbox


def cli(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "feedbackloop.cli", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--format" in args else {}


def test_writeback_sends_changes_once_and_values_land_on_deals() -> None:
    with sandbox(deals=250, seed=5) as portal:
        subprocess.run(
            [sys.executable, "-m", "feedbackloop.cli", "connect", "hubspot", "--token", portal.handle.token,
             "--base-url", portal.url, "--tenant", "acme"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        cli("install", "--tenant", "acme", "--format", "json")
        synced = cli("sync", "--tenant", "acme", "--format", "json")
        assert synced["deals"] > 0
        cli("analyze", "--tenant", "acme", "--format", "json")
        dry = cli("writeback", "--tenant", "acme", "--dry-run", "--format", "json")
        assert dry["dry_run"] is True
        assert dry["would_update"] > 0
        assert dry["api_calls"] == 0
        first = cli("writeback", "--tenant", "acme", "--format", "json")
        templates = len(cli("templates", "list", "--tenant", "acme", "--format", "json"))
        # a Professional portal has no custom object for the per-template records: only deals are written
        assert first["updated"] == dry["would_update"] - templates
        assert first["failed"] == 0
        assert first["api_calls"] > 0
        second = cli("writeback", "--tenant", "acme", "--format", "json")
        assert second == {"updated": 0, "unchanged": dry["would_update"], "failed": 0, "api_calls": 0}
        deals = requests.get(
            f"{portal.url}/crm/v3/objects/deals",
            params={"limit": "100", "properties": "fl_template_scores,fl_last_scored_at,hs_is_closed_won"},
            headers={"Authorization": f"Bearer {portal.handle.token}"},
            timeout=30,
        ).json()["results"]
        scored = [d for d in deals if d["properties"].get("fl_template_scores")]
        assert scored, "no deal shows its template scores"
        assert all(d["properties"].get("fl_last_scored_at") for d in scored)
