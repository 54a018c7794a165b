"""Rich tables that stay readable in an 80-column terminal (the CLI's and the report's)."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table

__all__ = ["compact_table", "wraps"]


def compact_table(
    title: str, columns: Sequence[str], numeric: Sequence[bool], wrap: Sequence[bool] | None = None
) -> Table:
    """An empty table with the given columns (numbers right-aligned; a header may hold a line break).

    No vertical rules, so that more width goes to the cells. Only the ``wrap`` columns (free text) give
    up width when the terminal is narrow, wrapping at spaces; ids, numbers and statuses keep their width,
    because a cut-off or folded id or status would be a wrong answer, not a shorter one. Without
    ``wrap`` every column may wrap (folding, never an ellipsis).
    """
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    table.pad_edge, table.collapse_padding = False, True
    flexible = list(wrap) if wrap is not None else [True] * len(columns)
    for name, is_num, can_wrap in zip(columns, numeric, flexible, strict=True):
        table.add_column(name, justify="right" if is_num else "left", overflow="fold", no_wrap=not can_wrap)
    return table


#: a cell without spaces longer than this (a URL, a path) may fold; shorter ones (ids, numbers,
#: statuses) keep their width
LONG_TOKEN = 20


def wraps(cells: Sequence[str]) -> bool:
    """Whether a column of these cells may wrap: free text (some cell has a space) or long tokens."""
    return any(" " in cell or len(cell) > LONG_TOKEN for cell in cells)
