"""The pandas options the product runs with, set once by the packages that build frames.

``str`` columns use Python storage even though pyarrow is installed (for the columnar store reader):
pandas 3 would otherwise switch every string column to Arrow storage, whose row selection (``take``)
and conversions cost more in the engine's joins than they save, and the frames would depend on
whether pyarrow happens to be importable. Python storage is what the engine and its tests were
written and measured against.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["apply"]


def apply() -> None:
    """Set the options (idempotent)."""
    pd.set_option("mode.string_storage", "python")


apply()
