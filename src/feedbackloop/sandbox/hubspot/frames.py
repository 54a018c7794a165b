"""Reading the world's frames fast: timestamps as ms and HubSpot ISO strings in one vectorised pass,
rows as plain tuples, values as the strings HubSpot stores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from feedbackloop.sandbox.hubspot.wire import iso_from_ms

__all__ = ["DAY_MS", "FrameReader", "flag", "number", "text"]

DAY_MS = 86_400_000


class FrameReader:
    """One build's reader; remembers the ISO string of every timestamp it converted."""

    def __init__(self) -> None:
        self._iso: dict[int, str] = {}

    def ms(self, series: pd.Series) -> list[int | None]:
        """Milliseconds since the epoch for a datetime column (None for NaT)."""
        if len(series) == 0:
            return []
        values = pd.to_datetime(series, utc=True).dt.tz_convert(None).to_numpy(dtype="datetime64[ms]")
        missing = np.isnat(values)
        texts = np.char.add(np.datetime_as_string(values, unit="ms"), "Z")
        out: list[int | None] = []
        for millis, iso, gap in zip(
            values.astype("int64").tolist(), texts.tolist(), missing.tolist(), strict=True
        ):
            if gap:
                out.append(None)
            else:
                out.append(millis)
                self._iso[millis] = iso
        return out

    def iso(self, value: int | None) -> str | None:
        if value is None:
            return None
        found = self._iso.get(value)
        return found if found is not None else iso_from_ms(value)

    @staticmethod
    def rows(frame: pd.DataFrame) -> Any:
        """``itertuples`` without the datetime columns (read them with :meth:`ms`), as plain objects:
        iterating tz-aware and extension columns element by element is what makes itertuples slow."""
        dated = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
        return frame.drop(columns=dated).astype(object).itertuples(index=False)


def text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def number(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    figure = float(value)
    return str(int(figure)) if figure.is_integer() else f"{figure:.2f}".rstrip("0")


def flag(value: bool) -> str:
    return "true" if value else "false"
