"""feedbackloop: learn which sales email templates win deals, and tell the CRM."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
