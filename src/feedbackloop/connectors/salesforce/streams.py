"""The Salesforce sync: closed opportunities by ``(SystemModstamp, Id)`` with a look-back, and the emails
behind them, yielded in batches whose state is safe to resume from.

State (``SyncState`` bookmarks):

- ``schema``: which optional fields the org has (from describe; refreshed on a full sync);
- ``opportunities``: ``modstamp``/``id`` of the newest processed record, and ``recent``, the ids (with
  their modstamp) processed inside the look-back window, so that re-reading the window costs one query
  and re-processes nothing (commit order is not timestamp order, hence the look-back);
- ``templates``: the ``SystemModstamp`` of the newest template read.

Emails are fetched only for opportunities that are new to the store or whose outcome changed: our own
write-backs (and any other edit) bump ``SystemModstamp`` but must not make the next sync re-read every
email. A batch is one chunk of opportunities with their emails, sized (from the emails per deal seen so
far) so that the email query fits one page of 2,000 records; chunks may span opportunity pages, and a
crash loses at most one chunk of work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from feedbackloop.connectors.base import OpenDeal, SkippedRecord, SyncBatch, SyncState
from feedbackloop.connectors.salesforce.client import SalesforceClient
from feedbackloop.connectors.salesforce.contactroles import emails_via_contact_roles
from feedbackloop.connectors.salesforce.emails import CadenceStep, EmailContext, cadence_positions, map_emails
from feedbackloop.connectors.salesforce.mapping import (
    StageInfo,
    classify_stages,
    map_opportunity,
    map_template,
    parse_time,
    segment_for,
)
from feedbackloop.connectors.salesforce.soql import (
    MAX_IDS_PER_QUERY,
    email_query,
    open_opportunity_query,
    opportunity_query,
    stage_query,
    step_query,
    template_query,
)
from feedbackloop.domain import Deal, Message, Template

__all__ = ["SalesforceSync", "SyncOptions", "describe_schema"]

StoredOutcomes = Callable[[list[str]], dict[str, str]]


@dataclass(frozen=True)
class SyncOptions:
    """Tunables of one sync (defaults follow Salesforce's limits)."""

    loss_reason_field: str | None = None
    lookback: timedelta = timedelta(minutes=10)
    page_size: int = 2000
    email_rows_target: int = 1800  # aim under one page (2,000) so that chunks rarely spill into a second
    max_ids: int = MAX_IDS_PER_QUERY
    first_guess_rows_per_deal: float = 4.0  # outbound + replies per deal; learnt from the first chunk


def describe_schema(client: SalesforceClient, loss_reason_field: str | None) -> dict[str, Any]:
    """Which optional objects and fields exist (three describe calls), as the ``schema`` bookmark."""
    objects = {
        o["name"] for o in (client.restful("sobjects", "the global describe") or {}).get("sobjects", [])
    }
    email = {f["name"] for f in client.describe("EmailMessage").get("fields", [])}
    opportunity = {f["name"] for f in client.describe("Opportunity").get("fields", [])}
    return {
        "has_relation": "EmailMessageRelation" in objects,
        "api_version": client.api_version,
        "has_reply": "HasReply" in email,
        "has_click": "FirstLinkClickedDate" in email,
        "has_tracker": "ActionCadenceStepTrackerId" in email,
        "loss_reason_field": loss_reason_field if loss_reason_field in opportunity else None,
        "loss_reason_configured": loss_reason_field,
    }


@dataclass
class _Run:
    """What one run has learned lazily (each costs calls, so only when needed)."""

    stages: dict[str, StageInfo] | None = None
    steps: dict[str, CadenceStep] | None = None
    templates_done: bool = False
    full: bool = False  # a full sync re-reads every email, whatever the store holds
    rows_seen: int = 0
    deals_seen: int = 0
    mapped: dict[str, Deal | str] = field(default_factory=dict)  # read, not yet emitted
    need: set[str] = field(default_factory=set)  # ids whose emails are still to be fetched


class SalesforceSync:
    """One sync over a client; iterate :meth:`batches`."""

    def __init__(
        self, client: SalesforceClient, options: SyncOptions, stored_outcomes: StoredOutcomes | None = None
    ) -> None:
        self.client = client
        self.options = options
        self.stored_outcomes = stored_outcomes

    def batches(self, state: SyncState, *, full: bool = False) -> Iterator[SyncBatch]:
        if full:
            state = SyncState()
        schema = state.get("schema")
        problems: list[SkippedRecord] = []
        if (
            full
            or schema.get("api_version") != self.client.api_version
            or (schema.get("loss_reason_configured") != self.options.loss_reason_field)
        ):
            schema = describe_schema(self.client, self.options.loss_reason_field)
            state = SyncState({**state.bookmarks, "schema": schema})
            if self.options.loss_reason_field and not schema["loss_reason_field"]:
                problems.append(
                    SkippedRecord(
                        "field",
                        self.options.loss_reason_field,
                        "configured loss-reason field is not on Opportunity",
                    )
                )
        cursor = state.get("opportunities")
        since = parse_time(cursor.get("modstamp"))
        recent: dict[str, str] = dict(cursor.get("recent") or {})
        run = _Run(full=full)
        query = opportunity_query(
            since - self.options.lookback if since else None,
            loss_reason_field=schema.get("loss_reason_field"),
        )
        pending: list[dict[str, Any]] = []  # read, not yet emitted: chunks may span opportunity pages
        for page in self.client.query_pages(
            query, "the opportunity query", batch_size=self.options.page_size
        ):
            fresh = [r for r in page if recent.get(str(r.get("Id"))) != r.get("SystemModstamp")]
            if fresh:
                self._classify(fresh, schema, run)
            pending += fresh
            chunks, pending = self._split(pending, run, final=False)
            for chunk in chunks:
                state, batch = self._emit(chunk, schema, state, run, problems)
                problems = []
                yield batch
        chunks, _ = self._split(pending, run, final=True)
        for chunk in chunks:
            state, batch = self._emit(chunk, schema, state, run, problems)
            problems = []
            yield batch
        if problems:
            yield SyncBatch(state=state, skipped=problems)

    def open_deals(self, schema: Mapping[str, Any]) -> Iterator[OpenDeal]:
        """Open opportunities with their segment, the templates they received and their next step."""
        run = _Run()
        for page in self.client.query_pages(open_opportunity_query(), "the open opportunity query"):
            for start in range(0, len(page), self.options.max_ids):
                chunk = page[start : start + self.options.max_ids]
                messages, _ = self._emails(chunk, schema, run)
                by_deal: dict[str, list[Message]] = {}
                for m in messages:
                    by_deal.setdefault(m.deal_id, []).append(m)
                for r in chunk:
                    sent = by_deal.get(str(r["Id"]), [])
                    positions = [m.position for m in sent if m.position]
                    account = r.get("Account") if isinstance(r.get("Account"), Mapping) else {}
                    yield OpenDeal(
                        deal_id=str(r["Id"]),
                        segment=segment_for((account or {}).get("NumberOfEmployees")),
                        next_position=max(positions) + 1 if positions else 1,
                        templates_received=tuple(dict.fromkeys(m.template_id for m in sent if m.template_id)),
                    )

    # -- opportunities to batches --------------------------------------------------------------------
    def _classify(self, records: list[dict[str, Any]], schema: Mapping[str, Any], run: _Run) -> None:
        """Map a page of opportunities, and note which need their emails (new to the store, or whose
        outcome changed; all on a full sync)."""
        if run.stages is None:
            run.stages = classify_stages(self.client.query(stage_query(), "the stage query"))
        deals: dict[str, Deal] = {}
        for r in records:
            mapped = map_opportunity(r, run.stages, schema.get("loss_reason_field"))
            run.mapped[str(r.get("Id"))] = mapped
            if isinstance(mapped, Deal):
                deals[mapped.deal_id] = mapped
        use_store = self.stored_outcomes is not None and deals and not run.full
        known = self.stored_outcomes(list(deals)) if use_store and self.stored_outcomes else {}
        run.need |= {d for d, deal in deals.items() if known.get(d) != str(deal.outcome)}

    def _split(
        self, records: list[dict[str, Any]], run: _Run, *, final: bool
    ) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
        """Full chunks (their emails fit one page by the running average, at most ``max_ids`` ids), and
        the rest, which waits for the next page unless ``final``."""
        chunks: list[list[dict[str, Any]]] = []
        current: list[dict[str, Any]] = []
        with_emails = 0
        for r in records:
            current.append(r)
            with_emails += str(r["Id"]) in run.need
            per_deal = (
                run.rows_seen / run.deals_seen if run.deals_seen else self.options.first_guess_rows_per_deal
            )
            limit = max(
                20, min(self.options.max_ids, int(self.options.email_rows_target / max(per_deal, 0.1)))
            )
            if with_emails >= limit or len(current) >= self.options.page_size:
                chunks.append(current)
                current, with_emails = [], 0
        if current and final:
            chunks.append(current)
            current = []
        return chunks, current

    def _emit(
        self,
        chunk: list[dict[str, Any]],
        schema: Mapping[str, Any],
        state: SyncState,
        run: _Run,
        problems: list[SkippedRecord],
    ) -> tuple[SyncState, SyncBatch]:
        """One batch: the chunk's deals, the emails of those that need them, and the state after it."""
        deals: list[Deal] = []
        skipped = list(problems)
        for r in chunk:
            mapped = run.mapped.pop(str(r["Id"]))
            if isinstance(mapped, Deal):
                deals.append(mapped)
            else:
                skipped.append(SkippedRecord("deal", str(r["Id"]), mapped))
        messages: list[Message] = []
        wanted = [r for r in chunk if str(r["Id"]) in run.need]
        if wanted:
            messages, email_skips = self._emails(wanted, schema, run)
            skipped.extend(email_skips)
            run.need -= {str(r["Id"]) for r in wanted}
        templates = self._templates(run, state) if messages or not run.templates_done else []
        state = self._advance(state, chunk, templates)
        return state, SyncBatch(
            deals=deals, messages=messages, templates=templates, state=state, skipped=skipped
        )

    def _emails(
        self, records: list[dict[str, Any]], schema: Mapping[str, Any], run: _Run
    ) -> tuple[list[Message], list[SkippedRecord]]:
        """The emails of these opportunities: related to them directly, and through their contact roles."""
        if schema.get("has_tracker") and run.steps is None:
            run.steps = cadence_positions(self.client.query(step_query(), "the cadence step query"))
        flags = {name: bool(schema.get(name)) for name in ("has_reply", "has_click", "has_tracker")}
        rows = self.client.query(email_query([str(r["Id"]) for r in records], **flags), "the email query")
        run.rows_seen += len(rows)
        run.deals_seen += len(records)
        if schema.get("has_relation"):
            rows += emails_via_contact_roles(self.client, records, flags)
        contacts = {str(r["Id"]): _contact_of(r) for r in records}
        context = EmailContext(
            run.steps or {}, bool(schema.get("has_reply")), bool(schema.get("has_click")), contacts
        )
        messages, skipped = map_emails(rows, context)
        return messages, [SkippedRecord("message", i, reason) for i, reason in skipped]

    def _templates(self, run: _Run, state: SyncState) -> list[Template]:
        """Templates changed since the bookmark, read once per run (with the first batch that needs them)."""
        if run.templates_done:
            return []
        run.templates_done = True
        since = parse_time(state.get("templates").get("modstamp"))
        return [map_template(r) for r in self.client.query(template_query(since), "the template query")]

    def _advance(self, state: SyncState, chunk: list[dict[str, Any]], templates: list[Template]) -> SyncState:
        """The state after ``chunk``: newest (modstamp, id), and the ids inside the look-back window."""
        cursor = state.get("opportunities")
        best = (parse_time(cursor.get("modstamp")), str(cursor.get("id") or ""))
        recent: dict[str, str] = dict(cursor.get("recent") or {})
        for r in chunk:
            key = (parse_time(r.get("SystemModstamp")), str(r["Id"]))
            recent[str(r["Id"])] = str(r.get("SystemModstamp"))
            if best[0] is None or (key[0] is not None and (key[0], key[1]) > (best[0], best[1])):
                best = key
        newest: datetime | None = best[0]
        if newest is not None:
            floor = newest - self.options.lookback
            recent = {i: s for i, s in recent.items() if (parse_time(s) or newest) >= floor}
        stamp = next(
            (
                r.get("SystemModstamp")
                for r in chunk
                if (parse_time(r.get("SystemModstamp")), str(r["Id"])) == best
            ),
            cursor.get("modstamp"),
        )
        state = state.with_bookmark("opportunities", modstamp=stamp, id=best[1], recent=recent)
        stamps = [
            (parse_time(t.extra.get("modstamp")), t.extra["modstamp"])
            for t in templates
            if t.extra.get("modstamp")
        ]
        if stamps:
            state = state.with_bookmark("templates", modstamp=max(stamps)[1])
        return state


def _contact_of(record: Mapping[str, Any]) -> str | None:
    """The opportunity's contact: its primary contact role, else ``ContactId``."""
    roles = record.get("OpportunityContactRoles")
    rows = list(roles.get("records") or []) if isinstance(roles, Mapping) else []
    primary = [r for r in rows if r.get("IsPrimary")] or rows
    if primary and primary[0].get("ContactId"):
        return str(primary[0]["ContactId"])
    contact = record.get("ContactId")
    return str(contact) if contact else None
