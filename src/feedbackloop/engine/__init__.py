"""The analysis engine: pure functions from deal and message frames to template statistics and decisions.

No I/O, no clock (an explicit ``as_of``), no global randomness. Core statistics live in ``exposure``,
``attribution``, ``stats``, ``effects`` and ``trends``; insights build on them.
"""

from __future__ import annotations

from feedbackloop.engine.settings import DataStatus, EngineSettings

__all__ = ["DataStatus", "EngineSettings"]
