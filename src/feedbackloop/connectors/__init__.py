"""Connectors: each talks to one CRM (or reads files) and translates to and from the domain model."""

from __future__ import annotations
