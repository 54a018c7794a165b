"""What every CLI command shares: the lazily opened settings and store, output formats, the console.

Every command module is imported to build the CLI, even for ``--help`` and shell completion, so these
modules import the settings, the store (pandas, SQLAlchemy) and the engine only inside the commands
that use them: at module level, only what option defaults and parameter types need.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from feedbackloop.domain import to_jsonable
from feedbackloop.tables import compact_table

if TYPE_CHECKING:
    from feedbackloop.config.settings import Settings
    from feedbackloop.store import Store, TenantRef

__all__ = [
    "AppState",
    "OutputFormat",
    "console",
    "emit",
    "err_console",
    "simple_table",
    "state",
]

console = Console()
err_console = Console(stderr=True)


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


@dataclass
class AppState:
    """Per-invocation state: opened on first use so that `--help` never touches the database."""

    debug: bool = False
    _settings: Settings | None = None
    _store: Store | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from feedbackloop.config.settings import load_settings

            self._settings = load_settings(**self.overrides)
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            from feedbackloop.store import open_store

            self._store = open_store(self.settings)
        return self._store

    def tenant(self, name: str | None, *, create: bool = False) -> TenantRef:
        return self.store.resolve_tenant(name, create=create)

    def close(self) -> None:
        if self._store is not None:
            self._store.db.dispose()


def state(ctx: typer.Context) -> AppState:
    """The AppState of this invocation (created by the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def emit(data: Any, fmt: OutputFormat, render: Callable[[Any], None] | None = None) -> None:
    """Print ``data`` as JSON, or through ``render`` as rich tables."""
    if fmt is OutputFormat.JSON or render is None:
        sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
        sys.stdout.flush()
    else:
        render(data)


def simple_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table with right-aligned numbers, of which only free-text columns wrap
    (:func:`feedbackloop.tables.compact_table`)."""
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(columns))
    ]
    cells = [["" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    return compact_table(title, columns, cells, numeric)
