"""`python -m feedbackloop.demo` (what `make demo` runs).

1. CSV: simulate a sales world with known truth, write it in the public CSV format, import, analyze.
2. CRMs: start the sandbox HubSpot and Salesforce on loopback over one world, connect a tenant to each,
   install the write-back fields, sync with progress bars, analyze, write back, and read the values back.
3. Summary: top and bottom templates, declining ones, decisions, what was written to each CRM, and the
   HTML report.

Every run starts from a clean demo home under ``./demo-output`` so two runs in a row behave the same.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from textwrap import shorten
from typing import Any

import requests
from rich.console import Console

from feedbackloop.demo.crm import CrmRun, run_crm
from feedbackloop.demo.summary import print_findings
from feedbackloop.errors import FeedbackloopError
from feedbackloop.tables import compact_table

__all__ = ["main"]

OUT = Path(os.environ.get("FEEDBACKLOOP_DEMO_DIR", "demo-output")).resolve()


def _fresh_home() -> Path:
    home = OUT / "home"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    os.environ["FEEDBACKLOOP_HOME"] = str(home)
    os.environ.pop("FEEDBACKLOOP_DATABASE_URL", None)
    return home


def csv_stage(console: Console) -> None:
    from feedbackloop.analysis import analyze_tenant
    from feedbackloop.config.settings import load_settings
    from feedbackloop.connectors.csvfiles import import_csv
    from feedbackloop.sandbox.world import WorldConfig, generate_world
    from feedbackloop.store import open_store

    console.rule("1 · CSV import")
    started = time.perf_counter()
    with console.status("simulating a sales world (20,000 deals, 40 templates)…"):
        world = generate_world(WorldConfig(seed=1, deals=20_000))
        paths = world.to_csv(OUT / "csv")
    console.print(f"[green]✓[/green] sample world written as CSV to {paths['deals'].parent}")
    store = open_store(load_settings())
    with console.status("importing CSV files…"):
        report = import_csv(
            store, "demo-csv", deals=paths["deals"], messages=paths["messages"], templates=paths["templates"]
        )
    console.print(
        f"[green]✓[/green] imported {report.deals.imported:,} deals and {report.messages.imported:,} emails "
        f"in {report.duration_s:.1f} s"
    )
    tenant = store.resolve_tenant("demo-csv", create=False)
    with console.status("analyzing…"):
        data = analyze_tenant(store, tenant, world.now)
    print_findings(console, "CSV workspace 'demo-csv'", data, world.truth_summary())
    store.db.dispose()
    console.print(f"[dim]stage took {time.perf_counter() - started:.1f} s[/dim]")


def _hubspot_examples(url: str, token: str) -> list[str]:
    """A few deals as HubSpot now shows them: the values feedbackloop wrote."""
    response = requests.get(
        f"{url}/crm/v3/objects/deals",
        params={"limit": "100", "properties": "dealname,fl_template_scores,fl_deprecated_templates_used"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    shown = [d["properties"] for d in response.json()["results"] if d["properties"].get("fl_template_scores")]
    return [f"{p.get('dealname')}: {shorten(p['fl_template_scores'], 90, placeholder=' …')}"
            for p in shown[:3]]  # fmt: skip


def crm_stage(console: Console) -> list[CrmRun]:
    from feedbackloop.config.settings import load_settings
    from feedbackloop.connectors.hubspot.oauth import store_connection
    from feedbackloop.crypto import secret_box
    from feedbackloop.sandbox.runner import start_sandboxes
    from feedbackloop.sandbox.world import WorldConfig
    from feedbackloop.store import open_store

    console.rule("2 · Sandbox CRMs")
    settings = load_settings()
    store = open_store(settings)
    runs: list[CrmRun] = []
    with console.status("starting the sandbox HubSpot and Salesforce…"):
        handle = start_sandboxes(WorldConfig(seed=1, deals=2000), 0, 0)
    try:
        console.print(
            f"[green]✓[/green] sandbox HubSpot at {handle.hubspot_url}, Salesforce at {handle.salesforce_url}"
        )
        truth: dict[str, Any] = requests.get(f"{handle.hubspot_url}/_sandbox/truth", timeout=30).json()
        hubspot = store_connection(
            store,
            secret_box(settings),
            "acme-hubspot",
            base_url=handle.hubspot_url,
            hub_id=None,
            private_token=handle.token,
        )
        runs.append(
            run_crm(
                console,
                settings,
                store,
                hubspot,
                truth,
                lambda: _hubspot_examples(handle.hubspot_url, handle.token),
            )
        )
        runs.append(_salesforce(console, settings, store, handle, truth))
    finally:
        handle.stop()
        store.db.dispose()
    return runs


def _salesforce(console: Console, settings: Any, store: Any, handle: Any, truth: dict[str, Any]) -> CrmRun:
    from feedbackloop.demo.salesforce import connect_salesforce_tenant, salesforce_examples

    tenant = connect_salesforce_tenant(settings, store, handle)
    return run_crm(console, settings, store, tenant, truth, lambda: salesforce_examples(handle))


def summary_stage(console: Console, runs: list[CrmRun], elapsed: float) -> None:
    console.rule("3 · Summary")
    columns = ["tenant", "deals", "emails", "sync\ncalls", "written", "failed", "write\ncalls"]
    cells = [
        [
            run.tenant,
            f"{run.sync.get('deals', 0):,}",
            f"{run.sync.get('messages', 0):,}",
            str(run.sync.get("api_calls", 0)),
            f"{run.writeback.get('updated', 0):,}",
            str(run.writeback.get("failed", 0)),
            str(run.writeback.get("api_calls", 0)),
        ]
        for run in runs
    ]
    console.print(
        compact_table("What feedbackloop did in each CRM", columns, cells, [c != "tenant" for c in columns])
    )
    for run in runs:
        for line in run.examples:
            console.print(f"  [dim]{run.tenant}[/dim] {line}")
    for run in runs:
        console.print(f"HTML report for {run.tenant}: [bold]{run.report}[/bold]")
    console.print(f"[bold]demo finished in {elapsed:.0f} s[/bold]; data in {OUT}")


def main() -> int:
    started = time.perf_counter()
    console = Console()
    console.rule("[bold]feedbackloop demo")
    home = _fresh_home()
    console.print(f"demo data directory: {home}")
    try:
        csv_stage(console)
        runs = crm_stage(console)
    except FeedbackloopError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    summary_stage(console, runs, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
