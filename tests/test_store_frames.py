"""The fast frame readers give exactly the frames of the SQLAlchemy reader (``pd.read_sql``).

Same columns, dtypes and rows, on every configured backend: a small simulated world plus hand-made
rows with NULLs in every nullable column, a second tenant, and an empty tenant. Both fast readers are
checked: the columnar one (ADBC in a child process, SQLite files; forced here for small tables) and
the DBAPI one (PostgreSQL, small tables, and SQLite when the columnar reader cannot take the data).
Row order is not part of the contract (a reader may scan the table or walk the tenant index), so rows
are compared in a canonical order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from feedbackloop.analysis import ENGINE_MESSAGE_COLUMNS
from feedbackloop.connectors.csvfiles import import_csv
from feedbackloop.engine.pipeline import DEAL_COLUMNS, TEMPLATE_COLUMNS
from feedbackloop.errors import UsageError
from feedbackloop.sandbox.world import WorldConfig, generate_world
from feedbackloop.store import Store, columnar
from feedbackloop.store import frames as frames_module
from feedbackloop.store.models import DealRow, MessageRow, TemplateRow

MODELS = (DealRow, MessageRow, TemplateRow)
PLUS2 = timezone(timedelta(hours=2))


def _names(model: type[Any]) -> list[str]:
    return [c.name for c in model.__table__.columns if c.name != "tenant_id"]


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in one order whatever order a reader gave them in."""
    keys = ["|".join(map(repr, row)) for row in frame.itertuples(index=False)]
    order = np.argsort(np.asarray(keys, dtype=object), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def _dbapi(store: Store, tenant: Any, model: type[Any], names: list[str]) -> pd.DataFrame | None:
    with store.db.engine.connect() as conn:
        return frames_module.read_frame(conn, _table(model), names, ("tenant_id", tenant.id))


def _assert_same(store: Store, tenant: Any, model: type[Any], columns: list[str] | None = None) -> None:
    names = columns or _names(model)
    reference = _canonical(store._frame_sqlalchemy(model, tenant, names))
    fast = _canonical(store._frame(model, tenant, columns))
    pd.testing.assert_frame_equal(fast, reference, check_exact=True)
    dbapi = _dbapi(store, tenant, model, names)
    if dbapi is not None:  # None: no rows (the store then asks the SQLAlchemy reader)
        pd.testing.assert_frame_equal(_canonical(dbapi), reference, check_exact=True)


@pytest.fixture(autouse=True)
def columnar_for_small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The columnar reader takes these small tables too (it normally leaves them to the DBAPI reader)."""
    monkeypatch.setattr(columnar, "MIN_ROWS", 0)


def _full(model: type[Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with every column (absent ones NULL): one insert statement takes them all."""
    return [{**dict.fromkeys(_names(model)), **row} for row in rows]


def _odd_rows(store: Store) -> Any:
    """A tenant whose rows have NULLs everywhere they may, offsets, and one all-NULL column each."""
    tenant = store.resolve_tenant("odd")
    t0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=PLUS2)
    store.upsert(
        DealRow,
        tenant,
        _full(
            DealRow,
            [
                {"deal_id": "d1", "outcome": "won", "amount": 10.5, "created_at": t0, "closed_at": None},
                {"deal_id": "d2", "outcome": "lost", "amount": None, "created_at": None, "segment": "smb"},
                {"deal_id": "d3", "outcome": "open", "created_at": datetime(2026, 1, 1), "closed_at": t0},
            ],
        ),
    )
    base = {"channel": "email", "direction": "outbound"}
    store.upsert(
        MessageRow,
        tenant,
        _full(
            MessageRow,
            [
                {**base, "message_id": "m1", "deal_id": "d1", "sent_at": t0, "position": 1, "opened": True},
                {
                    **base,
                    "message_id": "m2",
                    "deal_id": "d1",
                    "sent_at": t0,
                    "position": None,
                    "opened": None,
                },
                {
                    **base,
                    "message_id": "m3",
                    "deal_id": "d2",
                    "sent_at": datetime(2026, 2, 1),
                    "clicked": False,
                },
                {
                    **base,
                    "message_id": "m4",
                    "deal_id": "d3",
                    "sent_at": t0,
                    "template_id": "t1",
                    "replied": True,
                },
            ],
        ),
    )
    store.upsert(
        TemplateRow, tenant, _full(TemplateRow, [{"template_id": "t1", "status": "active", "pinned": False}])
    )
    return tenant


@pytest.fixture
def filled(store: Store, tmp_path: Path) -> Store:
    world = generate_world(WorldConfig(seed=3, deals=400))
    paths = world.to_csv(tmp_path / "csv")
    import_csv(store, "world", deals=paths["deals"], messages=paths["messages"], templates=paths["templates"])
    _odd_rows(store)
    return store


def test_fast_reader_equals_read_sql(filled: Store) -> None:
    for name in ("world", "odd"):
        tenant = filled.resolve_tenant(name, create=False)
        for model in MODELS:
            _assert_same(filled, tenant, model)
    world = filled.resolve_tenant("world", create=False)
    assert len(filled.messages_frame(world)) == filled.count(MessageRow, world) > 1000


def test_engine_columns_subset(filled: Store) -> None:
    tenant = filled.resolve_tenant("world", create=False)
    _assert_same(filled, tenant, DealRow, list(DEAL_COLUMNS))
    _assert_same(filled, tenant, MessageRow, list(ENGINE_MESSAGE_COLUMNS))
    _assert_same(filled, tenant, TemplateRow, list(TEMPLATE_COLUMNS))
    assert list(filled.messages_frame(tenant, ["sent_at", "deal_id"]).columns) == ["deal_id", "sent_at"]
    with pytest.raises(UsageError, match="unknown messages columns: nope"):
        filled.messages_frame(tenant, ["deal_id", "nope"])


def test_chunked_reads_and_empty_tenant(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames_module, "CHUNK_ROWS", 7)  # many chunks, some with only NULL times
    for name in ("world", "odd"):
        tenant = filled.resolve_tenant(name, create=False)
        for model in MODELS:
            _assert_same(filled, tenant, model)
    empty = filled.resolve_tenant("empty")
    for model in MODELS:
        _assert_same(filled, empty, model)
    assert filled.deals_frame(empty).empty


def test_times_are_utc(filled: Store) -> None:
    tenant = filled.resolve_tenant("odd", create=False)
    deals = filled.deals_frame(tenant).set_index("deal_id")
    assert str(deals["created_at"].dtype) == "datetime64[us, UTC]"
    assert deals.loc["d1", "created_at"] == pd.Timestamp(datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=UTC))
    assert deals.loc["d3", "created_at"] == pd.Timestamp("2026-01-01", tz="UTC")
    messages = filled.messages_frame(tenant).set_index("message_id")
    assert messages["opened"].tolist() == [True, None, None, None]


def test_columnar_reader_reads_sqlite_files(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    path = columnar.sqlite_file(filled.db.url)
    if path is None:
        pytest.skip("the columnar reader is for SQLite files")
    world = filled.resolve_tenant("world", create=False)
    requests = [columnar.FrameRequest(_table(m), _names(m)) for m in MODELS]
    found = columnar.read_frames(path, requests, world.id)
    assert all(f is not None and len(f) > 0 for f in found)  # really read here, no silent fallback
    # the tenant's share decides between a table scan and an index walk: both give the same rows
    for share in (0.0, 2.0):
        monkeypatch.setenv("FEEDBACKLOOP_SQLITE_SCAN_SHARE", str(share))  # read by the reader process
        for model in MODELS:
            _assert_same(filled, world, model)
    together = filled.frames(world, [(DealRow, DEAL_COLUMNS), (MessageRow, None)])
    alone = [filled.deals_frame(world, DEAL_COLUMNS), filled.messages_frame(world)]
    for both, one in zip(together, alone, strict=True):
        pd.testing.assert_frame_equal(_canonical(both), _canonical(one))


def test_odd_values_and_a_missing_driver(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A number in a text column and a time in another text format (rows written by other tools) are
    read as the reference reads them; without the ADBC driver the DBAPI reader reads everything."""
    tenant = filled.resolve_tenant("odd", create=False)
    with filled.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE deals SET owner_id = 42, closed_at = '2026-03-01T10:30:15+02:00' WHERE deal_id = 'd1'"
        )
    for model in MODELS:
        _assert_same(filled, tenant, model)
    deals = filled.deals_frame(tenant).set_index("deal_id")
    assert deals.loc["d1", "closed_at"] == pd.Timestamp("2026-03-01 08:30:15", tz="UTC")
    assert deals.loc["d1", "owner_id"] == "42"

    def missing(*_: Any) -> None:
        raise ImportError("No module named 'adbc_driver_sqlite'")

    monkeypatch.setattr(columnar, "read_frames", missing)
    world = filled.resolve_tenant("world", create=False)
    for model in MODELS:
        reference = filled._frame_sqlalchemy(model, world, _names(model))
        pd.testing.assert_frame_equal(filled._frame(model, world, None), reference, check_exact=True)


def test_shared_key_is_one_sorted_categorical(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """``frames(..., shared_key=)``: the key is a Categorical of one dtype in every frame, its
    categories sorted; the values are the reference reader's (columnar and DBAPI readers alike)."""
    world = filled.resolve_tenant("world", create=False)
    for columnar_reader in (True, False):
        if not columnar_reader:
            monkeypatch.setattr(columnar, "sqlite_file", lambda _url: None)
        deals, messages = filled.frames(
            world, [(DealRow, DEAL_COLUMNS), (MessageRow, None)], shared_key="deal_id"
        )
        assert isinstance(deals["deal_id"].dtype, pd.CategoricalDtype)
        assert deals["deal_id"].dtype == messages["deal_id"].dtype
        categories = deals["deal_id"].cat.categories
        assert categories.is_monotonic_increasing
        assert categories.is_unique
        for frame, model in ((deals, DealRow), (messages, MessageRow)):
            reference = filled._frame_sqlalchemy(model, world, list(frame.columns))
            plain = frame.assign(deal_id=frame["deal_id"].astype(reference["deal_id"].dtype))
            pd.testing.assert_frame_equal(_canonical(plain), _canonical(reference), check_exact=True)


def test_columnar_reader_takes_odd_paths(filled: Store, tmp_path: Path) -> None:
    """The database file is opened through a read-only SQLite URI: odd path characters are escaped."""
    source = columnar.sqlite_file(filled.db.url)
    if source is None:
        pytest.skip("the columnar reader is for SQLite files")
    odd = tmp_path / "a dir #1 %20 ?x"
    odd.mkdir()
    copy = odd / "store.db"
    with filled.db.engine.connect() as conn:
        conn.exec_driver_sql(f"VACUUM INTO '{copy}'")
    world = filled.resolve_tenant("world", create=False)
    frame = columnar.read_frames(
        copy, [columnar.FrameRequest(_table(TemplateRow), ["template_id"])], world.id
    )[0]
    assert frame is not None
    assert sorted(frame["template_id"]) == sorted(filled.templates_frame(world)["template_id"])


def test_small_tables_are_read_in_process(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Below MIN_ROWS the reader process is not started (it costs more than it saves)."""
    monkeypatch.setattr(columnar, "MIN_ROWS", 50_000)

    def not_started(*_: Any, **__: Any) -> None:
        raise AssertionError("the reader process was started for a small table")

    monkeypatch.setattr(columnar, "read_frames", not_started)
    world = filled.resolve_tenant("world", create=False)
    assert len(filled.frames(world, [(DealRow, None), (MessageRow, None)])[1]) > 1000


def test_reader_process_failure_is_reported(tmp_path: Path) -> None:
    """A file the reader process cannot read raises ColumnarReadError with its message (the store then
    falls back to its own reader)."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 100)
    with pytest.raises(columnar.ColumnarReadError, match=r"(?i)not a database|file is not"):
        columnar.read_frames(broken, [columnar.FrameRequest(_table(DealRow), ["deal_id"])], 1)


def test_reader_kinds_agree_with_the_models(store: Store) -> None:
    """The reader process types columns from the declared SQLite types (it does not import the models);
    that must give the kind the parent converts by (:func:`~feedbackloop.store.frames.column_kind`)."""
    if columnar.sqlite_file(store.db.url) is None:
        pytest.skip("the reader process is for SQLite files")
    from feedbackloop.sqlite_arrow import kind_of

    with store.db.engine.connect() as conn:
        for model in MODELS:
            table = _table(model)
            declared = {row[1]: row[2] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table.name}")')}
            for column in table.columns:
                assert kind_of(declared[column.name]) == frames_module.column_kind(column), column.name
