"""Serving the Salesforce sandbox over HTTPS in-process (tests, the demo and ``feedbackloop sandbox``)."""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask

from feedbackloop.sandbox.faults import CallStats, FaultInjector
from feedbackloop.sandbox.salesforce.app import SalesforceSandbox, create_salesforce_app, sandbox_of
from feedbackloop.sandbox.salesforce.objects import WorldFrames
from feedbackloop.sandbox.salesforce.tls import make_tls_context
from feedbackloop.sandbox.serving import RunningServer

__all__ = ["SalesforceServer", "start_salesforce", "trusting_session"]


def trusting_session(ca_file: str) -> requests.Session:
    """A requests session that verifies against ``ca_file``.

    ``trust_env`` is off because requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from the
    environment override ``session.verify`` (set on many machines, this one included), which makes a
    correctly configured client fail with "self-signed certificate in certificate chain".
    """
    session = requests.Session()
    session.verify = ca_file
    session.trust_env = False
    return session


@dataclass
class SalesforceServer:
    """A running sandbox org: its server, app, state and the CA file clients must trust."""

    server: RunningServer
    app: Flask
    sandbox: SalesforceSandbox
    ca_file: str

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.sandbox.close()
        self.server.stop()


def start_salesforce(
    world: WorldFrames,
    directory: str | os.PathLike[str],
    *,
    lock: AbstractContextManager[Any] | None = None,
    stats: CallStats | None = None,
    faults: FaultInjector | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> SalesforceServer:
    """Create the app and a certificate under ``directory``; serve on ``https://host:port`` (0: any)."""
    app = create_salesforce_app(
        world,
        lock or threading.RLock(),
        stats=stats or CallStats(),
        faults=faults or FaultInjector(),
        **options,
    )
    context, ca_file = make_tls_context(directory)
    server = RunningServer(app, host=host, port=port, ssl_context=context).start()
    sandbox = sandbox_of(app)
    sandbox.base_url = server.url
    return SalesforceServer(server, app, sandbox, ca_file)
