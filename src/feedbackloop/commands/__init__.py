"""CLI command groups; each module registers its commands on the root app in :mod:`feedbackloop.cli`."""

from __future__ import annotations
