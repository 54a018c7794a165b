"""The store on every configured backend: migrations, tenants, upserts, state, credentials."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedbackloop.config.settings import Settings
from feedbackloop.crypto import secret_box
from feedbackloop.errors import CredentialError, UsageError
from feedbackloop.store import Store, open_store
from feedbackloop.store.models import DealRow, MessageRow, OptimizerStateRow, SyncStateRow, TemplateRow

pytestmark = pytest.mark.store


def test_migrations_run_on_first_use_and_are_idempotent(store: Store, settings: Settings) -> None:
    assert store.db.current_revision() == store.db.head_revision()
    before, after = store.db.upgrade()
    assert before == after == store.db.head_revision()
    again = open_store(settings)
    assert again.db.current_revision() == store.db.head_revision()
    again.db.dispose()


def test_sqlite_uses_wal(store: Store) -> None:
    if store.db.dialect != "sqlite":
        pytest.skip("SQLite only")
    with store.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_resolve_tenant_rules(store: Store) -> None:
    default = store.resolve_tenant(None)
    assert default.name == "default"
    assert store.resolve_tenant(None) == default
    store.create_tenant("acme", provider="hubspot", external_id="123")
    with pytest.raises(UsageError, match="several tenants"):
        store.resolve_tenant(None)
    assert store.resolve_tenant("acme").external_id == "123"
    with pytest.raises(UsageError, match="unknown tenant 'nope'"):
        store.resolve_tenant("nope", create=False)
    assert store.create_tenant("acme").external_id == "123"


def test_upserts_are_idempotent_and_tenant_scoped(store: Store) -> None:
    a, b = store.create_tenant("a"), store.create_tenant("b")
    t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    deal = {"deal_id": "D1", "outcome": "won", "amount": 100.0, "closed_at": t0, "segment": "smb"}
    assert store.upsert(DealRow, a, [deal]) == 1
    store.upsert(DealRow, a, [{**deal, "amount": 250.0}])
    store.upsert(DealRow, b, [deal])
    frame = store.deals_frame(a)
    assert len(frame) == 1
    assert frame.loc[0, "amount"] == 250.0
    assert frame.loc[0, "closed_at"] == t0
    assert store.count(DealRow, b) == 1
    store.upsert(
        MessageRow,
        a,
        [{"message_id": "M1", "deal_id": "D1", "sent_at": t0, "template_id": "T1", "opened": True}],
    )
    messages = store.messages_frame(a)
    assert messages.loc[0, "sent_at"] == t0
    assert bool(messages.loc[0, "opened"]) is True


def test_template_status_changes_are_recorded(store: Store) -> None:
    t = store.resolve_tenant(None)
    store.upsert(
        TemplateRow, t, [{"template_id": "T1", "name": "Intro", "status": "active", "pinned": False}]
    )
    assert (
        store.set_template_status(t, "T1", "deprecated", actor="human", reason="tone", pinned=True)
        == "active"
    )
    assert store.set_template_status(t, "T1", "deprecated", actor="human", pinned=True) == "deprecated"
    history = store.template_history(t, "T1")
    assert [(h["old_status"], h["new_status"], h["pinned"]) for h in history] == [
        ("active", "deprecated", True)
    ]
    with pytest.raises(UsageError, match="unknown template"):
        store.set_template_status(t, "T9", "active", actor="human")


def test_state_round_trips_as_json(store: Store) -> None:
    t = store.resolve_tenant(None)
    assert store.get_state(SyncStateRow, t, "deals") == {}
    store.put_state(SyncStateRow, t, "deals", {"bookmark": "2026-01-01T00:00:00Z", "after": "42"})
    store.put_state(SyncStateRow, t, "deals", {"bookmark": "2026-01-02T00:00:00Z", "after": "7"})
    assert store.get_state(SyncStateRow, t, "deals") == {"bookmark": "2026-01-02T00:00:00Z", "after": "7"}
    store.put_state(OptimizerStateRow, t, "bandit", {"alpha": [1.0, 2.0]})
    assert store.get_state(OptimizerStateRow, t, "bandit") == {"alpha": [1.0, 2.0]}


def test_credentials_are_encrypted_at_rest(store: Store, settings: Settings) -> None:
    t = store.resolve_tenant(None)
    box = secret_box(settings)
    store.put_credential(t, "access_token", "pat-na1-secret", box)
    with store.db.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT ciphertext FROM credentials").scalar()
    assert raw is not None
    assert b"pat-na1-secret" not in bytes(raw)
    assert store.get_credential(t, "access_token", box) == "pat-na1-secret"
    key_file = settings.home / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    other = secret_box(settings.model_copy(update={"secret_key": None, "home": settings.home / "elsewhere"}))
    with pytest.raises(CredentialError, match="cannot be decrypted"):
        store.get_credential(t, "access_token", other)


def test_upsert_updates_only_the_columns_given(store: Store) -> None:
    t = store.resolve_tenant(None)
    store.upsert(
        TemplateRow, t, [{"template_id": "T1", "name": "Old", "status": "deprecated", "pinned": True}]
    )
    store.upsert(TemplateRow, t, [{"template_id": "T1", "name": "New"}, {"template_id": "T2", "name": "Two"}])
    frame = store.templates_frame(t).set_index("template_id")
    assert frame.loc["T1", "name"] == "New"
    assert frame.loc["T1", "status"] == "deprecated"
    assert bool(frame.loc["T1", "pinned"]) is True
    assert frame.loc["T2", "status"] == "active"


def test_timestamps_are_stored_in_utc_whatever_their_offset(store: Store) -> None:
    from datetime import timedelta, timezone

    t = store.resolve_tenant(None)
    plus_two = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 3, 1, 12)
    store.upsert(DealRow, t, [{"deal_id": "A", "outcome": "won", "closed_at": plus_two}])
    store.upsert(DealRow, t, [{"deal_id": "B", "outcome": "won", "closed_at": naive}])
    frame = store.deals_frame(t).set_index("deal_id")
    assert frame.loc["A", "closed_at"] == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert frame.loc["B", "closed_at"] == datetime(2026, 3, 1, 12, tzinfo=UTC)
    with store.db.session() as s:
        row = s.get(DealRow, (t.id, "A"))
        assert row is not None
        assert row.closed_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
        assert row.closed_at.tzinfo is not None


def test_head_revision_is_alembics_head(store: Store) -> None:
    """The constant every start checks against is the newest migration (Alembic's own head)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from feedbackloop.store.db import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config(store.db.engine)).get_current_head() == HEAD_REVISION
    with store.db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == store.db.current_revision()
