"""``feedbackloop sandbox``: serve the emulated HubSpot and Salesforce APIs until interrupted."""

from __future__ import annotations

import importlib
import threading
import time
from typing import Any

import typer

from feedbackloop.commands.common import console
from feedbackloop.errors import UsageError

__all__ = ["sandbox"]


def _config(seed: int, deals: int) -> Any:
    try:
        world_module = importlib.import_module("feedbackloop.sandbox.world")
    except ImportError:
        raise UsageError(
            "the world generator (feedbackloop.sandbox.world) is not part of this build"
        ) from None
    return world_module.WorldConfig(seed=seed, deals=deals)


def sandbox(
    hubspot_port: int = typer.Option(8101, "--hubspot-port", help="HubSpot sandbox port (0: any free port)."),
    salesforce_port: int = typer.Option(8102, "--salesforce-port", help="Salesforce sandbox port (HTTPS)."),
    seed: int = typer.Option(1, "--seed", help="Seed of the simulated sales world."),
    deals: int = typer.Option(2000, "--deals", min=1, help="Number of deals in the world."),
    webhook_url: str | None = typer.Option(
        None, "--webhook-url", help="Where HubSpot webhooks go when deals close (signed v3 with the secret)."
    ),
    outbound_url: str | None = typer.Option(
        None, "--outbound-url", help="Where Salesforce outbound messages go when deals close."
    ),
    faults: float = typer.Option(0.0, "--faults", min=0.0, max=1.0, help="Share of requests given a fault."),
    enterprise: bool = typer.Option(
        False, "--enterprise", help="HubSpot portal on Enterprise (custom objects)."
    ),
) -> None:
    """Serve sandbox CRMs on loopback, seeded from a simulated sales world with known truth.

    Example: feedbackloop sandbox --deals 500 --webhook-url http://127.0.0.1:8000/webhooks/hubspot
    Advance time: curl 127.0.0.1:8101/_sandbox/advance -H 'Content-Type: application/json' -d '{"days": 7}'
    """
    from feedbackloop.sandbox.runner import start_sandboxes

    started = time.perf_counter()
    handle = start_sandboxes(
        _config(seed, deals),
        hubspot_port,
        salesforce_port,
        webhook_url,
        faults,
        enterprise=enterprise,
        outbound_url=outbound_url,
    )

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, highlight=False)

    try:
        say(f"[bold]feedbackloop sandbox[/bold] ready in {time.perf_counter() - started:.1f} s")
        say(f"  HubSpot     {handle.hubspot_url}   (hubspot-api-client: host={handle.hubspot_url})")
        if handle.salesforce_url:
            say(f"  Salesforce  {handle.salesforce_url}")
            say(f"  CA file     {handle.ca_path}   (trust it for the Salesforce sandbox)")
        for note in handle.notes:
            say(f"  note        {note}")
        say(f"  token       {handle.token}   (Authorization: Bearer …)")
        options = handle.hubspot.options
        say(f"  OAuth app   client_id={options.client_id} client_secret={options.client_secret}")
        say(f"  webhooks    signed (v3) with the client secret {handle.client_secret}")
        say(f"  admin       {handle.hubspot_url}/_sandbox/{{stats,truth,advance,faults,limits,reset}}")
        say("Press Ctrl-C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        say("stopping…")
    finally:
        handle.stop()
