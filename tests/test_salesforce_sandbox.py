"""The Salesforce connector against the emulated org over real HTTPS (simple-salesforce, generated CA)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
import requests

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.retry import RetryPolicy
from feedbackloop.connectors.salesforce import SalesforceConnector
from feedbackloop.connectors.salesforce.oauth import OAuthApp, Pkce, TokenSet, save_tokens
from feedbackloop.connectors.salesforce.streams import SyncOptions
from feedbackloop.connectors.sync import load_sync_state, run_sync
from feedbackloop.crypto import secret_box
from feedbackloop.errors import QuotaExhausted
from feedbackloop.sandbox.world import WorldConfig, generate_world
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import DealRow, MessageRow
from tests.connector_contract import ConnectorContract

# The emulated org lives on branch `sandbox-salesforce`; without it these tests skip.
sandbox = pytest.importorskip("feedbackloop.sandbox.salesforce")
sid = importlib.import_module("feedbackloop.sandbox.salesforce.objects").sid

#: Tests that exercise the connector rather than the store run on SQLite only (PostgreSQL keeps the contract
#: and the crash/resume test), which halves their CI time.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, timeout=30.0)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    world = generate_world(WorldConfig(seed=3, deals=500))
    server = sandbox.start_salesforce(world, tmp_path_factory.mktemp("sf-tls"))
    yield server
    server.stop()


def _post(org: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.post(f"{org.url}/_sandbox/{path}", json=body or {}, verify=org.ca_file, timeout=30)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def fresh_org(org: Any) -> Any:
    _post(org, "reset")
    return org


def _tenant(
    store: Store, settings: Settings, org: Any, name: str = "acme", token: str = "sandbox-token"
) -> TenantRef:
    ref = store.create_tenant(
        name,
        provider="salesforce",
        external_id="00D",
        settings={"instance_url": org.url, "ca_bundle": org.ca_file, "loss_reason_field": "Loss_Reason__c"},
    )
    save_tokens(store, ref, TokenSet(token, org.url), secret_box(settings))
    return ref


class TestSalesforceContract(ConnectorContract):
    """Every shared contract test, with the Salesforce connector and sandbox."""

    @pytest.fixture
    def sandbox_admin(self, fresh_org: Any, monkeypatch: pytest.MonkeyPatch) -> str:
        # The contract calls the admin API with plain `requests`: trust the sandbox's CA through the env.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fresh_org.ca_file))
        return f"{fresh_org.url}/_sandbox"

    @pytest.fixture
    def tenant(self, store: Store, settings: Settings, fresh_org: Any) -> TenantRef:
        return _tenant(store, settings, fresh_org)

    @pytest.fixture
    def connector(self, settings: Settings, store: Store, tenant: TenantRef) -> SalesforceConnector:
        return SalesforceConnector(settings, store, tenant, policy=FAST)


def _nones(series: pd.Series) -> list[Any]:
    return [None if pd.isna(v) else v for v in series]


def _snapshot(store: Store, tenant: TenantRef) -> tuple[pd.DataFrame, pd.DataFrame]:
    deals = (
        store.deals_frame(tenant)
        .drop(columns=["crm_updated_at"])
        .sort_values("deal_id")
        .reset_index(drop=True)
    )
    messages = store.messages_frame(tenant).sort_values("message_id").reset_index(drop=True)
    return deals, messages


@pytest.fixture(scope="module")
def default_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The sandbox on the default world (seed 1, 2,000 deals), as `feedbackloop sandbox` serves it."""
    server = sandbox.start_salesforce(generate_world(WorldConfig()), tmp_path_factory.mktemp("sf-default"))
    yield server
    server.stop()


@SQLITE_ONLY
def test_full_sync_matches_the_world(default_org: Any, store: Store, settings: Settings) -> None:
    """Every closed deal and email of the default world, with templates (also those known only through
    cadence steps), positions, engagement, stage lost, competitor and loss reason as the world has them;
    a second sync with nothing changed makes at most 3 calls."""
    fresh_org = default_org
    tenant = _tenant(store, settings, fresh_org)
    connector = SalesforceConnector(settings, store, tenant, policy=FAST)
    run_sync(store, tenant, connector, full=True)
    truth = fresh_org.sandbox.world.truth_summary()
    assert store.count(DealRow, tenant) == truth["deals"]["won"] + truth["deals"]["lost"]
    before = connector.api_calls
    run_sync(store, tenant, connector)
    assert connector.api_calls - before <= 3
    world = fresh_org.sandbox.world
    closed = world.deals_frame().query("outcome != 'open'").copy()
    closed["sf"] = [sid("Opportunity", d) for d in closed["deal_id"]]
    got = store.deals_frame(tenant).set_index("deal_id").loc[closed["sf"]]
    for column in ["outcome", "loss_reason", "competitor", "stage_lost", "segment", "industry"]:
        want = closed[column].where(closed[column].notna(), None).tolist()
        assert got[column].where(got[column].notna(), None).tolist() == want, column
    sent = world.messages_frame()
    sent = sent[sent["deal_id"].isin(closed["deal_id"])]
    stored = (
        store.messages_frame(tenant)
        .set_index("message_id")
        .loc[[sid("EmailMessage", m) for m in sent["message_id"]]]
    )
    assert _nones(stored["template_id"]) == [
        None if pd.isna(t) else sid("EmailTemplate", t) for t in sent["template_id"]
    ]
    assert _nones(stored["sequence_id"]) == [
        None if pd.isna(s) else sid("ActionCadence", s) for s in sent["sequence_id"]
    ]
    assert stored["position"].astype("Int64").tolist() == sent["position"].astype("Int64").tolist()
    for column in ["opened", "clicked", "replied"]:
        assert stored[column].astype(bool).tolist() == sent[column].astype(bool).tolist(), column
    assert (stored["deal_id"].tolist()) == [sid("Opportunity", d) for d in sent["deal_id"]]
    cadence_only = fresh_org.sandbox.org.rows("EmailMessage")
    assert any(r["EmailTemplateId"] is None and r["ActionCadenceStepTrackerId"] for r in cadence_only)
    replied = sent["response_sentiment"].notna().to_numpy()
    got_sentiment = stored["response_sentiment"].to_numpy()[replied].astype(float)
    assert (
        np.corrcoef(got_sentiment, sent["response_sentiment"].to_numpy()[replied].astype(float))[0, 1] > 0.9
    )
    if importlib.util.find_spec("feedbackloop.engine") is not None:  # the taxonomy lives on branch `insights`
        want = ["" if pd.isna(o) else o for o in sent["objections"]]
        assert [o or "" for o in _nones(stored["objections"])] == want


@pytest.fixture
def own_org(tmp_path: Path) -> Iterator[Any]:
    """An org of its own, for tests that expire every token (the sandbox's reset does not revive them)."""
    server = sandbox.start_salesforce(generate_world(WorldConfig(seed=3, deals=500)), tmp_path / "tls")
    yield server
    server.stop()


def test_faults_token_expiry_and_a_crash_end_in_the_clean_state(
    own_org: Any, store: Store, settings: Settings
) -> None:
    fresh_org = own_org
    clean = _tenant(store, settings, fresh_org, "clean")
    run_sync(store, clean, SalesforceConnector(settings, store, clean, policy=FAST), full=True)
    expected = _snapshot(store, clean)

    faulty = _tenant(store, settings, fresh_org, "faulty")
    _post(fresh_org, "faults", {"rate": 0.10, "kinds": ["500", "429", "reset"]})
    try:
        run_sync(store, faulty, SalesforceConnector(settings, store, faulty, policy=FAST))
    finally:
        _post(fresh_org, "faults", {"rate": 0.0})
    _assert_same(_snapshot(store, faulty), expected)

    killed = _tenant(store, settings, fresh_org, "killed")
    _kill_halfway(killed)
    partial = store.count(DealRow, killed)
    assert 0 < partial < len(expected[0])
    run_sync(store, killed, SalesforceConnector(settings, store, killed, policy=FAST))
    _assert_same(_snapshot(store, killed), expected)

    oauth = _oauth_tenant(store, settings, fresh_org, "expiring")
    connector = SalesforceConnector(settings, store, oauth, policy=FAST, sync_options=_small_batches())
    expired: list[int] = []

    def expire_once(batch: Any, summary: Any) -> None:
        if not expired:
            expired.append(_post(fresh_org, "expire-tokens") and 1)

    run_sync(store, oauth, connector, on_batch=expire_once)
    assert expired
    _assert_same(_snapshot(store, oauth), expected)


def _small_batches() -> SyncOptions:
    return SyncOptions(loss_reason_field="Loss_Reason__c", email_rows_target=400)


def _assert_same(got: tuple[pd.DataFrame, pd.DataFrame], want: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])


def _oauth_tenant(store: Store, settings: Settings, org: Any, name: str) -> TenantRef:
    """A tenant connected through the web-server flow with PKCE (so that it can refresh)."""
    options = org.sandbox.options
    app = OAuthApp(options.client_id, "https://app.example/cb", org.url, options.client_secret, org.ca_file)
    pkce = Pkce.new()
    redirect = requests.get(
        app.authorization_url("s1", pkce), allow_redirects=False, verify=org.ca_file, timeout=30
    )
    code = parse_qs(urlparse(redirect.headers["Location"]).query)["code"][0]
    tokens = app.exchange_code(code, pkce)
    assert tokens.refresh_token
    ref = store.create_tenant(
        name,
        provider="salesforce",
        external_id=tokens.org_id,
        settings={
            "instance_url": tokens.instance_url,
            "ca_bundle": org.ca_file,
            "loss_reason_field": "Loss_Reason__c",
            "client_id": options.client_id,
            "login_url": org.url,
            "redirect_uri": app.redirect_uri,
        },
    )
    box = secret_box(settings)
    save_tokens(store, ref, tokens, box)
    store.put_credential(ref, "salesforce_client_secret", options.client_secret, box)
    return ref


_CHILD = """
import sys
from feedbackloop.config.settings import load_settings
from feedbackloop.connectors.retry import RetryPolicy
from feedbackloop.connectors.salesforce import SalesforceConnector
from feedbackloop.connectors.salesforce.streams import SyncOptions
from feedbackloop.connectors.sync import run_sync
from feedbackloop.store import open_store
settings = load_settings(); store = open_store(settings); tenant = store.get_tenant(sys.argv[1])
options = SyncOptions(loss_reason_field="Loss_Reason__c", email_rows_target=400)
connector = SalesforceConnector(settings, store, tenant, sync_options=options, policy=RetryPolicy(timeout=30))
def committed(batch, summary):
    print("batch", flush=True)
    sys.stdin.readline()  # wait for the parent: it kills us here, after a committed batch
run_sync(store, tenant, connector, on_batch=committed)
"""


def _kill_halfway(tenant: TenantRef) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, tenant.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert child.stdout is not None
    assert child.stdin is not None
    for _ in range(2):
        assert child.stdout.readline().strip() == "batch"
        child.stdin.write("\n")
        child.stdin.flush()
    assert child.stdout.readline().strip() == "batch"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


@SQLITE_ONLY
def test_quota_exhaustion_stops_cleanly_with_a_resumable_cursor(
    fresh_org: Any, store: Store, settings: Settings
) -> None:
    fresh_org.sandbox.org.options.daily_api_limit = 40
    try:
        base = _tenant(store, settings, fresh_org, "thrifty")
        tenant = store.update_tenant(base, settings={**base.settings, "quota_share": 0.25})
        connector = SalesforceConnector(settings, store, tenant, policy=FAST, sync_options=_small_batches())
        with pytest.raises(QuotaExhausted, match=r"share \(25%\).*cursor is saved"):
            run_sync(store, tenant, connector)
        assert connector.api_calls == 10
        cursor = load_sync_state(store, tenant).get("opportunities")
        assert cursor.get("modstamp")
    finally:
        fresh_org.sandbox.org.options.daily_api_limit = 100_000
    tenant = store.update_tenant(tenant, settings={**tenant.settings, "quota_share": 1.0})
    run_sync(store, tenant, SalesforceConnector(settings, store, tenant, policy=FAST))
    reference = _tenant(store, settings, fresh_org, "reference")
    run_sync(store, reference, SalesforceConnector(settings, store, reference, policy=FAST))
    _assert_same(_snapshot(store, tenant), _snapshot(store, reference))


@SQLITE_ONLY
def test_own_write_backs_do_not_make_the_next_sync_reread_emails(
    fresh_org: Any, store: Store, settings: Settings
) -> None:
    from datetime import UTC, datetime

    from feedbackloop.connectors.base import DealWriteBack, WriteBackPlan

    tenant = _tenant(store, settings, fresh_org)
    connector = SalesforceConnector(settings, store, tenant, policy=FAST)
    connector.install()
    run_sync(store, tenant, connector)
    deals = store.deals_frame(tenant)["deal_id"].tolist()
    plan = WriteBackPlan(
        datetime(2026, 11, 1, tzinfo=UTC), deals=[DealWriteBack(d, "A: 0.1", "") for d in deals]
    )
    report = connector.write_back(plan)
    assert report.updated == len(deals)
    assert report.failed == 0
    assert report.api_calls == -(-len(deals) // 200)  # collections of 200
    before = connector.api_calls
    summary = run_sync(store, tenant, connector)
    assert summary.messages == 0
    assert summary.deals == len(deals)
    assert connector.api_calls - before <= 3  # opportunity page(s) + stages + templates, no email queries
    again = run_sync(store, tenant, connector, full=True)  # --full re-reads every email all the same
    assert again.messages == store.count(MessageRow, tenant) > 0


@SQLITE_ONLY
def test_write_back_above_the_threshold_uses_bulk_api_2(
    fresh_org: Any, store: Store, settings: Settings
) -> None:
    from datetime import UTC, datetime

    from feedbackloop.connectors.base import TemplateScoreRecord, WriteBackPlan

    tenant = _tenant(store, settings, fresh_org)
    connector = SalesforceConnector(settings, store, tenant, policy=FAST)
    connector.install()
    records = [
        TemplateScoreRecord(f"00X{i:015d}", f"T{i}", 0.1, 0.05, 0.3, 0.2, 0.4, "active", 10)
        for i in range(2101)
    ]
    records.append(TemplateScoreRecord("x" * 40, "too long an id", 0.1, None, None, None, None, "active", 1))
    report = connector.write_back(WriteBackPlan(datetime(2026, 11, 1, tzinfo=UTC), templates=records))
    assert report.updated == 2101
    assert [f.record_id for f in report.failures] == ["x" * 40]
    stats = requests.get(f"{fresh_org.url}/_sandbox/stats", verify=fresh_org.ca_file, timeout=30).json()
    assert any("jobs/ingest" in key for key in stats["by_endpoint"])
    stored = connector.client.query("SELECT COUNT() FROM Template_Score__c", "count")
    assert stored == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedbackloop.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
        timeout=300,
    )


@SQLITE_ONLY
def test_cli_connect_check_install_sync(fresh_org: Any, settings: Settings) -> None:
    connect = _cli(
        "connect",
        "salesforce",
        "--instance-url",
        fresh_org.url,
        "--token",
        "sandbox-token",
        "--ca-bundle",
        fresh_org.ca_file,
        "--tenant",
        "acme",
        "--format",
        "json",
    )
    assert connect.returncode == 0, connect.stderr
    connected = json.loads(connect.stdout)
    assert connected["provider"] == "salesforce"
    assert connected["org_id"] == fresh_org.sandbox.org.org_id
    check = json.loads(_cli("check", "--tenant", "acme", "--format", "json").stdout)
    assert check["ok"]
    assert check["available"]["HasReply"]
    assert check["quota"]["daily_max"] == 100_000
    installed = json.loads(_cli("install", "--tenant", "acme", "--format", "json").stdout)
    assert "Template_Score__c" in installed["created"]
    assert "Opportunity.FL_Template_Scores__c" in installed["created"]
    synced = json.loads(_cli("sync", "--tenant", "acme", "--format", "json").stdout)
    truth = fresh_org.sandbox.world.truth_summary()
    assert synced["deals"] == truth["deals"]["won"] + truth["deals"]["lost"]
    assert synced["messages"] == truth["emails"]
    bad = _cli(
        "connect",
        "salesforce",
        "--instance-url",
        fresh_org.url,
        "--token",
        "wrong",
        "--ca-bundle",
        fresh_org.ca_file,
        "--tenant",
        "other",
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert "wrong" not in bad.stderr


@SQLITE_ONLY
def test_writeback_runner_second_run_writes_nothing(fresh_org: Any, store: Store, settings: Settings) -> None:
    from feedbackloop.connectors.writeback import run_writeback

    tenant = _tenant(store, settings, fresh_org)
    connector = SalesforceConnector(settings, store, tenant, policy=FAST)
    connector.install()
    run_sync(store, tenant, connector)
    templates = store.templates_frame(tenant)["template_id"].tolist()
    result = {
        "schema_version": 1,
        "templates": [
            {
                "template_id": t,
                "name": f"T{i}",
                "score": 0.1 * (i % 5) - 0.2,
                "score_se": 0.1,
                "win_rate": 0.3,
                "ci_low": 0.2,
                "ci_high": 0.4,
                "status": "deprecated" if i == 0 else "active",
                "deals": 40,
            }
            for i, t in enumerate(templates)
        ],
        "segments": {"top_templates": {"smb": [{"template_id": templates[1]}]}},
    }
    first = run_writeback(store, tenant, connector, result)
    open_count = sum(1 for r in fresh_org.sandbox.org.rows("Opportunity") if not r["IsClosed"])
    assert first.failed == 0
    assert first.updated >= len(templates) + open_count
    second = run_writeback(store, tenant, connector, result)
    assert (second.updated, second.failed) == (0, 0)
    assert second.unchanged == first.updated
    written = connector.client.query(
        "SELECT Id, FL_Recommended_Next_Template__c FROM Opportunity WHERE IsClosed = false", "check"
    )
    assert sum(1 for r in written if r["FL_Recommended_Next_Template__c"]) > 0


@SQLITE_ONLY
def test_open_deals_know_their_next_step(fresh_org: Any, store: Store, settings: Settings) -> None:
    tenant = _tenant(store, settings, fresh_org)
    deals = {d.deal_id: d for d in SalesforceConnector(settings, store, tenant, policy=FAST).open_deals()}
    world = fresh_org.sandbox.world
    open_world = world.deals_frame().query("outcome == 'open'")
    assert set(deals) == {sid("Opportunity", d) for d in open_world["deal_id"]}
    sent = world.messages_frame().dropna(subset=["position"]).groupby("deal_id")["position"].max()
    for deal_id in open_world["deal_id"]:
        expected = int(sent.get(deal_id, 0)) + 1
        assert deals[sid("Opportunity", deal_id)].next_position == expected


@SQLITE_ONLY
def test_slow_answers_time_out_and_are_retried(fresh_org: Any, store: Store, settings: Settings) -> None:
    calm = _tenant(store, settings, fresh_org, "calm")
    baseline = run_sync(store, calm, SalesforceConnector(settings, store, calm, policy=FAST)).api_calls
    tenant = _tenant(store, settings, fresh_org)
    impatient = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, timeout=0.5)
    _post(fresh_org, "faults", {"rate": 0.3, "kinds": ["slow"], "slow_seconds": 1.5})
    try:
        summary = run_sync(store, tenant, SalesforceConnector(settings, store, tenant, policy=impatient))
    finally:
        _post(fresh_org, "faults", {"rate": 0.0})
    truth = fresh_org.sandbox.world.truth_summary()
    assert summary.deals == truth["deals"]["won"] + truth["deals"]["lost"]
    assert summary.messages == truth["emails"]
    assert summary.api_calls > baseline  # the timed-out calls were sent again
    _assert_same(_snapshot(store, tenant), _snapshot(store, calm))
