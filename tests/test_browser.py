"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright).

Served live by the blueprint on loopback and opened as the exported file: no console errors, every
chart's marks are rendered (non-empty boxes) and bound to the page's data, hover titles say what a mark
is, the page fits a phone-width screen, and a screenshot is saved to ``artifacts/dashboard.png``
(``UPDATE_DASHBOARD_SCREENSHOT=1`` also refreshes ``docs/dashboard.png`` for the README).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from feedbackloop.dashboard import CHARTS, blueprint, dashboard_html, write_dashboard
from tests.dashboard_world import DashboardWorld, make_dashboard_world

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip(
        f"{CHROMIUM} is absent (apt-get install -y chromium); the browser tests run whenever CI=true",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardWorld]:
    w = make_dashboard_world(tmp_path_factory.mktemp("browser"))
    yield w
    w.store.db.dispose()


@pytest.fixture(scope="module")
def server(world: DashboardWorld) -> Iterator[str]:
    """The blueprint on a loopback port, as the service mounts it."""
    app = Flask("dashboard-test")
    app.config["FEEDBACKLOOP_STORE"] = world.store
    app.register_blueprint(blueprint)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser: Browser, url: str, width: int = 1280) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    response = page.goto(url, wait_until="load")
    assert response is None or response.ok, url
    return page, errors


def _expected_marks(data: dict[str, Any]) -> dict[str, int]:
    return {
        "winrate": len(data["monthly"]),
        "leaderboard": len(data["templates"]),
        "declining": 2 * len(data["declining"]),
        "heatmap": len(data["heatmap"]["cells"]),
        "abtests": sum(len(t["variants"]) for t in data["tests"]),
        "loss_reasons": min(12, len(data["loss_reasons"])),
        "stages_lost": min(12, len(data["stages_lost"])),
        "competitors": min(12, len(data["competitors"])),
        "alerts": len(data["alerts"]),
    }


def _check_page(page: Page) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(page.locator("#dashboard-data").text_content() or "{}")
    expected = _expected_marks(data)
    for key in CHARTS:
        marks = page.locator(f'section[data-chart="{key}"] .mark')
        assert marks.count() == expected[key] > 0, key
        for i in range(marks.count()):
            box = marks.nth(i).bounding_box()
            assert box is not None, (key, i)
            assert box["width"] > 0, (key, i)
            assert box["height"] > 0, (key, i)
    # bound to the data: the points' values are the monthly win rates, in order
    values = page.locator('section[data-chart="winrate"] circle.mark').evaluate_all(
        "els => els.map(e => Number(e.dataset.value))"
    )
    assert values == pytest.approx([m["win_rate"] for m in data["monthly"]], abs=1e-4)
    statuses = page.locator('section[data-chart="leaderboard"] .mark').evaluate_all(
        "els => els.map(e => e.dataset.status)"
    )
    assert statuses == [t["status"] for t in data["templates"]]
    # hovering a mark: its title says which template it is and its interval
    first = page.locator('section[data-chart="leaderboard"] .mark').first
    first.hover()
    title = first.locator("title").text_content() or ""
    assert data["templates"][0]["template_id"] in title
    assert "–" in title
    return data


def test_the_live_dashboard_renders_every_chart(browser: Browser, server: str) -> None:
    page, errors = _open(browser, f"{server}/?tenant=acme")
    data = _check_page(page)
    assert data["tenant"] == "acme"
    assert errors == []
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    if os.environ.get("UPDATE_DASHBOARD_SCREENSHOT") == "1":
        shutil.copy(artifacts / "dashboard.png", ROOT / "docs" / "dashboard.png")
    page.close()


def test_the_exported_file_renders_offline(browser: Browser, world: DashboardWorld, tmp_path: Path) -> None:
    path = tmp_path / "dashboard.html"
    write_dashboard(path, dashboard_html(world.store, world.tenant, world.as_of))
    page, errors = _open(browser, path.as_uri())
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.reload(wait_until="load")
    _check_page(page)
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []
    page.close()


def test_a_phone_screen_does_not_scroll_sideways(browser: Browser, server: str) -> None:
    page, errors = _open(browser, f"{server}/", width=390)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    box = page.locator('section[data-chart="leaderboard"]').bounding_box()
    assert box is not None
    assert box["width"] <= 390
    assert errors == []
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "dashboard-narrow.png"), full_page=True)
    page.close()


def test_an_unknown_tenant_gets_a_clear_page(browser: Browser, server: str) -> None:
    page = browser.new_page()
    response = page.goto(f"{server}/?tenant=nobody")
    assert response is not None
    assert response.status == 404
    assert "acme" in (page.locator(".placeholder").text_content() or "")
    page.close()


def test_the_browser_is_debians_chromium(browser: Browser) -> None:
    assert browser.version.split(".")[0].isdigit()
    assert Path(CHROMIUM).exists()
