"""Salesforce sync against the sandbox's default world: API calls vs. what the limits imply, time, memory.

"Implied" calls are the fewest the page and batch limits allow: three describes (global, EmailMessage,
Opportunity), one stage query, the template and cadence-step queries (2,000 records a page), the closed
opportunities (2,000 a page), and the email queries: at least one per 400 opportunity ids (the URI
limit) and one per 2,000 email rows.
"""

from __future__ import annotations

import math
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import requests

from feedbackloop.config.settings import load_settings
from feedbackloop.connectors.retry import RetryPolicy
from feedbackloop.connectors.salesforce import SalesforceConnector
from feedbackloop.connectors.salesforce.oauth import TokenSet, save_tokens
from feedbackloop.connectors.salesforce.soql import MAX_IDS_PER_QUERY
from feedbackloop.connectors.sync import run_sync
from feedbackloop.crypto import secret_box
from feedbackloop.sandbox.salesforce import start_salesforce
from feedbackloop.sandbox.world import WorldConfig, generate_world
from feedbackloop.store import open_store

PAGE = 2000


def implied_calls(org: Any) -> int:
    rows = org.sandbox.org
    closed = {r["Id"] for r in rows.rows("Opportunity") if r["IsClosed"]}
    emails = sum(1 for r in rows.rows("EmailMessage") if r["RelatedToId"] in closed)
    steps = len(rows.rows("ActionCadenceStep"))
    templates = len(rows.rows("EmailTemplate"))
    email_queries = max(math.ceil(len(closed) / MAX_IDS_PER_QUERY), math.ceil(emails / PAGE))
    return (
        3  # describes: global, EmailMessage, Opportunity
        + 1  # stages
        + math.ceil(templates / PAGE)
        + math.ceil(steps / PAGE)
        + math.ceil(len(closed) / PAGE)
        + email_queries
    )


def main() -> None:
    run(WorldConfig(), detailed=True)
    run(WorldConfig(deals=12_000), detailed=False)


def run(config: WorldConfig, *, detailed: bool) -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=Path(home))
        store = open_store(settings)
        org = start_salesforce(generate_world(config), Path(home) / "tls")
        policy = RetryPolicy(base_delay=0.01, max_delay=0.1)

        def sync(name: str) -> tuple[Any, float]:
            ref = store.create_tenant(
                name, provider="salesforce", settings={"instance_url": org.url, "ca_bundle": org.ca_file}
            )
            save_tokens(store, ref, TokenSet("sandbox-token", org.url), secret_box(settings))
            started = time.perf_counter()
            summary = run_sync(
                store, ref, SalesforceConnector(settings, store, ref, policy=policy), full=True
            )
            return summary, time.perf_counter() - started

        try:
            sync("warm-up")  # the sandbox maps the world on first use: keep that out of the timings
            summary, elapsed = sync("clean")
            implied = implied_calls(org)
            clean = store.get_tenant("clean")
            assert clean is not None
            again = run_sync(store, clean, SalesforceConnector(settings, store, clean, policy=policy))
            truth = requests.get(f"{org.url}/_sandbox/truth", verify=org.ca_file, timeout=30).json()
            print(
                f"world of {config.deals} deals: {truth['deals']}, {truth['emails']} emails on closed deals"
            )
            print(
                f"full sync: {summary.deals} deals, {summary.messages} emails, {summary.api_calls} API calls "
                f"(implied by page/batch limits: {implied}, ratio {summary.api_calls / implied:.2f}), "
                f"{elapsed:.1f} s (client and sandbox share one process)"
            )
            print(f"second sync, nothing changed: {again.api_calls} API calls")
            if not detailed:
                return
            step = requests.post(
                f"{org.url}/_sandbox/advance", json={"days": 7}, verify=org.ca_file, timeout=60
            ).json()
            later = run_sync(store, clean, SalesforceConnector(settings, store, clean, policy=policy))
            print(
                f"after 7 simulated days ({step['closed_deals']} deals closed): {later.deals} deals, "
                f"{later.messages} emails in {later.api_calls} API calls"
            )
            tracemalloc.start()
            sync("traced")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f"peak traced memory of a full sync (client + sandbox): {peak / 2**20:.0f} MiB")
            faults = {"rate": 0.1, "kinds": ["500", "429", "reset"]}
            requests.post(f"{org.url}/_sandbox/faults", json=faults, verify=org.ca_file, timeout=30)
            noisy, elapsed = sync("faulty")
            print(
                f"full sync with 10% faults: {noisy.deals} deals, {noisy.messages} emails, "
                f"{noisy.api_calls} API calls, {elapsed:.1f} s"
            )
        finally:
            org.stop()
            store.db.dispose()


if __name__ == "__main__":
    main()
