"""`python -m feedbackloop.demo` (what `make demo` runs).

Stage 1 (CSV): simulate a sales world with known truth, write it in the public CSV format, import it,
analyze it, and print what the engine found next to the truth. Every run starts from a clean demo
home under ``./demo-output`` so two runs in a row behave the same.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from feedbackloop.demo.summary import print_findings
from feedbackloop.errors import FeedbackloopError

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


def main() -> int:
    console = Console()
    console.rule("[bold]feedbackloop demo")
    home = _fresh_home()
    console.print(f"demo data directory: {home}")
    try:
        csv_stage(console)
    except FeedbackloopError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    console.rule("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
