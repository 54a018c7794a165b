"""`feedbackloop doctor` finds each kind of problem and says what to do; shell completion; help examples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from feedbackloop.cli import app, main
from feedbackloop.config.settings import load_settings
from feedbackloop.crypto import secret_box
from feedbackloop.store import open_store


def _doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", "--format", "json", *args])
    code = exit_info.value.code
    return (0 if code is None else int(code)), json.loads(capsys.readouterr().out)


def _by_check(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for c in data["checks"]:
        out.setdefault(c["check"], []).append(c)
    return out


def test_a_healthy_installation(capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(load_settings())
    store.resolve_tenant("csv-shop", create=True)
    store.db.dispose()
    code, data = _doctor(capsys)
    assert code == 0
    assert data["ok"] is True
    checks = _by_check(data)
    assert set(checks) == {"config", "database", "secret key", "connector"}
    assert "fed by CSV import" in checks["connector"][0]["detail"]


def test_an_unmigrated_database_says_to_upgrade(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = _doctor(capsys)
    assert code == 1
    [db] = _by_check(data)["database"]
    assert db["ok"] is False
    assert db["advice"] == "run: feedbackloop db upgrade"


def test_an_unreachable_database(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    code, data = _doctor(capsys)
    assert code == 1
    [db] = _by_check(data)["database"]
    assert "cannot connect" in db["detail"]
    assert "FEEDBACKLOOP_DATABASE_URL" in db["advice"]


def test_invalid_configuration(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_DATABASE_URL", "mysql://x/y")
    code, data = _doctor(capsys)
    assert code == 1
    [config] = data["checks"]
    assert config["check"] == "config"
    assert "mysql" in config["detail"]


def test_a_changed_secret_key(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    store = open_store(settings)
    tenant = store.resolve_tenant("acme", create=True)
    store.put_credential(tenant, "alerts_smtp_password", "s3cret", secret_box(settings))
    store.db.dispose()
    monkeypatch.setenv("FEEDBACKLOOP_SECRET_KEY", "a different passphrase")
    code, data = _doctor(capsys)
    assert code == 1
    [key] = _by_check(data)["secret key"]
    assert key["ok"] is False
    assert "FEEDBACKLOOP_SECRET_KEY" in key["advice"]


def test_broken_alert_settings(capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(load_settings())
    tenant = store.resolve_tenant("acme", create=True)
    store.update_tenant(tenant, settings={"alerts": {"smtp": {"port": 25}, "to": ["a@b.test"]}})
    store.db.dispose()
    code, data = _doctor(capsys, "--tenant", "acme")
    assert code == 1
    [alerts] = _by_check(data)["alerts"]
    assert "host" in alerts["detail"]


@pytest.fixture(scope="module")
def hubspot() -> Iterator[Any]:
    from feedbackloop.sandbox.runner import start_sandboxes
    from feedbackloop.sandbox.world import WorldConfig

    options = {"burst_limit": 1_000_000, "search_limit": 1_000_000}
    with start_sandboxes(WorldConfig(seed=1, deals=40, templates=5), 0, None, hubspot_options=options) as h:
        yield h


@pytest.mark.parametrize(
    ("token", "ok"), [("good", True), ("bad", False)], ids=["valid-token", "wrong-token"]
)
def test_a_hubspot_tenant_is_checked_through_its_connector(
    capsys: pytest.CaptureFixture[str], hubspot: Any, token: str, ok: bool
) -> None:
    from feedbackloop.connectors.hubspot.oauth import store_connection

    settings = load_settings()
    store = open_store(settings)
    tenant = store_connection(
        store,
        secret_box(settings),
        "acme",
        base_url=hubspot.hubspot_url,
        hub_id=None,
        private_token=hubspot.token if token == "good" else "pat-wrong",
    )
    retry = {"base_delay": 0.01, "max_delay": 0.1, "timeout": 5, "max_attempts": 2}
    store.update_tenant(tenant, settings={**tenant.settings, "retry": retry})
    store.db.dispose()
    code, data = _doctor(capsys, "--tenant", "acme")
    connector = _by_check(data)["connector"]
    assert code == (0 if ok else 1)
    assert all(c["ok"] is ok for c in connector)
    if not ok:
        assert connector[0]["advice"] == "reconnect the tenant: feedbackloop connect hubspot --tenant acme"


def test_doctor_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["doctor"])
    out = capsys.readouterr().out
    assert "PROBLEM" in out
    assert "upgrade" in out


def test_shell_completion_is_available() -> None:
    result = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="feedbackloop",
                                env={"SHELL": "/bin/bash"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "complete" in result.output
    assert "_FEEDBACKLOOP_COMPLETE" in result.output


def _leaf_commands(command: Any, path: list[str]) -> Iterator[list[str]]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path
        return
    for name, sub in subcommands.items():
        yield from _leaf_commands(sub, [*path, name])


def test_every_command_has_help_with_an_example() -> None:
    import typer

    runner = CliRunner()
    commands = list(_leaf_commands(typer.main.get_command(app), []))
    assert ["doctor"] in commands
    assert ["report"] in commands
    for path in commands:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        assert "Example" in result.output, " ".join(path)
