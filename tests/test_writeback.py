"""Write-back planning and change tracking: only values that changed since the last successful write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from feedbackloop.connectors.base import (
    CheckReport,
    InstallReport,
    OpenDeal,
    SkippedRecord,
    SyncBatch,
    SyncState,
    WriteBackPlan,
    WriteBackReport,
)
from feedbackloop.connectors.writeback import build_plan, run_writeback
from feedbackloop.store import Store
from feedbackloop.store.models import DealRow, MessageRow

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def analysis(scores: dict[str, float], statuses: dict[str, str] | None = None) -> dict[str, Any]:
    statuses = statuses or {}
    return {
        "schema_version": 1,
        "templates": [
            {
                "template_id": t,
                "name": f"Template {t}",
                "score": s,
                "score_se": 0.1,
                "win_rate": 0.3,
                "ci_low": 0.2,
                "ci_high": 0.4,
                "status": statuses.get(t, "active"),
                "deals": 40,
            }
            for t, s in scores.items()
        ],
        "segments": {"top_templates": {"enterprise": [{"template_id": "B"}]}},
    }


DEALS = pd.DataFrame({"deal_id": ["D1", "D2", "D3"], "outcome": ["won", "lost", "open"]})
MESSAGES = pd.DataFrame(
    {
        "deal_id": ["D1", "D1", "D1", "D2", "D3"],
        "template_id": ["A", "B", "A", "C", "A"],
        "position": [1, 2, 1, 2, 1],
        "sent_at": pd.to_datetime(
            [T0, T0 + pd.Timedelta(days=2), T0 + pd.Timedelta(days=4), T0, T0], utc=True
        ),
    }
)


def test_plan_lists_each_deals_templates_once_and_flags_deprecated_ones() -> None:
    plan = build_plan(
        analysis({"A": 0.5, "B": -0.2, "C": 0.1}, {"B": "deprecated"}), DEALS, MESSAGES, scored_at=T0
    )
    deals = {d.deal_id: d for d in plan.deals}
    assert set(deals) == {"D1", "D2"}  # open deals only through the connector's open_deals()
    assert deals["D1"].template_scores == "Template A: +0.50 (active); Template B: -0.20 (deprecated)"
    assert deals["D1"].deprecated_templates_used == "Template B"
    assert deals["D2"].deprecated_templates_used == ""
    assert [t.template_id for t in plan.templates] == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("segment", "next_position", "expected"),
    [
        pytest.param("smb", 2, ("Template C", 0.1), id="best-score-at-next-step-skipping-deprecated"),
        pytest.param("smb", 1, ("Template A", 0.5), id="best-score-at-step-1"),
        pytest.param("enterprise", None, ("Template A", 0.5), id="segment-winner-deprecated-so-best-overall"),
        pytest.param("smb", 9, (None, None), id="no-template-at-that-step"),
    ],
)
def test_open_deals_get_a_recommendation(
    segment: str, next_position: int | None, expected: tuple[str | None, float | None]
) -> None:
    result = analysis({"A": 0.5, "B": 0.9, "C": 0.1}, {"B": "deprecated"})
    plan = build_plan(result, DEALS, MESSAGES, [OpenDeal("D9", segment, next_position)], scored_at=T0)
    open_deal = next(d for d in plan.deals if d.deal_id == "D9")
    assert (open_deal.recommended_next_template, open_deal.recommended_score) == expected


class RecordingConnector:
    provider = "recording"

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.plans: list[WriteBackPlan] = []

    @property
    def api_calls(self) -> int:
        return len(self.plans)

    def check(self) -> CheckReport:
        return CheckReport(ok=True)

    def install(self) -> InstallReport:
        return InstallReport()

    def sync(self, state: SyncState, *, full: bool = False) -> Iterator[SyncBatch]:
        yield from ()

    def open_deals(self) -> Iterator[OpenDeal]:
        yield OpenDeal("D3", "smb", 2, ("A",))

    def write_back(self, plan: WriteBackPlan) -> WriteBackReport:
        self.plans.append(plan)
        failures = [
            SkippedRecord("deal", d.deal_id, "423 locked") for d in plan.deals if d.deal_id in self.fail
        ]
        total = len(plan.templates) + len(plan.deals)
        return WriteBackReport(
            updated=total - len(failures), failed=len(failures), api_calls=1, failures=failures
        )


def test_second_run_sends_nothing_and_changes_are_sent_alone(store: Store) -> None:
    tenant = store.resolve_tenant(None)
    store.upsert(
        DealRow,
        tenant,
        [{"deal_id": d, "outcome": o} for d, o in zip(DEALS.deal_id, DEALS.outcome, strict=True)],
    )
    store.upsert(
        MessageRow,
        tenant,
        [
            {
                "message_id": f"M{i}",
                "deal_id": r.deal_id,
                "template_id": r.template_id,
                "position": r.position,
                "sent_at": r.sent_at,
            }
            for i, r in enumerate(MESSAGES.itertuples())
        ],
    )
    connector = RecordingConnector(fail={"D2"})
    first = run_writeback(store, tenant, connector, analysis({"A": 0.5, "B": -0.2, "C": 0.1}))
    assert (first.updated, first.failed, first.unchanged) == (5, 1, 0)  # 3 templates, D1, D3; D2 failed
    retry = run_writeback(store, tenant, RecordingConnector(), analysis({"A": 0.5, "B": -0.2, "C": 0.1}))
    assert (retry.updated, retry.unchanged) == (1, 5)  # only the failed D2 again
    quiet = RecordingConnector()
    second = run_writeback(store, tenant, quiet, analysis({"A": 0.5, "B": -0.2, "C": 0.1}))
    assert second.to_json() == {"updated": 0, "unchanged": 6, "failed": 0, "api_calls": 0}
    assert quiet.plans == []
    changed = RecordingConnector()
    third = run_writeback(store, tenant, changed, analysis({"A": 0.5, "B": -0.2, "C": 0.3}))
    sent = changed.plans[0]
    assert [t.template_id for t in sent.templates] == ["C"]
    # D2 received C; open D3's recommended step-2 template is C, whose score moved; D1 is untouched
    assert [d.deal_id for d in sent.deals] == ["D2", "D3"]
    assert third.unchanged == 3
    dry = run_writeback(
        store, tenant, RecordingConnector(), analysis({"A": 0.1, "B": -0.2, "C": 0.3}), dry_run=True
    )
    assert dry.to_json()["would_update"] == 3  # template A, and D1 and D3, which received A
    assert dry.api_calls == 0
