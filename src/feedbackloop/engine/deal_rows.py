"""Fast joins of messages onto closed deals: integer row positions instead of merges on string ids.

Merging a million messages onto deals by their string ``deal_id`` and then sorting by it costs seconds
(string hashing and comparison, twice). The row of each message's deal in the closed-deal frame is
found with one hash lookup (``Index.get_indexer``); grouping and ordering then work on those integers.
Only for unique deal ids (the store's key); callers keep their merge for anything else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from feedbackloop.engine.exposure import naive_utc

__all__ = ["deal_rows", "time_key"]


def deal_rows(message_deal_ids: pd.Series, deal_ids: pd.Series) -> np.ndarray[Any, np.dtype[np.intp]] | None:
    """Row in ``deal_ids`` of each message's deal (-1 when it is not there); None when ids repeat."""
    index = pd.Index(deal_ids)
    if not index.is_unique:
        return None
    return np.asarray(index.get_indexer(message_deal_ids))


def time_key(values: pd.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Timestamps as sortable integers with missing ones last (as ``sort_values`` puts NaT)."""
    times = naive_utc(values)
    key = times.view(np.int64).copy()
    key[np.isnat(times)] = np.iinfo(np.int64).max
    return key
