"""The web service: CRM webhooks, OAuth install, the record card, the selection API, health and metrics.

``create_app(settings)`` builds the Flask app; ``InboxWorker`` processes what the webhooks stored.
"""

from __future__ import annotations

from feedbackloop.webhooks.app import create_app

__all__ = ["create_app"]
