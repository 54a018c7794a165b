"""Alert delivery to a local Slack-style webhook and a local SMTP server: once per condition and period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feedbackloop.analysis import analyze_tenant
from feedbackloop.config.settings import load_settings
from feedbackloop.crypto import secret_box
from feedbackloop.errors import ConfigError
from feedbackloop.notify import SLACK_CREDENTIAL, alerts_config, deliver_alerts
from feedbackloop.notify.channels import alert_text
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import OptimizerStateRow
from tests.notify_receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_receiver

NOW = datetime(2026, 6, 3, tzinfo=UTC)


def _alert(subject: str = "all", period: str = "2026-W23") -> dict[str, Any]:
    return {
        "key": f"overall_drop:{subject}",
        "kind": "overall_drop",
        "subject": subject,
        "severity": "high",
        "title": "Overall win rate dropped",
        "data": {"recent_win_rate": 0.12, "historical_win_rate": 0.3, "p_value": 0.001, "recent_deals": 80},
        "period": period,
    }


@pytest.fixture
def slack() -> Iterator[HttpReceiver]:
    with http_receiver() as r:
        yield r


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with smtp_receiver() as r:
        yield r


def _tenant(store: Store, slack: HttpReceiver, smtp: SmtpReceiver, name: str = "acme") -> TenantRef:
    tenant = store.resolve_tenant(name, create=True)
    alerts = {
        "slack_webhook_url": slack.url,
        "smtp": {"host": "127.0.0.1", "port": smtp.port, "from": "alerts@acme.test"},
        "to": ["ops@acme.test", "cro@acme.test"],
    }
    return store.update_tenant(tenant, settings={"alerts": alerts})


def test_alerts_reach_slack_and_smtp_once_per_condition_and_period(
    store: Store, slack: HttpReceiver, smtp: SmtpReceiver
) -> None:
    tenant = _tenant(store, slack, smtp)
    report = deliver_alerts(store, tenant, [_alert()], now=NOW)
    assert sorted(c for c, _, _ in report.sent) == ["email", "slack"]
    [post] = slack.posts
    assert post["text"] == "[feedbackloop] acme: Overall win rate dropped (all)"
    assert "recent_win_rate: 0.12" in post["blocks"][0]["text"]["text"]
    [mail] = smtp.messages
    assert mail["Subject"] == post["text"]
    assert mail["From"] == "alerts@acme.test"
    assert smtp.recipients == [["ops@acme.test", "cro@acme.test"]]
    assert "historical_win_rate: 0.3" in mail.get_payload()

    again = deliver_alerts(store, tenant, [_alert(), _alert()], now=NOW)  # same key, same period
    assert again.sent == []
    assert len(again.skipped) == 4
    assert len(slack.posts) == 1
    assert len(smtp.messages) == 1

    next_week = deliver_alerts(store, tenant, [_alert(period="2026-W24"), _alert("emea")], now=NOW)
    assert len(next_week.sent) == 4  # a new period and a new condition alert again
    assert len(slack.posts) == 3
    assert len(smtp.messages) == 3


def test_a_failed_channel_is_retried_later_without_repeating_the_others(
    store: Store, slack: HttpReceiver, smtp: SmtpReceiver
) -> None:
    tenant = _tenant(store, slack, smtp)
    slack.status = 500
    report = deliver_alerts(store, tenant, [_alert()], now=NOW)
    assert [c for c, *_ in report.failed] == ["slack"]
    assert "500" in report.failed[0][3]
    assert [c for c, *_ in report.sent] == ["email"]
    slack.status = 200
    retry = deliver_alerts(store, tenant, [_alert()], now=NOW)
    assert [c for c, *_ in retry.sent] == ["slack"]
    assert [c for c, *_ in retry.skipped] == ["email"]
    assert len(slack.posts) == 1
    assert len(smtp.messages) == 1


def test_unreachable_receivers_are_reported_not_raised(store: Store) -> None:
    tenant = store.update_tenant(
        store.resolve_tenant("acme", create=True),
        settings={"alerts": {"slack_webhook_url": "http://127.0.0.1:9/x", "smtp": {"host": "127.0.0.1",
                  "port": 9}, "to": ["a@b.test"]}},
    )  # fmt: skip
    report = deliver_alerts(store, tenant, [_alert()], now=NOW)
    assert sorted(c for c, *_ in report.failed) == ["email", "slack"]
    assert store.get_state(OptimizerStateRow, tenant, "alerts_delivered") == {}


def test_the_webhook_url_can_live_in_the_encrypted_credentials(store: Store, slack: HttpReceiver) -> None:
    box = secret_box(load_settings())
    tenant = store.update_tenant(
        store.resolve_tenant("acme", create=True), settings={"alerts": {"log": False, "to": []}}
    )
    store.put_credential(tenant, SLACK_CREDENTIAL, slack.url, box)
    config = alerts_config(store, tenant, box)
    assert config.channels == ["slack"]
    assert slack.url not in repr(config)
    deliver_alerts(store, tenant, [_alert()], config=config, now=NOW)
    assert len(slack.posts) == 1


def test_the_log_channel_and_bad_settings(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    tenant = store.update_tenant(
        store.resolve_tenant("acme", create=True), settings={"alerts": {"log": True}}
    )
    with caplog.at_level("WARNING", logger="feedbackloop.alerts"):
        report = deliver_alerts(store, tenant, [_alert()], now=NOW)
    assert report.sent == [("log", "overall_drop:all", "2026-W23")]
    assert "Overall win rate dropped" in caplog.text
    broken = store.update_tenant(tenant, settings={"alerts": {"smtp": {"port": 25}}})
    with pytest.raises(ConfigError, match="needs at least a host"):
        alerts_config(store, broken)
    assert alerts_config(store, store.resolve_tenant("other", create=True)).channels == []


def test_alert_text_skips_missing_numbers() -> None:
    subject, body = alert_text("acme", {**_alert(), "data": {"p_value": None, "q_value": 0.01}})
    assert subject.startswith("[feedbackloop] acme:")
    assert "p_value" not in body
    assert "q_value: 0.01" in body


def test_analyze_delivers_the_runs_new_alerts_once(
    store: Store, slack: HttpReceiver, smtp: SmtpReceiver, tmp_path: Path
) -> None:
    from feedbackloop.connectors.csvfiles import import_csv
    from feedbackloop.sandbox.world import WorldConfig, generate_world

    world = generate_world(WorldConfig(deals=1200, seed=3, templates=10))
    paths = world.to_csv(tmp_path / "w")
    import_csv(store, "acme", deals=paths["deals"], messages=paths["messages"], templates=paths["templates"])
    tenant = _tenant(store, slack, smtp)
    dry = analyze_tenant(store, tenant, world.now, dry_run=True)
    assert dry["alerts"], "the world should raise alerts"
    assert slack.posts == []  # a dry run delivers nothing
    slack.status = 500  # Slack is down during the first run
    data = analyze_tenant(store, tenant, world.now)
    keys = sorted(a["key"] for a in data["alerts"])
    assert slack.posts == []
    assert len(smtp.messages) == len(keys)
    slack.status = 200
    second = analyze_tenant(store, tenant, world.now)  # same period: the engine emits nothing new …
    assert second["alerts"] == []
    texts = sorted(alert_text("acme", a)[0] for a in data["alerts"])
    assert sorted(p["text"] for p in slack.posts) == texts  # … but Slack gets what it missed
    assert len(smtp.messages) == len(keys)  # and e-mail is not repeated
    analyze_tenant(store, tenant, world.now)
    assert len(slack.posts) == len(keys)
    assert len(smtp.messages) == len(keys)
