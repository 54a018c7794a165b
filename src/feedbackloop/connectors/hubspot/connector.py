"""The HubSpot connector: check, install, sync, write-back for one tenant (a HubSpot portal).

Tenant settings (``tenant.settings``, non-secret): ``base_url``; optional ``limits`` ({burst,
burst_period, search, search_period}), ``retry`` ({max_attempts, base_delay, max_delay, timeout,
wait_scale}), ``batch_deals``, ``lookback_seconds``, ``segments`` ({smb_employees, mid_employees,
smb_amount, mid_amount}), ``search_property_chars`` (above it, stage history is read per lost deal
instead of in the search); ``template_object`` is written by ``install``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.base import (
    CheckReport,
    InstallReport,
    OpenDeal,
    SyncBatch,
    SyncState,
    WriteBackPlan,
    WriteBackReport,
)
from feedbackloop.connectors.hubspot.client import DEFAULT_BASE_URL, HubSpotClient, Limits
from feedbackloop.connectors.hubspot.emails import OPTIONAL_EMAIL_PROPERTIES
from feedbackloop.connectors.hubspot.fetch import Fetcher
from feedbackloop.connectors.hubspot.install import find_template_object
from feedbackloop.connectors.hubspot.install import install as run_install
from feedbackloop.connectors.hubspot.mapping import SegmentRules
from feedbackloop.connectors.hubspot.oauth import OAuthApp, TokenSource, lookup_hub_id, refresh_tokens
from feedbackloop.connectors.hubspot.opendeals import open_deals
from feedbackloop.connectors.hubspot.streams import STREAM, DealStream, StreamOptions
from feedbackloop.connectors.hubspot.writeback import write_plan
from feedbackloop.connectors.retry import RetryPolicy
from feedbackloop.crypto import secret_box
from feedbackloop.errors import AuthError, ConnectorError, PermissionDenied
from feedbackloop.store import Store, TenantRef

__all__ = ["MISSING_COST", "SCOPE_COSTS", "SELF_WRITES", "HubSpotConnector", "create_connector"]

#: Sync-state key under which write-back records the modification times of its own writes.
SELF_WRITES = "hubspot_self_writes"
#: What a missing optional email property costs (``check``); ``hs_template_id`` makes check fail.
MISSING_COST = {
    "hs_template_id": "no template attribution at all: every email would look ad hoc",
    "hs_sequence_id": "no sequence steps: message positions stay unknown",
    "hs_email_open_count": "opens unknown (opened stays empty)",
    "hs_email_click_count": "clicks unknown (clicked stays empty)",
    "hs_email_reply_count": "replies from threads only (INCOMING_EMAIL emails in the thread)",
}
_EMAIL_PROPERTIES_TTL_MS = 24 * 3600 * 1000
#: Scopes (any one of a group) the connector uses, and what lacking them costs; None = cannot work.
SCOPE_COSTS: dict[tuple[str, ...], str | None] = {
    ("crm.objects.deals.read", "crm.objects.deals.write"): None,
    ("crm.objects.contacts.read", "sales-email-read", "crm.objects.emails.read"): None,
    ("crm.objects.companies.read", "crm.objects.companies.write"): "segments from deal amounts; no industry",
    ("automation.sequences.read",): "no sequence step positions",
    ("crm.objects.owners.read",): "no sequence step positions (the sequences API needs owners' user ids)",
    ("sales-templates-public-read",): "template names unknown (ids only)",
    ("crm.schemas.deals.write",): "install cannot create the write-back deal properties",
    ("crm.objects.deals.write",): "write-back cannot update deals",
}


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class HubSpotConnector:
    """One HubSpot portal through hubspot-api-client, for one tenant."""

    provider = "hubspot"

    def __init__(self, settings: Settings, store: Store, tenant: TenantRef) -> None:
        self.store, self.tenant = store, tenant
        conf: dict[str, Any] = dict(tenant.settings or {})
        self.conf = conf
        base_url = str(conf.get("base_url") or DEFAULT_BASE_URL)
        retry = dict(conf.get("retry") or {})
        policy = RetryPolicy(
            max_attempts=int(retry.get("max_attempts", 6)),
            base_delay=float(retry.get("base_delay", 0.5)),
            max_delay=float(retry.get("max_delay", 30.0)),
            timeout=float(retry.get("timeout", 30.0)),
        )
        limits = Limits(
            **{k: v for k, v in dict(conf.get("limits") or {}).items() if k in Limits.__dataclass_fields__}
        )
        common: dict[str, Any] = {
            "base_url": base_url,
            "tenant_key": f"hubspot:{tenant.external_id or tenant.name}",
            "limits": limits,
            "policy": policy,
            "wait_scale": float(retry.get("wait_scale", 1.0)),
        }
        self._token = TokenSource(store, tenant, secret_box(settings))
        self.client = HubSpotClient(self._token, **common)
        secret = settings.hubspot_client_secret
        if settings.hubspot_client_id and secret is not None:
            app = OAuthApp(settings.hubspot_client_id, secret.get_secret_value())
            oauth_client = HubSpotClient(lambda: "", **common)
            self._token.bind_refresher(lambda refresh: refresh_tokens(oauth_client, app, refresh))
        self.fetch = Fetcher(self.client)
        self._saved_meta: dict[str, Any] = {}
        self.options = StreamOptions(
            batch_deals=int(conf.get("batch_deals", 1000)),
            lookback_ms=int(float(conf.get("lookback_seconds", 30)) * 1000),
            search_property_chars=int(conf.get("search_property_chars", 2000)),
            rules=SegmentRules.from_settings(conf.get("segments")),
        )

    @property
    def api_calls(self) -> int:
        return self.client.api_calls

    # -- check ----------------------------------------------------------------------------------
    def check(self) -> CheckReport:
        """Token, scopes, optional email properties (and what each missing one costs), custom objects."""
        problems: list[str] = []
        try:
            names = self.fetch.properties("emails")
        except AuthError as exc:
            return CheckReport(ok=False, account=self.tenant.external_id, problems=[str(exc)])
        except ConnectorError as exc:
            return CheckReport(ok=False, account=self.tenant.external_id, problems=[str(exc)])
        available = {p: p in names for p in OPTIONAL_EMAIL_PROPERTIES}
        missing = {p: MISSING_COST[p] for p, ok in available.items() if not ok}
        if "hs_template_id" in missing:
            problems.append("emails have no hs_template_id: templates cannot be scored on this portal")
        scopes: list[str] = []
        try:
            info = self.client.api("oauth.access_tokens_api")
            token = self._token()
            if not token.startswith("pat-") and token != "":
                found = self.client.call("token info", lambda t: info.get(token=token, _request_timeout=t))
                scopes = sorted(found.scopes or [])
        except ConnectorError:
            pass  # private-app tokens cannot be introspected; scopes are then unknown
        for group, cost in SCOPE_COSTS.items() if scopes else ():
            if not set(group) & set(scopes):
                if cost is None:
                    problems.append(f"missing scope {' or '.join(group)}: the sync cannot work without it")
                else:
                    missing[f"scope:{group[0]}"] = cost
        try:
            available["custom_object"] = find_template_object(self.client) is not None
            if not available["custom_object"]:
                missing["custom_object"] = "template scores go to deal properties only (run install)"
        except PermissionDenied:
            available["custom_object"] = False
            missing["custom_object"] = "no custom objects on this tier: template scores on deals only"
        return CheckReport(
            ok=not problems,
            account=self.tenant.external_id,
            scopes=scopes,
            available=available,
            missing=missing,
            quota={"api_calls": self.api_calls},
            problems=problems,
        )

    # -- install --------------------------------------------------------------------------------
    def install(self) -> InstallReport:
        report, object_type = run_install(self.client)
        if object_type != self.conf.get("template_object"):
            self.conf["template_object"] = object_type
            self.tenant = self.store.update_tenant(self.tenant, settings=dict(self.conf))
        return report

    # -- sync -----------------------------------------------------------------------------------
    def _email_properties(self, state: SyncState) -> tuple[set[str], SyncState]:
        meta = state.get("meta")
        if (
            meta.get("email_properties") is not None
            and _now_ms() - int(meta.get("checked_ms", 0)) < _EMAIL_PROPERTIES_TTL_MS
        ):
            return set(meta["email_properties"]), state
        names = self.fetch.properties("emails")
        found = sorted(p for p in OPTIONAL_EMAIL_PROPERTIES if p in names)
        return set(found), state.with_bookmark("meta", email_properties=found, checked_ms=_now_ms())

    def _self_writes(self) -> dict[str, int]:
        from feedbackloop.store.models import SyncStateRow

        raw = self.store.get_state(SyncStateRow, self.tenant, SELF_WRITES).get("deals") or {}
        return {str(k): int(v) for k, v in dict(raw).items()}

    def sync(self, state: SyncState, *, full: bool = False) -> Iterator[SyncBatch]:
        """Closed won/lost deals changed since ``state`` and their emails, in resumable batches."""
        if full:
            state = SyncState()
        self._saved_meta = state.get("meta")
        available, state = self._email_properties(state)
        stream = DealStream(
            self.fetch,
            self.options,
            available,
            stored_deals=self._stored_deals,
            known_templates=self._known_templates,
            self_writes=self._self_writes(),
        )
        last, yielded = state, False
        for batch in stream.run(state):
            last, yielded = batch.state, True
            yield batch
        if not yielded and state.get("meta") != self._saved_meta:
            yield SyncBatch(state=state)  # nothing changed, but remember the email properties seen
        self._prune_self_writes(last)

    def _stored_deals(self) -> dict[str, dict[str, Any]]:
        frame = self.store.deals_frame(self.tenant)
        records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
        return {str(r["deal_id"]): r for r in records}

    def _known_templates(self) -> set[str]:
        frame = self.store.templates_frame(self.tenant)
        return set(frame["template_id"].astype(str)) if len(frame) else set()

    def _prune_self_writes(self, state: SyncState) -> None:
        from feedbackloop.store.models import SyncStateRow

        cursor = state.get(STREAM).get("cursor_ms")
        writes = self._self_writes()
        if cursor is None or not writes:
            return
        floor = int(cursor) - self.options.lookback_ms
        kept = {k: v for k, v in writes.items() if v >= floor}
        if len(kept) != len(writes):
            self.store.put_state(SyncStateRow, self.tenant, SELF_WRITES, {"deals": kept})

    # -- write-back -----------------------------------------------------------------------------
    def open_deals(self) -> Iterator[OpenDeal]:
        """Open deals with segment, next step and templates received (for next-template advice)."""
        return open_deals(self.fetch, self.options.rules)

    def write_back(self, plan: WriteBackPlan) -> WriteBackReport:
        from feedbackloop.store.models import SyncStateRow

        before = self.api_calls
        template_object = self.conf.get("template_object")
        result = write_plan(self.client, plan, str(template_object) if template_object else None)
        if result.self_writes:
            writes = {**self._self_writes(), **result.self_writes}
            self.store.put_state(SyncStateRow, self.tenant, SELF_WRITES, {"deals": writes})
        return WriteBackReport(
            updated=result.updated,
            failed=len(result.failures),
            api_calls=self.api_calls - before,
            failures=result.failures,
        )

    def hub_id(self) -> int | None:
        """The portal id of the stored token, when HubSpot says it."""
        return lookup_hub_id(self.client, self._token())


def create_connector(settings: Settings, store: Store, tenant: TenantRef) -> HubSpotConnector:
    return HubSpotConnector(settings, store, tenant)
