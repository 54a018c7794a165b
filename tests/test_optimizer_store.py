"""The optimizer with the store: persistence, FeedbackPipeline, the optimization cycle and the CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from feedbackloop.cli import main
from feedbackloop.domain import DecisionAction
from feedbackloop.engine.feedback import CYCLE_KEY, FeedbackPipeline
from feedbackloop.engine.optimizer import ABTest
from feedbackloop.engine.optimizer.cycle import CycleDecision, TemplateFacts
from feedbackloop.engine.optimizer.state import (
    build_optimizer,
    load_optimizer,
    load_test,
    load_tests,
    save_optimizer,
)
from feedbackloop.errors import UsageError
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import DealRow, MessageRow, OptimizerStateRow, TemplateRow

pytestmark = pytest.mark.store

T0 = datetime(2026, 2, 2, tzinfo=UTC)
TEMPLATES = ["T1", "T2", "T3", "T4", "T1-v2"]


def seed_store(store: Store) -> TenantRef:
    """80 closed deals: T1 wins 30 of 40, T2 wins 4 of 40; T3 and T1-v2 unused; T4 deprecated."""
    tenant = store.create_tenant("acme")
    store.upsert(
        TemplateRow,
        tenant,
        [
            {"template_id": t, "status": "deprecated" if t == "T4" else "active", "pinned": False}
            for t in TEMPLATES
        ],
    )
    deals: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for i in range(80):
        template = "T1" if i % 2 == 0 else "T2"
        won = (i % 2 == 0 and i < 60) or (i % 2 == 1 and i < 8)
        closed = T0 + timedelta(days=i)
        deals.append(
            {"deal_id": f"D{i}", "outcome": "won" if won else "lost", "closed_at": closed, "segment": "smb"}
        )
        for step in (1, 2):  # the same template twice: still one exposure of the deal
            messages.append(
                {
                    "message_id": f"M{i}-{step}",
                    "deal_id": f"D{i}",
                    "template_id": template,
                    "position": step,
                    "sent_at": closed - timedelta(days=30 - step),
                }
            )
    deals.append({"deal_id": "OPEN", "outcome": "open", "closed_at": None, "segment": "smb"})
    deals.append({"deal_id": "NEW", "outcome": "won", "closed_at": T0 + timedelta(days=90), "segment": "smb"})
    messages += [
        {"message_id": "N1", "deal_id": "NEW", "template_id": "T1", "position": 1, "sent_at": T0},
        {"message_id": "N2", "deal_id": "NEW", "template_id": "T1", "position": 3, "sent_at": T0},
        {"message_id": "N3", "deal_id": "NEW", "template_id": "T3", "position": 2, "sent_at": T0},
        {"message_id": "N4", "deal_id": "NEW", "template_id": None, "position": 4, "sent_at": T0},
    ]
    store.upsert(DealRow, tenant, deals)
    store.upsert(MessageRow, tenant, messages)
    return tenant


def counts(pipeline: FeedbackPipeline, template: str) -> list[float]:
    opt = pipeline.optimizer
    return [round(x, 6) for x in opt.cells.counts["*"][opt.template_ids.index(template)].tolist()]


def test_optimizer_is_built_from_the_store(store: Store) -> None:
    tenant = seed_store(store)
    opt = build_optimizer(store, tenant, seed=1)
    assert opt.status["T4"].value == "deprecated"
    summary = {r["template_id"]: r for r in opt.summary({"segment": "smb"})}
    assert summary["T1"]["mean"] > 0.6 > 0.2 > summary["T2"]["mean"]
    picks = [opt.select_template({"segment": "smb"}, at=T0) for _ in range(300)]
    assert "T4" not in picks
    assert picks.count("T1") > 4 * picks.count("T2")  # untried T3 and T1-v2 are still explored


def test_state_is_saved_and_loaded_per_tenant(store: Store) -> None:
    tenant = seed_store(store)
    other = store.create_tenant("other")
    opt = build_optimizer(store, tenant, seed=3)
    opt.add_test(ABTest("exp", ["T1", "T3"], [1, 1], started_at=T0))
    save_optimizer(store, tenant, opt)
    loaded = load_optimizer(store, tenant)
    assert loaded is not None
    assert json.dumps(loaded.to_state()) == json.dumps(opt.to_state())
    assert load_optimizer(store, other) is None
    assert [t.test_id for t in load_tests(store, tenant)] == ["exp"]
    assert store.get_state(OptimizerStateRow, tenant, "abtest:exp")["variants"] == ["T1", "T3"]
    with pytest.raises(UsageError, match="unknown A/B test"):
        load_test(store, tenant, "nope")


def test_process_outcome_counts_each_deal_template_once(store: Store) -> None:
    tenant = seed_store(store)
    pipeline = FeedbackPipeline(store, tenant, seed=0)
    # NEW was already in the store when the optimizer was built from it: the live event is a repeat.
    again = pipeline.process_outcome("NEW", "won", at=T0 + timedelta(days=90))
    assert not again.learned
    assert again.note is not None
    assert "already learned" in again.note
    store.upsert(
        DealRow,
        tenant,
        [{"deal_id": "LATE", "outcome": "won", "closed_at": T0 + timedelta(days=100), "segment": "smb"}],
    )
    store.upsert(
        MessageRow,
        tenant,
        [
            {
                "message_id": f"L{k}",
                "deal_id": "LATE",
                "template_id": t,
                "position": p,
                "sent_at": sent,
                "direction": direction,
            }
            for k, (t, p, sent, direction) in enumerate(
                [
                    ("T1", 1, T0, "outbound"),
                    ("T1", 3, T0, "outbound"),
                    ("T3", 2, T0, "outbound"),
                    ("T2", 2, T0, "inbound"),  # a reply is no exposure
                    ("T4", 4, T0 + timedelta(days=101), "outbound"),  # nor is an email sent after the close
                ]
            )
        ],
    )
    before_t1, before_t3 = counts(pipeline, "T1"), counts(pipeline, "T3")
    report = pipeline.process_outcome("LATE", "won", at=T0 + timedelta(days=100))
    assert report.learned
    assert report.templates == ["T1", "T3"]
    assert counts(pipeline, "T1") == [before_t1[0] + 1, before_t1[1]]  # no discounting by default
    assert counts(pipeline, "T3") == [before_t3[0] + 1, before_t3[1]]
    assert "s=smb|p=3" not in pipeline.optimizer.cells.counts  # T1's first position on the deal is 1
    assert not pipeline.process_outcome("LATE", "won", at=T0 + timedelta(days=101)).learned
    # What was learned was saved.
    saved = load_optimizer(store, tenant)
    assert saved is not None
    assert saved.cells.counts["*"].tolist() == pipeline.optimizer.cells.counts["*"].tolist()
    assert not pipeline.process_outcome("OPEN", "open").learned
    with pytest.raises(UsageError, match="unknown deal"):
        pipeline.process_outcome("NOPE", "won")


def test_a_decided_ab_test_promotes_its_winner_as_the_engine(store: Store) -> None:
    tenant = seed_store(store)
    pipeline = FeedbackPipeline(store, tenant, seed=0)
    test = ABTest("exp", ["T1", "T3"], [1, 1], started_at=T0, min_sample=100, segment="smb")
    test.wins, test.losses, test.assignments = [200, 299], [800, 700], [1000, 1000]
    pipeline.optimizer.add_test(test)
    pipeline.optimizer.set_status("T3", "testing")
    report = pipeline.process_outcome("NEW", "won", at=T0 + timedelta(days=90))
    assert report.tests_ended == ["exp"]
    assert load_test(store, tenant, "exp").winner == "T3"
    history = store.template_history(tenant, "T3")
    assert history[-1]["new_status"] == "promoted"
    assert history[-1]["actor"] == "engine"
    assert pipeline.optimizer.status["T3"].value == "promoted"
    reloaded = load_optimizer(store, tenant)
    assert reloaded is not None
    assert reloaded.tests == {}  # an ended test stays in its row, out of the selection path


def test_the_cycle_runs_when_due_and_records_its_results(store: Store) -> None:
    tenant = seed_store(store)
    store.set_template_status(tenant, "T2", "active", actor="human", pinned=True)

    def deprecate_t2_and_t3(facts: Sequence[TemplateFacts], baseline: float) -> list[CycleDecision]:
        return [
            CycleDecision(
                f.template_id,
                DecisionAction.DEPRECATE if f.template_id in ("T2", "T3") else DecisionAction.KEEP,
                "test rule",
                {"baseline": baseline},
            )
            for f in facts
        ]

    pipeline = FeedbackPipeline(
        store, tenant, seed=0, decide=deprecate_t2_and_t3, cycle_every=timedelta(days=7)
    )
    first = pipeline.process_outcome("NEW", "won", at=T0 + timedelta(days=90))
    assert first.cycle is not None
    assert [c.template_id for c in first.cycle.changes] == ["T3"]  # T2 is pinned by a human
    assert store.template_history(tenant, "T3")[-1]["actor"] == "engine"
    assert first.cycle.recommendations[0]["template_id"] == "T1"
    assert first.cycle.recommendations[0]["recommendation"] == "new variant needed"
    state = store.get_state(OptimizerStateRow, tenant, CYCLE_KEY)
    assert state["last_run"] == (T0 + timedelta(days=90)).isoformat()
    assert len(state["history"]) == 1
    assert pipeline.process_outcome("OPEN", "open", at=T0 + timedelta(days=92)).cycle is None
    assert pipeline.process_outcome("OPEN", "open", at=T0 + timedelta(days=97)).cycle is not None


def test_a_variant_hook_starts_a_test_against_the_top_performer(store: Store) -> None:
    tenant = seed_store(store)
    made: list[str] = []

    def hook(template_id: str, at: datetime) -> str:
        made.append(template_id)
        return f"{template_id}-v2"

    pipeline = FeedbackPipeline(store, tenant, seed=0, variant_hook=hook)
    report = pipeline.run_optimization_cycle(T0 + timedelta(days=91))
    assert made == ["T1"]
    assert report.tests_started == [f"T1-vs-T1-v2-{T0 + timedelta(days=91):%Y%m%d}"]
    assert store.templates_frame(tenant).set_index("template_id").loc["T1-v2", "status"] == "testing"
    (test,) = load_tests(store, tenant)
    assert test.variants == ["T1", "T1-v2"]
    ctx: dict[str, Any] = {"segment": "smb", "prospect_id": "p1"}
    assert pipeline.optimizer.explain_selection(ctx).source == "abtest"


def test_a_positive_reply_boost_is_persisted(store: Store) -> None:
    tenant = seed_store(store)
    pipeline = FeedbackPipeline(store, tenant, seed=0)
    assert pipeline.on_prospect_response("T2", 0.9, True, {"segment": "smb"}, at=T0)
    assert not pipeline.on_prospect_response("T2", -0.5, True, at=T0)
    saved = load_optimizer(store, tenant)
    assert saved is not None
    assert "T2" in saved.boost_until


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_select_and_tests_lifecycle(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    tenant = seed_store(store)
    code, out, err = cli(
        capsys, "select", "--tenant", "acme", "--segment", "smb", "--position", "1", "-f", "json"
    )
    assert code == 0, err
    first = json.loads(out)
    assert first["template_id"] in TEMPLATES
    assert first["template_id"] != "T4"
    assert first["built_from_store"] is True
    assert "Thompson" in first["reason"]
    code, out, _ = cli(capsys, "select", "--tenant", "acme", "--segment", "smb", "-f", "json")
    assert json.loads(out)["built_from_store"] is False

    code, out, err = cli(
        capsys,
        "tests",
        "create",
        "T1",
        "T3",
        "--allocation",
        "50,50",
        "--id",
        "exp1",
        "--tenant",
        "acme",
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "running"
    assert store.template_history(tenant, "T3")[-1]["new_status"] == "testing"
    code, out, _ = cli(capsys, "tests", "list", "--tenant", "acme", "--format", "json")
    assert [t["test_id"] for t in json.loads(out)] == ["exp1"]
    code, out, _ = cli(
        capsys, "select", "--tenant", "acme", "--segment", "smb", "--prospect-id", "p9", "-f", "json"
    )
    assert json.loads(out)["source"] == "abtest"
    code, out, _ = cli(capsys, "tests", "show", "exp1", "--tenant", "acme", "--format", "json")
    shown = json.loads(out)
    assert shown["comparisons"][0]["variant"] == "T3"
    assert sum(shown["assignments"]) == 1
    code, out, _ = cli(capsys, "tests", "show", "exp1", "--tenant", "acme")
    assert code == 0
    assert "always-valid" in out
    code, out, err = cli(
        capsys, "tests", "stop", "exp1", "--promote", "T3", "--tenant", "acme", "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "stopped"
    assert store.template_history(tenant, "T3")[-1]["new_status"] == "promoted"
    code, out, _ = cli(capsys, "tests", "list", "--tenant", "acme")
    assert "exp1" in out
    code, _, err = cli(capsys, "tests", "stop", "exp1", "--tenant", "acme")
    assert code == 2
    assert "already ended (stopped)" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tests", "create", "T1", "NOPE", "--tenant", "acme"], "unknown template"),
        (["tests", "show", "nope", "--tenant", "acme"], "unknown A/B test"),
        (["tests", "stop", "nope", "--tenant", "acme"], "unknown A/B test"),
        (["tests", "create", "T1", "T3", "--allocation", "x,y", "--tenant", "acme"], "--allocation"),
    ],
    ids=["unknown-template", "unknown-test", "stop-unknown", "bad-allocation"],
)
def test_cli_usage_errors_are_one_line(
    store: Store, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    seed_store(store)
    code, _, err = cli(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_cli_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["tests", "create", "--help"], ["select", "--help"], ["tests", "stop", "--help"]):
        code, out, _ = cli(capsys, *args)
        assert code == 0
        assert "Example" in out
