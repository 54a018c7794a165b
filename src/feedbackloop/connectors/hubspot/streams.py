"""The deal stream: closed deals changed since the cursor, with their emails, in resumable batches.

Cursor (``bookmarks["deals"]``): ``cursor_ms`` — every closed deal modified before it is stored — and
``recent`` — ``{deal id: modified ms}`` of the deals processed at or after ``cursor_ms - lookback``.
Each search asks for ``hs_lastmodifieddate GTE`` the last value seen (keyset paging: a new window per
page, so the 10,000-result cap of one query is never reached), ties at that value are deduplicated by
id through ``recent``; only when a whole page is already-seen ties does it page on by offset. The first
window of a run starts ``lookback`` earlier, for deals HubSpot's search index showed late; a look-back
page with nothing new ends the look-back (so a burst of modifications costs one extra page, not one
per 200 deals in the window).

Our own write-backs bump ``hs_lastmodifieddate``. Choice recorded here: a deal is not fetched again
when its modification time is exactly the one our write-back got back for it (``self_writes``) **and**
its own properties map to the deal already stored. Anything else changed → fetched and stored again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from feedbackloop.connectors.base import SkippedRecord, SyncBatch, SyncState
from feedbackloop.connectors.hubspot.emails import EMAIL_PROPERTIES, EmailRecord, messages_for_deal
from feedbackloop.connectors.hubspot.fetch import SEARCH_CAP, SEARCH_PAGE, Fetcher
from feedbackloop.connectors.hubspot.mapping import (
    DEAL_PROPERTIES,
    SegmentRules,
    StageInfo,
    deal_from,
    entered_property,
    outcome_of,
    stages_from_pipelines,
    step_positions,
    to_ms,
)
from feedbackloop.domain import Deal, Message, Outcome, Template
from feedbackloop.errors import ConnectorError, PermissionDenied, RemoteError

__all__ = ["COMPANY_PROPERTIES", "DealStream", "StreamOptions", "same_deal"]

STREAM = "deals"
#: Most deals remembered in the look-back window; a forgotten one is at worst fetched again.
MAX_RECENT = 1000
COMPANY_PROPERTIES = ["name", "industry", "numberofemployees"]
_COMPARED = ("outcome", "amount", "currency", "created_at", "closed_at", "loss_reason", "competitor",
             "stage_lost", "owner_id")  # fmt: skip


@dataclass(frozen=True)
class StreamOptions:
    """How the stream pages and maps: deals per stored batch, look-back, segment rules."""

    batch_deals: int = 1000
    lookback_ms: int = 30_000
    #: Characters the search body's property list may take (HubSpot rejects bodies over 3,000).
    search_property_chars: int = 2_000
    rules: SegmentRules = field(default_factory=SegmentRules)


def same_deal(new: Deal, stored: Mapping[str, Any] | None, ignore: frozenset[str] = frozenset()) -> bool:
    """Whether ``new`` carries the same deal-level values as the stored row (``crm_updated_at`` aside)."""
    if stored is None:
        return False
    for name in _COMPARED:
        if name in ignore:
            continue
        mine, theirs = getattr(new, name), stored.get(name)
        if isinstance(mine, Outcome):
            mine = mine.value
        if theirs is not None and pd.isna(theirs):  # NaN / NaT from the frame
            theirs = None
        if isinstance(theirs, pd.Timestamp):
            theirs = theirs.to_pydatetime()
        if mine != theirs:
            return False
    return True


class DealStream:
    """One sync run over the deals of a portal (caches live for the run; state is in the batches)."""

    def __init__(
        self,
        fetcher: Fetcher,
        options: StreamOptions,
        available_email_properties: set[str],
        *,
        stored_deals: Callable[[], dict[str, dict[str, Any]]],
        known_templates: Callable[[], set[str]],
        self_writes: Mapping[str, int],
    ) -> None:
        self.fetch = fetcher
        self.options = options
        self.available = available_email_properties
        self._stored_deals = stored_deals
        self._stored: dict[str, dict[str, Any]] | None = None
        self._known_templates = known_templates
        self._known: set[str] | None = None
        self.self_writes = self_writes
        self.stages: dict[str, StageInfo] = {}
        self._companies: dict[str, dict[str, Any]] = {}
        self._owners: dict[str, str] | None = None
        self._sequences: dict[str, dict[str, list[int]]] = {}
        self._template_info: dict[str, dict[str, Any]] | None = None
        #: What this run could not read for lack of a scope (degraded, not failed): area → why.
        self.denied: dict[str, str] = {}
        self.history: list[str] = []  # stage-history properties read per lost deal (many stages)
        self._reported: set[str] = set()

    # -- run ------------------------------------------------------------------------------------
    def run(self, state: SyncState) -> Iterator[SyncBatch]:
        bookmark = state.get(STREAM)
        committed: int | None = bookmark.get("cursor_ms")
        recent: dict[str, int] = {str(k): int(v) for k, v in dict(bookmark.get("recent") or {}).items()}
        self._sequences = {str(k): dict(v) for k, v in dict(bookmark.get("sequences") or {}).items()}
        self.stages = stages_from_pipelines(self.fetch.pipelines())
        # Stage history (for "stage lost") rides along in the search unless the body would pass the
        # search API's 3,000-character limit (pipelines with many stages): then lost deals are read.
        self.history = [
            entered_property(s) for s, i in sorted(self.stages.items()) if i.outcome is Outcome.OPEN
        ]
        properties = [*DEAL_PROPERTIES, *self.history]
        if len(json.dumps(properties)) > self.options.search_property_chars:
            properties = list(DEAL_PROPERTIES)
        else:
            self.history = []
        seen = dict(recent)  # committed and pending: what this run must not fetch twice
        pending: list[tuple[str, dict[str, Any], int | None]] = []
        resume_at = committed
        since = None if committed is None else committed - self.options.lookback_ms
        offset = 0
        while True:
            if offset + SEARCH_PAGE > SEARCH_CAP:
                raise ConnectorError(
                    f"more than {SEARCH_CAP} HubSpot deals share one modification time; cannot page past them"
                )
            page = self.fetch.search_deals(since, offset, properties)
            fresh = 0
            for deal_id, props in page.records:
                ms = to_ms(props.get("hs_lastmodifieddate"))
                if ms is not None and seen.get(deal_id) == ms:
                    continue
                fresh += 1
                pending.append((deal_id, props, ms))
                if ms is not None:
                    seen[deal_id] = ms
                    since = ms if since is None else max(since, ms)
            done = not page.has_more
            if fresh:
                offset = 0
            elif resume_at is not None and since is not None and since < resume_at:
                since, offset = resume_at, 0  # a look-back page with nothing new: skip the rest of it
            else:
                offset += SEARCH_PAGE  # a whole page of already-seen ties at `since`
            # Batches hold exactly `batch_deals` deals (one association call each); results come in
            # ascending modification order, so the cursor after a batch is its last deal's time.
            while len(pending) >= self.options.batch_deals or (done and pending):
                chunk, pending = pending[: self.options.batch_deals], pending[self.options.batch_deals :]
                for deal_id, _, ms in chunk:
                    if ms is not None:
                        recent[deal_id] = ms
                        committed = ms if committed is None else max(committed, ms)
                yield self._batch([(d, p) for d, p, _ in chunk], state, committed, recent)
            if done:
                return

    def _state(self, state: SyncState, cursor: int | None, recent: dict[str, int]) -> SyncState:
        """The state after a batch: the cursor and the deals seen within the look-back before it."""
        floor = (cursor or 0) - self.options.lookback_ms
        kept = {k: v for k, v in recent.items() if v >= floor}
        if len(kept) > MAX_RECENT:  # a burst (e.g. our own write-back): keep the newest and every tie
            newest = sorted(kept.items(), key=lambda kv: kv[1], reverse=True)[:MAX_RECENT]
            kept = {**dict(newest), **{k: v for k, v in kept.items() if v == cursor}}
        recent.clear()
        recent.update(kept)
        return state.with_bookmark(STREAM, cursor_ms=cursor, recent=dict(kept), sequences=self._sequences)

    # -- one batch ------------------------------------------------------------------------------
    def _batch(
        self,
        records: list[tuple[str, dict[str, Any]]],
        state: SyncState,
        cursor: int | None,
        recent: dict[str, int],
    ) -> SyncBatch:
        skipped: list[SkippedRecord] = []
        wanted: list[tuple[str, dict[str, Any]]] = []
        for deal_id, props in records:
            if self._unchanged_self_write(deal_id, props):
                continue
            wanted.append((deal_id, props))
        ids = [d for d, _ in wanted]
        emails_of = self.fetch.associations("deals", "emails", ids) if ids else {}
        contacts_of = self.fetch.associations("deals", "contacts", ids) if ids else {}
        companies_of = self.fetch.associations("deals", "companies", ids) if ids else {}
        self._load_companies({c for cs in companies_of.values() for c in cs[:1]})
        email_props = [*EMAIL_PROPERTIES, *sorted(self.available)]
        emails = self.fetch.batch_read("emails", [e for es in emails_of.values() for e in es], email_props)
        records_of = {
            d: [EmailRecord(e, emails[e]) for e in emails_of.get(d, []) if e in emails] for d in ids
        }
        self._load_sequences(records_of)
        if self.history:
            lost = [d for d, p in wanted if outcome_of(p, self.stages) is Outcome.LOST]
            history = self.fetch.batch_read("deals", lost, self.history) if lost else {}
            wanted = [(d, {**p, **history.get(d, {})}) for d, p in wanted]
        deals: list[Deal] = []
        messages: list[Message] = []
        used: set[str] = set()
        for deal_id, props in wanted:
            company_ids = companies_of.get(deal_id) or []
            company = self._companies.get(company_ids[0]) if company_ids else None
            sequences = Counter(
                str(r.props["hs_sequence_id"]) for r in records_of[deal_id] if r.props.get("hs_sequence_id")
            )
            sequence = sequences.most_common(1)[0][0] if sequences else None
            mapped = deal_from(
                deal_id, props, self.stages, company=company, rules=self.options.rules, sequence_id=sequence
            )
            if isinstance(mapped, SkippedRecord):
                if mapped.reason != "deal is not closed won or lost":
                    skipped.append(mapped)
                continue
            contacts = sorted(contacts_of.get(deal_id) or [])
            found, bad = messages_for_deal(
                deal_id,
                contacts[0] if contacts else None,
                records_of[deal_id],
                self._sequences.get,
                self.available,
            )
            deals.append(mapped)
            messages.extend(found)
            skipped.extend(bad)
            used.update(m.template_id for m in found if m.template_id)
        for area, why in sorted(self.denied.items()):
            if area not in self._reported:
                self._reported.add(area)
                skipped.append(SkippedRecord("scope", area, f"not readable, degraded: {why}"))
        return SyncBatch(
            deals=deals,
            messages=messages,
            templates=self._templates(used),
            state=self._state(state, cursor, recent),
            skipped=skipped,
        )

    def _unchanged_self_write(self, deal_id: str, props: dict[str, Any]) -> bool:
        ms = to_ms(props.get("hs_lastmodifieddate"))
        if ms is None or self.self_writes.get(deal_id) != ms:
            return False
        if self._stored is None:
            self._stored = self._stored_deals()
        stored = self._stored.get(deal_id)
        mapped = deal_from(
            deal_id, props, self.stages, company=None, rules=self.options.rules, sequence_id=None
        )
        ignore = frozenset({"stage_lost"}) if self.history else frozenset()  # history not in the search
        return isinstance(mapped, Deal) and same_deal(mapped, stored, ignore)

    def _load_companies(self, ids: set[str]) -> None:
        missing = sorted(ids - self._companies.keys())
        if missing and "companies" not in self.denied:
            try:
                self._companies.update(self.fetch.batch_read("companies", missing, COMPANY_PROPERTIES))
            except PermissionDenied as exc:  # no companies scope: segments from amounts, no industry
                self.denied["companies"] = str(exc)

    def _load_sequences(self, records_of: dict[str, list[EmailRecord]]) -> None:
        users: dict[str, str | None] = {}
        for records in records_of.values():
            for r in records:
                sequence = str(r.props.get("hs_sequence_id") or "")
                if sequence and sequence not in self._sequences and sequence not in users:
                    users[sequence] = str(r.props.get("hubspot_owner_id") or "") or None
        if not users or "sequences" in self.denied:
            return
        if self._owners is None:
            try:
                self._owners = self.fetch.owners()
            except PermissionDenied as exc:
                self.denied["sequences"] = f"owners (sequence user ids): {exc}"
                return
        fallback = next(iter(self._owners.values()), "0")
        for sequence, owner in sorted(users.items()):
            user = self._owners.get(owner or "", fallback)
            try:
                self._sequences[sequence] = step_positions(self.fetch.sequence(sequence, user))
            except PermissionDenied as exc:  # no sequences scope or seat: positions stay unknown
                self.denied["sequences"] = str(exc)
                return
            except RemoteError as exc:
                if exc.status == 404:  # a deleted sequence: remembered as having no steps
                    self._sequences[sequence] = {}

    def _templates(self, used: set[str]) -> list[Template]:
        if not used:
            return []
        if self._known is None:
            self._known = self._known_templates()
        new = used - self._known
        if new and self._template_info is None:
            try:
                self._template_info = self.fetch.templates()
            except ConnectorError:
                self._template_info = {}
        info = self._template_info or {}
        self._known |= new
        return [
            Template(t, name=info.get(t, {}).get("name"), subject=info.get(t, {}).get("subject"))
            for t in sorted(new)
        ]
