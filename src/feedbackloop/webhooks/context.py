"""What every blueprint of one service instance shares, kept in ``app.extensions``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app

from feedbackloop.config.settings import Settings
from feedbackloop.crypto import SecretBox
from feedbackloop.store import Store
from feedbackloop.webhooks.inbox import Inbox
from feedbackloop.webhooks.metrics import ServiceMetrics

__all__ = ["EXTENSION", "ServiceContext", "service"]

EXTENSION = "feedbackloop"


@dataclass
class ServiceContext:
    """Settings, store, inbox, metrics, the clock (seconds since the epoch) and the secret box."""

    settings: Settings
    store: Store
    inbox: Inbox
    box: SecretBox
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    clock: Callable[[], float] = time.time

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self


def service() -> ServiceContext:
    """The context of the app handling the current request."""
    ctx: ServiceContext = current_app.extensions[EXTENSION]
    return ctx
