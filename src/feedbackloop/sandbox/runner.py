"""Starting the sandbox CRMs in-process: HubSpot on HTTP and Salesforce on HTTPS over one shared world.

Used by ``feedbackloop sandbox``, the demo and tests::

    with start_sandboxes(WorldConfig(seed=1, deals=2000), 0, 0) as handle:
        HubSpot(access_token=handle.token, host=handle.hubspot_url)

Both sandboxes read the same world object under one lock; advancing it through either handle or the
HubSpot admin API lets both react (HubSpot webhooks, Salesforce outbound messages).
"""

from __future__ import annotations

import errno
import importlib
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from feedbackloop.errors import UsageError
from feedbackloop.sandbox.faults import FaultInjector
from feedbackloop.sandbox.hubspot import HubSpotOptions, HubSpotSandbox, create_hubspot_app, sandbox_of
from feedbackloop.sandbox.serving import RunningServer

__all__ = ["SandboxHandle", "start_sandboxes"]


@dataclass
class SandboxHandle:
    """The running sandboxes: their URLs, the credentials to use, and the shared world."""

    world: Any
    lock: threading.RLock
    hubspot_server: RunningServer
    hubspot: HubSpotSandbox
    salesforce_server: Any | None = None
    ca_path: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def hubspot_url(self) -> str:
        return self.hubspot_server.url

    @property
    def salesforce_url(self) -> str | None:
        return str(self.salesforce_server.url) if self.salesforce_server is not None else None

    @property
    def token(self) -> str:
        """The private-app style bearer token the HubSpot sandbox accepts (and Salesforce's static token)."""
        return self.hubspot.options.private_token

    @property
    def client_secret(self) -> str:
        """The HubSpot app's client secret: webhook signatures (v3) are made with it."""
        return self.hubspot.options.client_secret

    def advance(self, days: float) -> dict[str, Any]:
        """Advance the shared world; HubSpot sends webhooks, Salesforce outbound messages."""
        return self.hubspot.advance(days)

    def stop(self) -> None:
        if self.salesforce_server is not None:
            self.salesforce_server.stop()
        self.hubspot_server.stop()
        self.hubspot.close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _world(world_config: Any) -> Any:
    if hasattr(world_config, "deals_frame"):
        return world_config  # an already generated world
    world_module = importlib.import_module("feedbackloop.sandbox.world")
    return world_module.generate_world(world_config)


def _check_port(host: str, port: int, option: str) -> None:
    """A clear error for a busy port (werkzeug would print its own message and exit the process)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} is already in use; choose another with {option}") from None
            raise


def _serve(app: Any, host: str, port: int, option: str) -> RunningServer:
    _check_port(host, port, option)
    return RunningServer(app, host=host, port=port).start()


def _salesforce_listener(module: Any, sandbox: Any) -> Any:
    """How the Salesforce org hears that the shared world moved (its outbound messages, daily quota)."""
    if hasattr(sandbox, "after_advance"):
        return lambda step, _day_before: sandbox.after_advance(step)
    return lambda step, day_before: module.on_advance(sandbox, step, day_before)


def start_sandboxes(
    world_config: Any,
    hubspot_port: int = 8101,
    salesforce_port: int | None = 8102,
    webhook_url: str | None = None,
    faults: float = 0.0,
    *,
    enterprise: bool = False,
    host: str = "127.0.0.1",
    directory: str | Path | None = None,
    outbound_url: str | None = None,
    hubspot_options: dict[str, Any] | None = None,
    salesforce_options: dict[str, Any] | None = None,
) -> SandboxHandle:
    """Generate the world (or take one), serve HubSpot and, unless ``salesforce_port`` is None, Salesforce.

    Port 0 picks a free port. ``faults`` is the injected-fault rate of both sandboxes (all kinds).
    """
    world = _world(world_config)
    lock = threading.RLock()
    options = HubSpotOptions(webhook_url=webhook_url, enterprise=enterprise, **(hubspot_options or {}))
    hubspot_faults = FaultInjector(seed=options.fault_seed)
    hubspot_faults.configure(faults)
    app = create_hubspot_app(world, options, lock=lock, faults=hubspot_faults)
    handle = SandboxHandle(world, lock, _serve(app, host, hubspot_port, "--hubspot-port"), sandbox_of(app))
    if salesforce_port is None:
        return handle
    try:
        salesforce = importlib.import_module("feedbackloop.sandbox.salesforce")
    except ImportError:
        handle.notes.append("the Salesforce sandbox is not part of this build")
        return handle
    try:
        _check_port(host, salesforce_port, "--salesforce-port")
    except UsageError:
        handle.stop()
        raise
    directory = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="feedbackloop-sandbox-"))
    salesforce_faults = FaultInjector(seed=options.fault_seed + 1)
    salesforce_faults.configure(faults)
    try:
        server = salesforce.start_salesforce(
            world,
            directory,
            lock=lock,
            faults=salesforce_faults,
            host=host,
            port=salesforce_port,
            outbound_url=outbound_url,
            **(salesforce_options or {}),
        )
    except OSError as exc:
        handle.stop()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {salesforce_port} is already in use; choose another --salesforce-port"
            ) from None
        raise
    handle.salesforce_server = server
    handle.ca_path = str(server.ca_file)
    handle.hubspot.listeners.append(_salesforce_listener(salesforce, server.sandbox))
    return handle
