"""Emulated HubSpot and Salesforce APIs on loopback, seeded from a synthetic sales world with known truth."""

from __future__ import annotations
