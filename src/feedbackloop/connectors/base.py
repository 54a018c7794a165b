"""The connector contract: what every CRM connector offers, and the values it exchanges.

A connector owns paging, rate limits, retries, OAuth tokens and the CRM's field names; nothing outside
`connectors/` knows a CRM field name. Sync state is one JSON dict, Singer-style
(``{"bookmarks": {stream: {...}}}``), changed only through the pure helpers here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from feedbackloop.domain import Deal, Message, Template

__all__ = [
    "CheckReport",
    "Connector",
    "DealWriteBack",
    "InstallReport",
    "OpenDeal",
    "SkippedRecord",
    "SupportsOpenDeals",
    "SyncBatch",
    "SyncState",
    "TemplateScoreRecord",
    "WriteBackPlan",
    "WriteBackReport",
]


@dataclass(frozen=True)
class SyncState:
    """Cursors per stream. Immutable: every change returns a new state."""

    bookmarks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def get(self, stream: str) -> dict[str, Any]:
        return dict(self.bookmarks.get(stream, {}))

    def with_bookmark(self, stream: str, **values: Any) -> SyncState:
        """A new state whose bookmark for ``stream`` is updated with ``values``."""
        merged = {**self.get(stream), **values}
        return SyncState({**self.bookmarks, stream: merged})

    def to_json(self) -> dict[str, Any]:
        return {"bookmarks": {k: dict(v) for k, v in self.bookmarks.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SyncState:
        if not data:
            return cls()
        return cls({str(k): dict(v) for k, v in dict(data.get("bookmarks", {})).items()})


@dataclass(frozen=True)
class SkippedRecord:
    """A CRM record we could not use, and why (the rest of the sync goes on)."""

    kind: str
    record_id: str
    reason: str


@dataclass(frozen=True)
class SyncBatch:
    """Records to store together with the state after them, in one transaction."""

    deals: list[Deal] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    state: SyncState = field(default_factory=SyncState)
    skipped: list[SkippedRecord] = field(default_factory=list)


@dataclass(frozen=True)
class CheckReport:
    """Whether the connection works and what it can see; ``missing`` says what degrades and its cost."""

    ok: bool
    account: str | None = None
    scopes: list[str] = field(default_factory=list)
    available: dict[str, bool] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    quota: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InstallReport:
    """What install created, found already there, or skipped (and why)."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateScoreRecord:
    """A template's score as written to the CRM (custom object / record per template)."""

    template_id: str
    name: str | None
    score: float | None
    score_se: float | None
    win_rate: float | None
    ci_low: float | None
    ci_high: float | None
    status: str
    deals: int


@dataclass(frozen=True)
class DealWriteBack:
    """The deal-level values written back: what the deal received, and what to send next (open deals)."""

    deal_id: str
    template_scores: str
    deprecated_templates_used: str
    recommended_next_template: str | None = None
    recommended_score: float | None = None


@dataclass(frozen=True)
class WriteBackPlan:
    """Everything one write-back run wants the CRM to show (before filtering out unchanged values)."""

    scored_at: datetime
    templates: list[TemplateScoreRecord] = field(default_factory=list)
    deals: list[DealWriteBack] = field(default_factory=list)


@dataclass(frozen=True)
class WriteBackReport:
    """``{"updated": N, "unchanged": N, "failed": N, "api_calls": N}`` plus per-record failures.

    A connector fills ``updated``, ``failed``, ``api_calls`` and ``failures``; the write-back runner
    adds ``unchanged`` (records it did not send because nothing changed since the last write)."""

    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    api_calls: int = 0
    failures: list[SkippedRecord] = field(default_factory=list)


@dataclass(frozen=True)
class OpenDeal:
    """An open deal as write-back needs it: where it stands, to recommend the next template."""

    deal_id: str
    segment: str | None
    next_position: int | None
    templates_received: tuple[str, ...] = ()


@runtime_checkable
class SupportsOpenDeals(Protocol):
    """A connector that can list open deals, so that write-back can recommend their next template."""

    def open_deals(self) -> Iterator[OpenDeal]:
        """Open deals with their segment and the next sequence step they will reach."""
        ...


@runtime_checkable
class Connector(Protocol):
    """One CRM account, seen through its API."""

    provider: str

    def check(self) -> CheckReport:
        """Auth works, scopes/permissions, which optional fields exist, quota left."""
        ...

    def install(self) -> InstallReport:
        """Create the properties / fields / objects write-back needs; idempotent."""
        ...

    def sync(self, state: SyncState, *, full: bool = False) -> Iterator[SyncBatch]:
        """Closed deals and their emails changed since ``state``, in batches with the state after each."""
        ...

    def write_back(self, plan: WriteBackPlan) -> WriteBackReport:
        """Write every value in ``plan`` (the caller has already dropped unchanged ones), retrying
        per-record failures; those still failing are reported as ``SkippedRecord(kind="deal"|"template",
        record_id, reason)`` so that the caller marks only the rest as written."""
        ...

    @property
    def api_calls(self) -> int:
        """API calls made by this connector instance so far."""
        ...
