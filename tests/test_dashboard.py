"""The dashboard's data and HTML: every chart is drawn from the analysis, thin data gives placeholders."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from feedbackloop.cli import main
from feedbackloop.config.settings import load_settings
from feedbackloop.dashboard import CHARTS, blueprint, build_dashboard, dashboard_html, render_dashboard
from feedbackloop.store import Store, open_store
from tests.dashboard_world import DashboardWorld, make_dashboard_world

MARK = re.compile(r'class="mark[ "]')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardWorld]:
    w = make_dashboard_world(tmp_path_factory.mktemp("dash"))
    yield w
    w.store.db.dispose()


def _sections(html: str) -> dict[str, str]:
    parts = re.split(r'(?=<section class="chart" data-chart=")', html)
    out = {}
    for part in parts[1:]:
        key = re.match(r'<section class="chart" data-chart="([a-z_]+)"', part)
        assert key
        out[key.group(1)] = part.split("</section>")[0]
    return out


def _embedded(html: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)
    assert match
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_data_follows_the_analysis_and_the_store(world: DashboardWorld) -> None:
    data = build_dashboard(world.store, world.tenant, world.analysis)
    overall = world.analysis["overall"]
    assert isinstance(overall, dict)
    assert sum(m["closed"] for m in data["monthly"]) == overall["won"] + overall["lost"]
    assert sum(m["won"] for m in data["monthly"]) == overall["won"]
    assert data["baseline_win_rate"] == overall["baseline_win_rate"]
    means = [t["posterior_mean"] for t in data["templates"]]
    assert means == sorted(means, reverse=True)
    assert len(means) == 12
    assert all(t["ci_low"] <= t["posterior_mean"] <= t["ci_high"] for t in data["templates"])
    assert data["declining"], "the test world is meant to show declining templates"
    assert {c["segment"] for c in data["heatmap"]["cells"]} == {"smb", "mid_market", "enterprise"}
    [test] = data["tests"]
    assert test["test_id"] == "intro-test"
    assert sum(test["samples"]) == 90
    assert test["min_sample"] == 60
    assert data["alerts"]
    assert all("key" in a for a in data["alerts"])


def test_every_chart_draws_one_mark_per_datum(world: DashboardWorld) -> None:
    html = dashboard_html(world.store, world.tenant, world.as_of)
    sections = _sections(html)
    assert list(sections) == list(CHARTS)
    data = _embedded(html)
    expected = {
        "winrate": len(data["monthly"]),  # type: ignore[arg-type]
        "leaderboard": len(data["templates"]),  # type: ignore[arg-type]
        "declining": 2 * len(data["declining"]),  # type: ignore[arg-type]
        "heatmap": len(data["heatmap"]["cells"]),  # type: ignore[index]
        "abtests": 2,
        "loss_reasons": min(12, len(data["loss_reasons"])),  # type: ignore[arg-type]
        "stages_lost": min(12, len(data["stages_lost"])),  # type: ignore[arg-type]
        "competitors": min(12, len(data["competitors"])),  # type: ignore[arg-type]
        "alerts": len(data["alerts"]),  # type: ignore[arg-type]
    }
    for key, count in expected.items():
        assert count > 0, key
        assert len(MARK.findall(sections[key])) == count, key
        assert "placeholder" not in sections[key], key
    # the marks carry their values: the first month's point is that month's win rate
    first = data["monthly"][0]  # type: ignore[index]
    assert f'data-label="{first["month"]}" data-value="{first["win_rate"]:.4f}"' in sections["winrate"]
    assert "<title>" in sections["leaderboard"]
    assert 'class="baseline"' in sections["leaderboard"]


def test_the_page_is_self_contained(world: DashboardWorld) -> None:
    html = dashboard_html(world.store, world.tenant, world.as_of)
    assert "http://" not in html
    assert "https://" not in html
    assert "<script src" not in html
    assert html.count("<link") == html.count('<link rel="icon" href="data:,">')
    assert '<meta name="viewport"' in html
    for colour in ("#009E73", "#0072B2", "#D55E00"):  # Okabe–Ito status colours
        assert colour in html


def test_an_empty_tenant_gets_placeholders_not_a_broken_page(store: Store) -> None:
    tenant = store.resolve_tenant("empty", create=True)
    html = dashboard_html(store, tenant, datetime(2026, 6, 1, tzinfo=UTC))
    sections = _sections(html)
    assert list(sections) == list(CHARTS)
    for key, body in sections.items():
        assert "placeholder" in body, key
        assert not MARK.findall(body), key
    assert "Not enough data yet" in sections["winrate"]


def test_render_tolerates_missing_sections() -> None:
    html = render_dashboard(
        {"tenant": "t", "as_of": "2026-06-01T00:00:00+00:00", "data_status": "no_data", "overall": {},
         "baseline_win_rate": None, "monthly": [], "templates": [], "declining": [],
         "heatmap": {"segments": [], "templates": [], "cells": []}, "tests": [], "loss_reasons": [],
         "stages_lost": [], "competitors": [], "alerts": [], "recommendations": []}
    )  # fmt: skip
    assert html.count('class="placeholder"') == len(CHARTS)


def _app(store: Store) -> Flask:
    app = Flask("test")
    app.config["FEEDBACKLOOP_STORE"] = store
    app.register_blueprint(blueprint)
    return app


def test_the_blueprint_serves_the_tenant(world: DashboardWorld) -> None:
    client = _app(world.store).test_client()
    page = client.get("/?tenant=acme")
    assert page.status_code == 200
    assert page.content_type.startswith("text/html")
    assert list(_sections(page.get_data(as_text=True))) == list(CHARTS)
    assert client.get("/").status_code == 200  # the only tenant
    missing = client.get("/?tenant=nope")
    assert missing.status_code == 404
    assert "acme" in missing.get_data(as_text=True)


def test_the_blueprint_without_tenants_says_so(store: Store) -> None:
    page = _app(store).test_client().get("/")
    assert page.status_code == 200
    assert "no tenant" in page.get_data(as_text=True)


def test_report_html_writes_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from feedbackloop.connectors.csvfiles import import_csv
    from feedbackloop.sandbox.world import WorldConfig, generate_world

    world = generate_world(WorldConfig(deals=300, seed=2, templates=6))
    paths = world.to_csv(tmp_path / "w")
    store = open_store(load_settings())
    import_csv(store, "acme", deals=paths["deals"], messages=paths["messages"], templates=paths["templates"])
    store.db.dispose()
    out = tmp_path / "out" / "dash.html"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--html", str(out), "--as-of", "2026-11-01", "--format", "json"])
    assert exit_info.value.code in (0, None)
    assert json.loads(capsys.readouterr().out)["schema_version"] == 1
    html = out.read_text(encoding="utf-8")
    assert list(_sections(html)) == list(CHARTS)
    assert _embedded(html)["tenant"] == "acme"


def test_a_thin_tenant_mixes_charts_and_placeholders(store: Store, tmp_path: Path) -> None:
    """A few deals in one month: charts that can be drawn are, the rest say so; nothing breaks."""
    from feedbackloop.connectors.csvfiles import import_csv

    deals = tmp_path / "deals.csv"
    deals.write_text(
        "deal_id,outcome,created_at,closed_at,segment,loss_reason\n"
        "D1,won,2026-05-01,2026-05-10,smb,\nD2,lost,2026-05-01,2026-05-12,smb,Price\n"
        "D3,lost,2026-05-02,2026-05-20,enterprise,Timing\n",
        encoding="utf-8",
    )
    messages = tmp_path / "messages.csv"
    messages.write_text(
        "message_id,deal_id,template_id,position,sent_at\n"
        "M1,D1,intro,1,2026-05-02\nM2,D2,intro,1,2026-05-02\nM3,D3,other,1,2026-05-03\n",
        encoding="utf-8",
    )
    import_csv(store, "thin", deals=deals, messages=messages)
    tenant = store.resolve_tenant("thin", create=False)
    sections = _sections(dashboard_html(store, tenant, datetime(2026, 6, 1, tzinfo=UTC)))
    assert "Not enough data yet" in sections["winrate"]  # one month only
    assert len(MARK.findall(sections["loss_reasons"])) == 2
    assert len(MARK.findall(sections["heatmap"])) == 2
    assert "placeholder" in sections["abtests"]


def test_the_service_serves_the_dashboard_at_its_index(world: DashboardWorld) -> None:
    """Mounted as the service's replaceable ``/`` blueprint, it finds the store in the service context."""
    from feedbackloop.webhooks.app import create_app

    service = create_app(load_settings(), store=world.store, index=blueprint)
    page = service.test_client().get("/?tenant=acme")
    assert page.status_code == 200
    assert list(_sections(page.get_data(as_text=True))) == list(CHARTS)
