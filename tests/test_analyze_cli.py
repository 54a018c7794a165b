"""`analyze`, `report` and `templates` through the CLI on a real store (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any, get_args

import pandas as pd
import pytest
from typer.testing import CliRunner

from feedbackloop import analysis
from feedbackloop.cli import app
from feedbackloop.engine import pipeline
from feedbackloop.engine.settings import DataStatus
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import AnalysisRun, DealRow, DecisionRow, MessageRow, TemplateRow
from tests.insights_data import AS_OF, MiniWorld, make_world

pytestmark = pytest.mark.store
AS_OF_ARG = AS_OF.date().isoformat()
EFFECTS = {"T00": 0.9, "T01": -0.9, "T02": 0.0, "T03": 0.0, "T04": 0.3, "T05": -0.3}
DATA_STATUSES = set(get_args(DataStatus))


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in frame.astype(object).where(frame.notna(), None).to_dict(orient="records"):
        out.append(
            {str(k): (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}
        )
    return out


def load(store: Store, w: MiniWorld, tenant: str = "acme") -> TenantRef:
    ref = store.resolve_tenant(tenant, create=True)
    store.upsert(DealRow, ref, _rows(w.deals))
    store.upsert(MessageRow, ref, _rows(w.messages))
    store.upsert(TemplateRow, ref, _rows(w.templates))
    return ref


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.stdout, result.exception)
    return result


def analyze_json(*extra: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cli("analyze", "--as-of", AS_OF_ARG, "--format", "json", *extra).stdout)
    return data


def _world(**kw: Any) -> MiniWorld:
    return make_world(seed=7, n_deals=kw.pop("n_deals", 400), n_templates=kw.pop("n_templates", 4), **kw)


def _one_template() -> MiniWorld:
    return _world(n_templates=1, per_deal=1)


def _all(outcome: str) -> Callable[[], MiniWorld]:
    def build() -> MiniWorld:
        w = _world()
        w.deals["outcome"] = outcome
        return w

    return build


def _nothing_closed() -> MiniWorld:
    w = _world()
    w.deals["outcome"], w.deals["closed_at"] = "open", None
    return w


def _no_segments() -> MiniWorld:
    w = _world()
    w.deals["segment"] = None
    return w


def _no_messages() -> MiniWorld:
    w = _world()
    w.messages = w.messages.iloc[:0]
    return w


def _unknown_templates_and_adhoc() -> MiniWorld:
    w = _world()
    w.templates = w.templates.iloc[:1]  # the others appear only in messages
    w.messages.loc[w.messages.index[::5], "template_id"] = None  # ad-hoc emails
    return w


def _idle_templates() -> MiniWorld:
    w = _world(n_deals=60)
    extra = pd.DataFrame(
        {"template_id": ["UNUSED"], "name": ["never sent"], "status": ["active"], "pinned": [False]}
    )
    w.templates = pd.concat([w.templates, extra], ignore_index=True)
    return w


ODD_DATA = {
    "one-template": _one_template,
    "all-won": _all("won"),
    "all-lost": _all("lost"),
    "nothing-closed": _nothing_closed,
    "missing-segments": _no_segments,
    "deals-without-messages": _no_messages,
    "unknown-templates-and-adhoc": _unknown_templates_and_adhoc,
    "idle-template-and-tiny-data": _idle_templates,
}


def test_empty_store_gives_no_data(settings: Any) -> None:
    data = analyze_json()
    assert data["data_status"] == "no_data"
    assert data["templates"] == []


@pytest.mark.parametrize("build", list(ODD_DATA.values()), ids=list(ODD_DATA))
def test_thin_or_odd_data_gives_status_codes_never_an_exception(store: Store, build: Any) -> None:
    load(store, build())
    data = analyze_json()
    assert data["data_status"] in DATA_STATUSES
    assert data["warnings"] == []
    for section in ("segments", "win_loss", "report"):
        assert data[section]["data_status"] in DATA_STATUSES, section
    for t in data["templates"]:
        assert t["data_status"] in DATA_STATUSES
        assert set(t["criteria"]) >= {"min_sample_size", "below_threshold"}


def test_analyze_records_run_decisions_and_engine_status_changes(store: Store) -> None:
    ref = load(store, make_world(seed=1, n_deals=3000, n_templates=6, effects=EFFECTS))
    dry = analyze_json("--dry-run")
    assert store.count(AnalysisRun, ref) == 0
    assert store.count(DecisionRow, ref) == 0
    data = analyze_json()
    assert data["run_id"]
    assert store.count(AnalysisRun, ref) == 1
    assert store.count(DecisionRow, ref) == 6
    actions = {t["template_id"]: t["action"] for t in data["templates"]}
    assert actions == {t["template_id"]: t["action"] for t in dry["templates"]}
    assert actions["T00"] == "promote"
    assert actions["T01"] == "deprecate"
    statuses = dict(zip(*store.templates_frame(ref)[["template_id", "status"]].T.to_numpy(), strict=True))
    assert statuses["T00"] == "promoted"
    assert statuses["T01"] == "deprecated"
    history = store.template_history(ref, "T01")
    assert [(h["new_status"], h["actor"]) for h in history] == [("deprecated", "engine")]
    # A second run in the same week: no alert again, nothing flips, the status is held.
    again = analyze_json()
    assert again["alerts"] == []
    # Data-level alerts are suppressed; failing_template alerts are not even raised again (deprecated now).
    suppressed = set(again["state"]["alerts_suppressed"])
    assert suppressed == {a["key"] for a in data["alerts"] if a["kind"] != "failing_template"}
    assert not any(t["status_changed"] for t in again["templates"])
    assert again["state"]["templates"]["T01"]["runs_in_status"] == 2


def test_pinned_templates_are_never_changed_but_the_decision_is_reported(store: Store) -> None:
    ref = load(store, make_world(seed=1, n_deals=3000, n_templates=6, effects=EFFECTS))
    cli("templates", "set-status", "T01", "active", "--pin", "--reason", "legal wants it")
    data = analyze_json()
    t01 = next(t for t in data["templates"] if t["template_id"] == "T01")
    assert t01["action"] == "deprecate"
    assert t01["status"] == "active"
    assert t01["pinned"]
    assert "pinned" in t01["reason"]
    history = store.template_history(ref, "T01")
    assert [(h["actor"], h["pinned"], h["reason"]) for h in history] == [("human", True, "legal wants it")]


def test_templates_list_show_and_set_status(store: Store) -> None:
    ref = load(store, make_world(seed=1, n_deals=3000, n_templates=6, effects=EFFECTS))
    analyze_json()
    listed = json.loads(cli("templates", "list", "--format", "json").stdout)
    assert {t["template_id"]: t["last_decision"] for t in listed}["T01"] == "deprecate"
    cli("templates", "set-status", "T01", "review", "--reason", "rewrite first")
    shown = json.loads(cli("templates", "show", "T01", "--format", "json").stdout)
    assert shown["status"] == "review"
    assert [h["actor"] for h in shown["history"]] == ["engine", "human"]
    assert shown["decisions"][0]["criteria"]["below_threshold"]["met"] is True
    table = cli("templates", "show", "T01").stdout
    assert "below_threshold" in table
    assert "rewrite first" in table
    assert store.templates_frame(ref).set_index("template_id").loc["T01", "status"] == "review"


def test_set_status_rejects_unknown_templates_and_statuses(store: Store) -> None:
    load(store, _world())
    runner = CliRunner()
    assert runner.invoke(app, ["templates", "set-status", "NOPE", "active"]).exit_code != 0
    assert runner.invoke(app, ["templates", "set-status", "T00", "banana"]).exit_code == 2


def test_report_table_shows_the_same_data_as_json(store: Store) -> None:
    load(store, make_world(seed=1, n_deals=3000, n_templates=6, effects=EFFECTS))
    data = json.loads(cli("report", "--as-of", AS_OF_ARG, "--format", "json").stdout)
    report = data["report"]
    assert report == analyze_json("--dry-run")["report"]
    table = cli("report", "--as-of", AS_OF_ARG).stdout
    assert "Top performers" in table
    assert "Underperformers" in table
    for t in report["top_performers"] + report["underperformers"]:
        assert t["template_id"] in table
        assert f"{t['score']:.3f}" in table
    assert f"{report['overall']['win_rate']:.3f}" in table
    for insight in report["insights"]:
        assert insight[:40] in table.replace("\n", " ") or insight.split()[0] in table
    for rec in report["recommendations"]:
        assert rec["action"] in table


def test_analysis_loads_the_engine_columns_without_importing_the_engine() -> None:
    """analysis.py names the engine's columns itself so that the frames load while the engine imports."""
    assert analysis.ENGINE_DEAL_COLUMNS == pipeline.DEAL_COLUMNS
    assert analysis.ENGINE_TEMPLATE_COLUMNS == pipeline.TEMPLATE_COLUMNS
    assert set(analysis.ENGINE_MESSAGE_COLUMNS) <= set(pipeline.MESSAGE_COLUMNS)
    code = "import sys, feedbackloop.analysis; print('feedbackloop.engine' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"
