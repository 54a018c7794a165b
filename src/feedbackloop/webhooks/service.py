"""Running the service: web (waitress), the inbox worker and the scheduler, together or apart.

``feedbackloop serve`` runs all three in one process (threads); ``serve --no-worker`` only the web part,
for when ``feedbackloop worker`` runs the worker and the scheduler in a process of their own.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from feedbackloop.config.settings import Settings
from feedbackloop.store import Store, open_store
from feedbackloop.webhooks.inbox import Inbox
from feedbackloop.webhooks.metrics import ServiceMetrics
from feedbackloop.webhooks.worker import EventHandler, InboxWorker

__all__ = ["BackgroundParts", "run_worker", "serve_web"]

log = logging.getLogger(__name__)


@dataclass
class BackgroundParts:
    """The inbox worker thread and the scheduler of one process."""

    settings: Settings
    store: Store
    metrics: ServiceMetrics
    handler: EventHandler | None = None
    scheduler_enabled: bool = True
    schedule: Any = None  # a jobs.scheduler.ScheduleConfig
    debounce: timedelta = timedelta(seconds=60)
    stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _scheduler: Any = None

    def start(self) -> None:
        from feedbackloop.webhooks.handlers import SyncAndLearn

        handler = self.handler or SyncAndLearn(self.settings, self.store)
        worker = InboxWorker(
            self.store, handler, inbox=Inbox(self.store), metrics=self.metrics, debounce=self.debounce
        )
        thread = threading.Thread(
            target=worker.run_forever, args=(self.stop,), name="inbox-worker", daemon=True
        )
        thread.start()
        self._threads.append(thread)
        if self.scheduler_enabled:
            from feedbackloop.jobs import scheduler as jobs
            from feedbackloop.jobs.tasks import Runtime

            rt = Runtime(self.settings, self.store, metrics=self.metrics)
            self._scheduler = jobs.build_scheduler(rt, self.schedule)
            jobs.start(self._scheduler)

    def close(self) -> None:
        self.stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        for thread in self._threads:
            thread.join(timeout=10)


def serve_web(
    settings: Settings,
    host: str,
    port: int,
    *,
    background: bool = True,
    threads: int = 8,
    store: Store | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM on waitress, with the worker and scheduler unless ``background`` is off."""
    from waitress import create_server

    from feedbackloop.dashboard import blueprint as dashboard
    from feedbackloop.webhooks import create_app

    store = store or open_store(settings)
    app = create_app(settings, store=store, index=dashboard)
    ctx = app.extensions["feedbackloop"]
    parts = BackgroundParts(settings, store, ctx.metrics) if background else None
    server: Any = create_server(app, host=host, port=port, threads=threads, ident="feedbackloop")
    stop_server = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        del signum
        stop_server.set()
        server.close()

    signal.signal(signal.SIGTERM, _stop)
    if parts is not None:
        parts.start()
    log.warning("serving on http://%s:%s", host, server.effective_port)
    try:
        server.run()
    except (KeyboardInterrupt, OSError):
        pass
    finally:
        if parts is not None:
            parts.close()
        store.db.dispose()


def run_worker(settings: Settings, *, scheduler: bool = True) -> None:
    """The worker (and scheduler) without the web part, until SIGINT/SIGTERM."""
    store = open_store(settings)
    parts = BackgroundParts(settings, store, ServiceMetrics(), scheduler_enabled=scheduler)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    parts.start()
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        parts.close()
        store.db.dispose()
