"""The contract every CRM connector honours, run against its sandbox over real HTTP.

A connector's test module subclasses :class:`ConnectorContract` and provides the fixtures ``connector``
(a fresh connector for ``tenant``), ``sandbox_admin`` (base URL of the sandbox, whose ``/_sandbox/*``
admin API answers ``truth`` and ``stats``), ``store`` and ``tenant``; ``sandbox_verify`` (what
``requests`` should verify the admin API with: True, or the sandbox's CA file) defaults to True.
The sandbox must start from its initial world (``/_sandbox/reset``) for every test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from feedbackloop.connectors.base import Connector, DealWriteBack, TemplateScoreRecord, WriteBackPlan
from feedbackloop.connectors.sync import run_sync
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import DealRow, MessageRow

__all__ = ["ConnectorContract"]


class ConnectorContract:
    """Subclass in ``tests/test_<provider>_*.py`` and provide the fixtures named in the module docstring."""

    #: The most calls a sync may make when nothing changed since the last one.
    max_calls_when_unchanged = 3

    @pytest.fixture
    def sandbox_verify(self) -> bool | str:
        return True

    def admin(self, base: str, verify: bool | str, path: str) -> Any:
        response = requests.get(f"{base}/_sandbox/{path}", verify=verify, timeout=30)
        response.raise_for_status()
        return response.json()

    def test_check_reports_a_working_connection(self, connector: Connector) -> None:
        report = connector.check()
        assert report.ok
        assert report.quota, "check reports the API quota"

    def test_install_is_idempotent(self, connector: Connector) -> None:
        first = connector.install()
        second = connector.install()
        assert first.created, "the first install creates the write-back fields"
        assert second.created == [] or set(second.created) <= set(first.skipped)
        assert set(first.created) <= set(second.existing) | set(second.created)

    def test_full_sync_stores_exactly_the_closed_deals_and_their_emails(
        self,
        connector: Connector,
        store: Store,
        tenant: TenantRef,
        sandbox_admin: str,
        sandbox_verify: bool | str,
    ) -> None:
        truth = self.admin(sandbox_admin, sandbox_verify, "truth")
        summary = run_sync(store, tenant, connector, full=True)
        assert store.count(DealRow, tenant) == truth["deals"]["won"] + truth["deals"]["lost"]
        assert store.count(MessageRow, tenant) == truth["emails"]
        assert summary.api_calls == connector.api_calls
        outcomes = store.deals_frame(tenant)["outcome"].value_counts().to_dict()
        assert outcomes == {k: v for k, v in truth["deals"].items() if k in ("won", "lost") and v}

    def test_a_second_sync_with_nothing_changed_is_cheap(
        self, connector: Connector, store: Store, tenant: TenantRef
    ) -> None:
        run_sync(store, tenant, connector)
        deals = store.count(DealRow, tenant)
        before = connector.api_calls
        summary = run_sync(store, tenant, connector)
        assert connector.api_calls - before <= self.max_calls_when_unchanged
        assert summary.messages == 0
        assert store.count(DealRow, tenant) == deals

    def test_write_back_reports_records_that_fail(
        self, connector: Connector, store: Store, tenant: TenantRef
    ) -> None:
        connector.install()
        run_sync(store, tenant, connector)
        deals = store.deals_frame(tenant)["deal_id"].tolist()[:3]
        templates = store.templates_frame(tenant)["template_id"].tolist()[:2]
        plan = WriteBackPlan(
            scored_at=datetime(2026, 11, 1, tzinfo=UTC),
            templates=[
                TemplateScoreRecord(t, f"T {t}", 0.4, 0.1, 0.3, 0.2, 0.4, "active", 25) for t in templates
            ],
            deals=[DealWriteBack(d, "A: 0.40", "") for d in deals] + [DealWriteBack("no-such-deal", "x", "")],
        )
        report = connector.write_back(plan)
        assert report.updated == len(templates) + len(deals)
        assert [(f.kind, f.record_id) for f in report.failures] == [("deal", "no-such-deal")]
        assert report.failed == 1
        assert report.api_calls > 0
