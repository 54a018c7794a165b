"""The emulated HubSpot API: a Flask app serving one portal built from the simulated sales world.

``create_hubspot_app(world, HubSpotOptions(...))`` gives the WSGI app; serve it with
:class:`feedbackloop.sandbox.serving.RunningServer` and point ``hubspot-api-client`` at it with
``HubSpot(access_token="sandbox-token", host=url)``.
"""

from __future__ import annotations

from feedbackloop.sandbox.hubspot.app import HubSpotSandbox, create_hubspot_app, sandbox_of
from feedbackloop.sandbox.hubspot.events import sign_v3
from feedbackloop.sandbox.hubspot.options import OPTIONAL_EMAIL_PROPERTIES, HubSpotOptions

__all__ = [
    "OPTIONAL_EMAIL_PROPERTIES",
    "HubSpotOptions",
    "HubSpotSandbox",
    "create_hubspot_app",
    "sandbox_of",
    "sign_v3",
]
