"""Configuration: process settings (env ``FEEDBACKLOOP_*`` and ``feedbackloop.toml``)."""

from __future__ import annotations

from feedbackloop.config.settings import Settings, load_settings, masked

__all__ = ["Settings", "load_settings", "masked"]
