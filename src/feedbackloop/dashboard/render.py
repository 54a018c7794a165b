"""One call from a tenant to its dashboard page: used by `feedbackloop report --html` and the blueprint."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from feedbackloop.analysis import compute_analysis
from feedbackloop.dashboard.data import build_dashboard
from feedbackloop.dashboard.page import render_dashboard
from feedbackloop.errors import InputError
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.runs import latest_run_result

__all__ = ["dashboard_html", "write_dashboard"]


def dashboard_html(
    store: Store, tenant: TenantRef, as_of: datetime, *, seed: int = 0, prefer_recorded: bool = False
) -> str:
    """The tenant's dashboard; with ``prefer_recorded`` the latest recorded run is shown when there is one."""
    analysis = latest_run_result(store, tenant) if prefer_recorded else None
    if analysis is None:
        analysis = compute_analysis(store, tenant, as_of, seed).to_dict()
    return render_dashboard(build_dashboard(store, tenant, analysis))


def write_dashboard(path: Path, html: str) -> None:
    """Write the page (one self-contained file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
