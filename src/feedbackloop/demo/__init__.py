"""`make demo`: feedbackloop end to end on a simulated sales world, with nothing to set up."""

from __future__ import annotations
