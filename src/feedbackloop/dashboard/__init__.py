"""The dashboard: what people see, as one self-contained HTML page (export) or at ``/`` (blueprint)."""

from __future__ import annotations

from feedbackloop.dashboard.data import build_dashboard
from feedbackloop.dashboard.page import CHARTS, render_dashboard
from feedbackloop.dashboard.render import dashboard_html, write_dashboard
from feedbackloop.dashboard.views import blueprint

__all__ = ["CHARTS", "blueprint", "build_dashboard", "dashboard_html", "render_dashboard", "write_dashboard"]
