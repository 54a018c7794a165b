"""The public CSV import format: which files, which columns, which are required, and their types.

This is a contract with users (the README's "Importing CSV files" documents it); change it only
additively. Maximum lengths are the store's column sizes, so PostgreSQL never truncates or refuses a
value that SQLite would have accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from feedbackloop.domain import CLOSED_OUTCOMES, Outcome

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "CLOSED",
    "DEALS",
    "MESSAGES",
    "OUTCOMES",
    "TEMPLATES",
    "Column",
    "FileSpec",
]

Kind = Literal["id", "text", "outcome", "amount", "timestamp", "boolean", "position", "sentiment"]

OUTCOMES = tuple(o.value for o in Outcome)
CLOSED = tuple(sorted(o.value for o in CLOSED_OUTCOMES))
BOOLEAN_TRUE = ("1", "true")
BOOLEAN_FALSE = ("0", "false")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an import file."""

    name: str
    kind: Kind
    required: bool = False
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One import file: its role, its id column and its columns in documented order."""

    role: Literal["deals", "messages", "templates"]
    key: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


DEALS = FileSpec(
    "deals",
    "deal_id",
    (
        Column("deal_id", "id", required=True, max_length=64),
        Column("outcome", "outcome", required=True),
        Column("amount", "amount"),
        Column("currency", "text", max_length=8),
        Column("created_at", "timestamp"),
        Column("closed_at", "timestamp"),  # required when the outcome is closed (won, lost, disqualified)
        Column("segment", "text", max_length=64),
        Column("industry", "text", max_length=128),
        Column("loss_reason", "text", max_length=255),
        Column("competitor", "text", max_length=128),
        Column("stage_lost", "text", max_length=128),
        Column("sequence_id", "id", max_length=64),
        Column("owner_id", "id", max_length=64),
    ),
)

MESSAGES = FileSpec(
    "messages",
    "message_id",
    (
        Column("message_id", "id", required=True, max_length=64),
        Column("deal_id", "id", required=True, max_length=64),
        Column("template_id", "id", max_length=64),
        Column("sequence_id", "id", max_length=64),
        Column("position", "position"),
        Column("channel", "text", max_length=20),
        Column("sent_at", "timestamp", required=True),
        Column("opened", "boolean"),
        Column("clicked", "boolean"),
        Column("replied", "boolean"),
        Column("response_sentiment", "sentiment"),
    ),
)

TEMPLATES = FileSpec(
    "templates",
    "template_id",
    (
        Column("template_id", "id", required=True, max_length=64),
        Column("name", "text", max_length=255),
        Column("subject", "text"),
        Column("body", "text"),
    ),
)
