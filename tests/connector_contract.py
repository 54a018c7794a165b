"""The contract every CRM connector meets against its sandbox, over real HTTP (shared by both connectors).

A connector's test module subclasses :class:`ConnectorContract` and provides four fixtures:

- ``connector``: a fresh connector of a tenant connected to a freshly started sandbox (fast limits);
- ``sandbox_admin``: the base URL of that sandbox's admin API (``…/_sandbox``: ``truth``, ``stats``,
  ``advance``, ``faults``);
- ``store`` and ``tenant``: where the connector's tenant lives.

The sandbox's world must be fresh per test (tests advance it, inject faults and write to it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests

from feedbackloop.connectors.base import Connector, DealWriteBack, WriteBackPlan
from feedbackloop.connectors.sync import run_sync
from feedbackloop.connectors.writeback import run_writeback
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import DealRow, MessageRow

__all__ = ["ConnectorContract"]


def _admin(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        response = requests.get(f"{url}/{path}", timeout=60)
    else:
        response = requests.post(f"{url}/{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


class ConnectorContract:
    """Provider-neutral behaviour: check, idempotent install, exact and resumable sync, write-back."""

    def test_check_passes_against_the_sandbox(self, connector: Connector) -> None:
        report = connector.check()
        assert report.ok, report.problems
        assert not report.problems

    def test_install_is_idempotent(self, connector: Connector) -> None:
        first = connector.install()
        second = connector.install()
        assert first.created or first.existing
        assert second.created == []
        assert set(second.existing) >= set(first.created)

    def test_full_sync_stores_exactly_the_closed_deals_and_their_emails(
        self, connector: Connector, sandbox_admin: str, store: Store, tenant: TenantRef
    ) -> None:
        truth = _admin(sandbox_admin, "truth")
        summary = run_sync(store, tenant, connector)
        assert store.count(DealRow, tenant) == truth["deals"]["won"] + truth["deals"]["lost"]
        assert store.count(MessageRow, tenant) == truth["emails"]
        outcomes = store.deals_frame(tenant)["outcome"].value_counts().to_dict()
        assert outcomes == {"won": truth["deals"]["won"], "lost": truth["deals"]["lost"]}
        assert summary.skipped == []

    def test_second_sync_with_nothing_changed_is_cheap(
        self, connector: Connector, store: Store, tenant: TenantRef
    ) -> None:
        run_sync(store, tenant, connector)
        again = run_sync(store, tenant, connector)
        assert again.api_calls <= 3
        assert again.deals == 0

    def test_sync_after_advance_fetches_only_changed_deals(
        self, connector: Connector, sandbox_admin: str, store: Store, tenant: TenantRef
    ) -> None:
        run_sync(store, tenant, connector)
        step = _admin(sandbox_admin, "advance", {"days": 3})
        after = run_sync(store, tenant, connector)
        assert 0 < after.deals <= step["changed_deals"]
        truth = _admin(sandbox_admin, "truth")
        assert store.count(DealRow, tenant) == truth["deals"]["won"] + truth["deals"]["lost"]
        assert store.count(MessageRow, tenant) == truth["emails"]

    def test_write_back_reports_records_it_could_not_write(
        self, connector: Connector, store: Store, tenant: TenantRef
    ) -> None:
        run_sync(store, tenant, connector)
        connector.install()
        good = str(store.deals_frame(tenant)["deal_id"].iloc[0])
        plan = WriteBackPlan(
            scored_at=datetime(2026, 11, 1, tzinfo=UTC),
            deals=[
                DealWriteBack(good, "T1: +0.40 (active)", ""),
                DealWriteBack("999999999999", "T1: +0.40 (active)", ""),
            ],
        )
        report = connector.write_back(plan)
        assert report.updated == 1
        assert [(f.kind, f.record_id) for f in report.failures] == [("deal", "999999999999")]
        assert report.api_calls >= 1

    def test_second_write_back_run_makes_no_write_calls(
        self, connector: Connector, store: Store, tenant: TenantRef
    ) -> None:
        run_sync(store, tenant, connector)
        connector.install()
        templates = store.templates_frame(tenant)["template_id"].astype(str).tolist()[:6]
        result = {
            "schema_version": 1,
            "templates": [
                {
                    "template_id": t,
                    "name": f"Template {t}",
                    "score": 0.1 * i,
                    "score_se": 0.1,
                    "win_rate": 0.3,
                    "ci_low": 0.2,
                    "ci_high": 0.4,
                    "status": "deprecated" if i == 0 else "active",
                    "deals": 40,
                }
                for i, t in enumerate(templates)
            ],
            "segments": {},
        }
        first = run_writeback(store, tenant, connector, result)
        second = run_writeback(store, tenant, connector, result)
        assert first.updated > 0
        assert first.failed == 0
        assert (second.updated, second.api_calls, second.failed) == (0, 0, 0)
        assert second.unchanged >= first.updated
