"""Shared fixtures: an isolated FEEDBACKLOOP_HOME per test, and the store on SQLite and PostgreSQL.

Store tests take the ``database_url`` fixture; they run on SQLite always and, when
``FEEDBACKLOOP_TEST_DATABASE_URL`` is set, on PostgreSQL too, each test in a schema of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from feedbackloop.config.settings import Settings, load_settings
from feedbackloop.store import Store, open_store

PG_URL = os.environ.get("FEEDBACKLOOP_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data directory and no stray configuration from the environment."""
    for name in list(os.environ):
        if name.startswith("FEEDBACKLOOP_") and name != "FEEDBACKLOOP_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("FEEDBACKLOOP_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each configured backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    assert PG_URL is not None
    schema = f"fl_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FEEDBACKLOOP_DATABASE_URL", database_url)
    return load_settings()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings)
    yield s
    s.db.dispose()
