"""Prometheus metrics of one service instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ServiceMetrics"]


class ServiceMetrics:
    """Requests, webhook events, inbox backlog and failures, scheduled job runs."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "feedbackloop_http_requests",
            "HTTP requests answered, by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "feedbackloop_http_request_seconds",
            "Time to answer an HTTP request",
            ["endpoint"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.webhook_events = Counter(
            "feedbackloop_webhook_events",
            "Webhook events by provider and result (accepted, duplicate, ignored, rejected)",
            ["provider", "result"],
            registry=self.registry,
        )
        self.inbox_backlog = Gauge(
            "feedbackloop_inbox_backlog", "Pending inbox events", registry=self.registry
        )
        self.processed = Counter(
            "feedbackloop_inbox_processed", "Inbox events processed", registry=self.registry
        )
        self.failures = Counter(
            "feedbackloop_inbox_failures", "Inbox processing failures", registry=self.registry
        )
        self.dead_letters = Counter(
            "feedbackloop_inbox_dead_letters", "Inbox events given up (dead)", registry=self.registry
        )
        self.job_runs = Counter(
            "feedbackloop_job_runs",
            "Scheduled job runs by job and result",
            ["job", "result"],
            registry=self.registry,
        )
