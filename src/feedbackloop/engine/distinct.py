"""Converting a column that repeats few distinct values over many rows (segments, competitors, covariate
levels): each distinct value is converted once, and rows keep integer codes into the results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["per_distinct"]


def per_distinct(
    values: pd.Series, convert: Callable[[Any], str], missing: str
) -> tuple[np.ndarray[Any, np.dtype[np.intp]], np.ndarray[Any, np.dtype[np.object_]]]:
    """(codes, labels): ``labels[codes]`` is ``convert`` of each row's value, ``missing`` where it is
    missing (its code, -1, takes the last label). Labels follow the values' order of first appearance."""
    codes, uniques = pd.factorize(values)
    return codes, np.asarray([convert(u) for u in uniques] + [missing], dtype=object)
