"""The analyze JSON contract (schema_version 1) as dataclasses, and the helpers that keep it valid JSON.

Every number that cannot be computed is ``null`` (never NaN or infinity), every time is ISO-8601 UTC,
and every section carries a ``data_status`` code when there is too little data for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "INSUFFICIENT_DATA",
    "NO_DATA",
    "OK",
    "SCHEMA_VERSION",
    "AnalysisResult",
    "PreviousState",
    "TemplateState",
    "clean",
    "records",
]

SCHEMA_VERSION = 1

#: data_status codes shared by every section.
OK = "ok"
NO_DATA = "no_data"
INSUFFICIENT_DATA = "insufficient_data"


def clean(value: Any) -> Any:
    """Plain JSON values: numpy/pandas scalars unwrapped, NaN/NA/inf to None, times to ISO strings."""
    if value is None or isinstance(value, bool | str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [clean(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as a list of JSON-clean dicts (the index is dropped; reset it first to keep it)."""
    if frame.empty:
        return []
    return [{str(k): clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


@dataclass(frozen=True, slots=True)
class TemplateState:
    """What the engine remembers about a template between runs (for hysteresis)."""

    status: str
    since: datetime | None = None
    runs_in_status: int = 0


@dataclass(frozen=True, slots=True)
class PreviousState:
    """The previous run's bookkeeping: template statuses and the alert keys already emitted.

    ``alert_keys`` maps an alert key to the period (e.g. ``2026-W48``) in which it was emitted.
    """

    as_of: datetime | None = None
    templates: Mapping[str, TemplateState] = field(default_factory=dict)
    alert_keys: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Mapping[str, Any] | None) -> PreviousState | None:
        """Rebuild the state from a stored analyze JSON; ``None`` when absent or unreadable (a damaged
        or foreign result must not block the next run: it then starts without history)."""
        if not result or not isinstance(result.get("state"), Mapping):
            return None
        try:
            return cls._parse(result)
        except (AttributeError, TypeError, ValueError):
            return None

    @classmethod
    def _parse(cls, result: Mapping[str, Any]) -> PreviousState:
        state = result["state"]
        templates: dict[str, TemplateState] = {}
        for tid, t in (state.get("templates") or {}).items():
            since = t.get("since")
            templates[str(tid)] = TemplateState(
                status=str(t.get("status") or "active"),
                since=datetime.fromisoformat(since) if since else None,
                runs_in_status=int(t.get("runs_in_status") or 0),
            )
        as_of = result.get("as_of")
        return cls(
            as_of=datetime.fromisoformat(as_of) if isinstance(as_of, str) else None,
            templates=templates,
            alert_keys={str(k): str(v) for k, v in (state.get("alert_keys") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """One engine run: every section of the public analyze JSON (see the README)."""

    as_of: datetime
    data_status: str
    overall: Mapping[str, Any]
    templates: list[dict[str, Any]]
    declining: list[dict[str, Any]]
    segments: Mapping[str, Any]
    win_loss: Mapping[str, Any]
    alerts: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    report: Mapping[str, Any]
    settings: Mapping[str, Any]
    state: Mapping[str, Any]
    warnings: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The analyze JSON as plain Python values (strictly JSON-serialisable)."""
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "as_of": self.as_of.isoformat(),
            "data_status": self.data_status,
            "overall": self.overall,
            "templates": self.templates,
            "declining": self.declining,
            "segments": self.segments,
            "win_loss": self.win_loss,
            "alerts": self.alerts,
            "recommendations": self.recommendations,
            "report": self.report,
            "settings": self.settings,
            "warnings": self.warnings,
            "state": self.state,
        }
        cleaned: dict[str, Any] = clean(data)
        return cleaned

    def to_json(self, indent: int | None = 2) -> str:
        """The analyze JSON text; ``allow_nan=False`` guarantees strictly valid JSON."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)
