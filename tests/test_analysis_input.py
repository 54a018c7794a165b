"""Reading the engine's tables early (a child process started before the store is open) gives the
same analysis as reading them when the analysis asks, and a reader that does not fit is discarded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from feedbackloop.analysis import compute_analysis
from feedbackloop.analysis_input import ENGINE_TABLES, start_reading
from feedbackloop.connectors.csvfiles import import_csv
from feedbackloop.sandbox.world import WorldConfig, generate_world
from feedbackloop.sqlite_arrow import sqlite_file
from feedbackloop.store import Store, columnar

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def two_tenants(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    if sqlite_file(store.db.url) is None:
        pytest.skip("early reading is for SQLite files")
    monkeypatch.setattr(columnar, "MIN_ROWS", 0)  # these small tables go through the reader too
    for name, seed in (("north", 1), ("south", 2)):
        world = generate_world(WorldConfig(seed=seed, deals=300))
        paths = world.to_csv(tmp_path / name)
        import_csv(
            store, name, deals=paths["deals"], messages=paths["messages"], templates=paths["templates"]
        )
    return store


def test_early_reader_gives_the_same_analysis(two_tenants: Store) -> None:
    tenant = two_tenants.resolve_tenant("south", create=False)
    plain = compute_analysis(two_tenants, tenant, AS_OF).to_dict()
    reader = start_reading(two_tenants.db.url, "south")
    assert reader is not None
    early = compute_analysis(two_tenants, tenant, AS_OF, reader=reader).to_dict()
    assert reader.process.returncode == 0  # its tables were taken, not thrown away
    assert early == plain


def test_reader_of_another_tenant_is_discarded(two_tenants: Store) -> None:
    tenant = two_tenants.resolve_tenant("south", create=False)
    plain = compute_analysis(two_tenants, tenant, AS_OF).to_dict()
    wrong = start_reading(two_tenants.db.url, "north")
    assert wrong is not None
    assert compute_analysis(two_tenants, tenant, AS_OF, reader=wrong).to_dict() == plain
    assert wrong.process.returncode is not None  # reaped
    several = start_reading(two_tenants.db.url, None)  # "the only tenant": there are two
    assert several is not None
    assert several.receive(tenant.id) is None
    several.discard()


def test_reader_answers_what_it_was_asked(two_tenants: Store) -> None:
    tenant = two_tenants.resolve_tenant("north", create=False)
    reader = start_reading(two_tenants.db.url, "north")
    assert reader is not None
    tables = reader.receive(tenant.id)
    assert tables is not None
    assert [t.column_names for t in tables] == [list(columns) for _, columns in ENGINE_TABLES]
    assert tables[1].num_rows > 0
    reader.discard()  # harmless after receive


def test_sqlite_file_reads_urls_as_sqlalchemy_does(tmp_path: Path) -> None:
    """The reader's own URL parsing (no SQLAlchemy import) names the file SQLAlchemy would open."""
    (tmp_path / "x.db").write_bytes(b"")
    (tmp_path / "a b.db").write_bytes(b"")
    urls = [
        f"sqlite:///{tmp_path / 'x.db'}",
        f"sqlite:///{tmp_path / 'x.db'}?timeout=5",
        f"sqlite+pysqlite:///{tmp_path / 'x.db'}",
        f"sqlite:///{tmp_path / 'a b.db'}",
        f"sqlite:///{tmp_path}/a%20b.db",
        f"sqlite:///{tmp_path / 'missing.db'}",
        "sqlite://",
        "sqlite:///:memory:",
        f"sqlite:///file:{tmp_path / 'x.db'}?mode=ro&uri=true",
        "postgresql://localhost/test",
    ]
    for url in urls:
        parsed = make_url(url)
        name = parsed.database if parsed.get_backend_name() == "sqlite" else None
        usable = name and name != ":memory:" and not name.startswith("file:") and Path(name).is_file()
        assert sqlite_file(url) == (str(Path(name).resolve()) if usable and name else None), url
    assert start_reading("postgresql://localhost/test", None) is None
