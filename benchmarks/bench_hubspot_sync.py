"""HubSpot sync against the sandbox over real HTTP: API calls vs the batch-limit minimum, throughput.

Runs (1) the default world (2,000 deals) under HubSpot's real limits (110 requests / 10 s, search 5 / s),
then a second sync with nothing changed and one after the world advances a day; (2) the same world and
a 14,500-deal world (12,000+ closed, past the 10,000-result search cap) with the limits lifted, to show
what the connector itself costs. Run: ``.venv/bin/python -m benchmarks bench_hubspot_sync``.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from typing import Any

import requests

__all__ = ["main"]


def _implied(world: Any) -> int:
    """API calls the batch limits imply for a full sync of ``world``."""
    deals = world.deals_frame()
    closed = deals[deals["outcome"].isin(["won", "lost"])]
    ids = set(closed["deal_id"].astype(str))
    messages = world.messages_frame()
    messages = messages[messages["deal_id"].astype(str).isin(ids)]
    replies = world.replies_frame()
    replies = replies[replies["deal_id"].astype(str).isin(ids)]
    return int(
        math.ceil(len(closed) / 200)
        + 3 * math.ceil(len(closed) / 1000)
        + math.ceil((len(messages) + len(replies)) / 100)
        + math.ceil(closed["company_id"].nunique() / 100)
        + int(messages["sequence_id"].dropna().nunique())
        + 4
    )


def _run(deals: int, *, real_limits: bool, seed: int = 1, **world: Any) -> dict[str, Any]:
    from feedbackloop.config.settings import load_settings
    from feedbackloop.connectors.hubspot import create_connector
    from feedbackloop.connectors.hubspot.oauth import store_connection
    from feedbackloop.connectors.sync import run_sync
    from feedbackloop.crypto import secret_box
    from feedbackloop.sandbox.runner import start_sandboxes
    from feedbackloop.sandbox.world import WorldConfig
    from feedbackloop.store import open_store
    from feedbackloop.store.models import DealRow, MessageRow

    fast = {"burst_limit": 10**6, "search_limit": 10**6}
    with tempfile.TemporaryDirectory() as home:
        os.environ["FEEDBACKLOOP_HOME"] = home
        settings = load_settings(home=home)
        store = open_store(settings)
        config = WorldConfig(seed=seed, deals=deals, **world)
        options = {} if real_limits else fast
        with start_sandboxes(
            config, 0, None, hubspot_options={"hub_id": 777 + deals + real_limits, **options}
        ) as h:
            tenant = store_connection(
                store,
                secret_box(settings),
                "bench",
                base_url=h.hubspot_url,
                hub_id=None,
                private_token=h.token,
            )
            if not real_limits:
                tenant = store.update_tenant(
                    tenant, settings={**tenant.settings, "limits": {"burst": 10**6, "search": 10**6}}
                )
            connector = create_connector(settings, store, tenant)
            started = time.perf_counter()
            first = run_sync(store, tenant, connector)
            elapsed = time.perf_counter() - started
            out: dict[str, Any] = {
                "world_deals": deals,
                "limits": "HubSpot (110/10 s, search 5/s)" if real_limits else "lifted",
                "closed_deals": store.count(DealRow, tenant),
                "emails": store.count(MessageRow, tenant),
                "api_calls": first.api_calls,
                "implied_calls": _implied(h.world),
                "seconds": round(elapsed, 1),
                "deals_per_s": round(store.count(DealRow, tenant) / elapsed, 1),
                "calls_per_s": round(first.api_calls / elapsed, 1),
                "limiter_wait_s": round(connector.client.burst.waited + connector.client.search.waited, 1),
            }
            out["ratio"] = round(out["api_calls"] / out["implied_calls"], 3)
            if real_limits:
                out["second_sync_calls"] = run_sync(store, tenant, connector).api_calls
                h.advance(1)
                later = run_sync(store, tenant, connector)
                out["after_advance"] = {"deals": later.deals, "api_calls": later.api_calls}
            out["rate_limited_429"] = requests.get(f"{h.hubspot_url}/_sandbox/stats", timeout=30).json()[
                "rate_limited"
            ]
        store.db.dispose()
    return out


def main() -> None:
    for result in (
        _run(2000, real_limits=True),
        _run(2000, real_limits=False),
        _run(14_500, real_limits=False, seed=2, steps=1, templates=10),
    ):
        print(result, flush=True)


if __name__ == "__main__":
    main()
