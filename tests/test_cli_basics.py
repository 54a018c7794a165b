"""CLI behaviour every command shares: help, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedbackloop.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_help_and_version() -> None:
    assert run("--help").returncode == 0
    version = run("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("feedbackloop ")


def test_bad_usage_exits_2() -> None:
    assert run("tenants", "no-such-command").returncode == 2


def test_config_error_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_LOG_LEVEL", "LOUD")
    result = run("config", "show")
    assert result.returncode == 1
    assert "FEEDBACKLOOP_LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_and_tenants_list_json() -> None:
    first = run("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "migrated" in first.stdout
    assert "up to date" in run("db", "upgrade").stdout
    listing = run("tenants", "list", "--format", "json")
    assert json.loads(listing.stdout) == []


def test_sync_needs_a_crm_tenant() -> None:
    assert run("tenants", "list").returncode == 0
    no_tenant = run("sync")
    assert no_tenant.returncode == 2
    assert "no tenants yet" in no_tenant.stderr


def test_building_the_cli_imports_no_heavy_module() -> None:
    """`--help` and completion stay fast: the commands import the store, connectors and engine themselves."""
    code = "import sys, feedbackloop.cli; print(' '.join(sys.modules))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = {"pandas", "sqlalchemy", "scipy", "statsmodels", "requests", "simple_salesforce", "pydantic"}
    heavy |= {"feedbackloop.store", "feedbackloop.engine", "feedbackloop.connectors.hubspot.client"}
    assert heavy.isdisjoint(imported.stdout.split())


def test_the_crm_email_mappers_do_not_import_the_statistics_engine() -> None:
    """Syncing maps reply texts with ``engine.objections`` (a keyword table); that must not load the
    engine's scipy/statsmodels (~0.5 s at every sync start)."""
    code = (
        "import sys, feedbackloop.connectors.hubspot.emails, feedbackloop.connectors.salesforce.emails\n"
        "print(' '.join(sys.modules))"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(imported.stdout.split())
    assert "feedbackloop.engine.objections" in modules
    assert modules.isdisjoint({"scipy", "statsmodels", "feedbackloop.engine.effects"})
