"""A WSGI entry point for other servers: ``gunicorn 'feedbackloop.webhooks.wsgi:app'``.

Settings come from the environment (``FEEDBACKLOOP_*``). Only the web part runs here; run
``feedbackloop worker`` beside it for the inbox worker and the scheduler.
"""

from __future__ import annotations

from feedbackloop.config.settings import load_settings
from feedbackloop.dashboard import blueprint as dashboard
from feedbackloop.webhooks import create_app

__all__ = ["app"]

app = create_app(load_settings(), index=dashboard)
