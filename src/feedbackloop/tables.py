"""Rich tables that stay readable in an 80-column terminal (the CLI's, the report's and the demo's)."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table

__all__ = ["compact_table"]

#: a cell without spaces longer than this (a URL, a path) may fold; shorter ones (ids, numbers,
#: statuses) keep their width
LONG_TOKEN = 20


def compact_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[bool],
    wrap: Sequence[bool] | None = None,
) -> Table:
    """A table of the given cells (numbers right-aligned; a header may hold a line break).

    No vertical rules, so that more width goes to the cells. Only free-text columns give up width when
    the terminal is narrow, wrapping at spaces (and long tokens such as URLs, folding); ids, numbers and
    statuses keep their width, because a cut-off or folded id or status would be a wrong answer, not a
    shorter one. ``wrap`` overrides which columns may wrap (by default: those with a space in some cell
    or a token longer than ``LONG_TOKEN``).
    """
    if wrap is None:
        wrap = [any(" " in r[i] or len(r[i]) > LONG_TOKEN for r in rows) for i in range(len(columns))]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.pad_edge, table.collapse_padding = False, True
    for name, is_num, can_wrap in zip(columns, numeric, wrap, strict=True):
        table.add_column(name, justify="right" if is_num else "left", overflow="fold", no_wrap=not can_wrap)
    for row in rows:
        table.add_row(*row)
    return table
