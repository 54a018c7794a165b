"""The Salesforce connector: one org (tenant) seen through its REST API.

Tenant settings (non-secret, ``tenant.settings``): ``instance_url``, ``ca_bundle``, ``api_version``,
``loss_reason_field``, ``quota_share`` (default 0.25), and for OAuth tenants ``login_url``, ``client_id``
and ``user_id``. Secrets live encrypted in the credentials table: the access token, and the refresh
token (and client secret) when the tenant was connected through OAuth.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

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
from feedbackloop.connectors.retry import RetryPolicy
from feedbackloop.connectors.salesforce.client import DEFAULT_API_VERSION, QuotaGuard, SalesforceClient
from feedbackloop.connectors.salesforce.install import install
from feedbackloop.connectors.salesforce.oauth import ACCESS_TOKEN, REFRESH_TOKEN, OAuthApp, save_tokens
from feedbackloop.connectors.salesforce.streams import SalesforceSync, SyncOptions, describe_schema
from feedbackloop.connectors.salesforce.writeback import write_back
from feedbackloop.crypto import secret_box
from feedbackloop.errors import ConnectorError, CredentialError
from feedbackloop.store import Store, TenantRef

__all__ = ["CLIENT_SECRET", "SalesforceConnector", "create_connector"]

CLIENT_SECRET = "salesforce_client_secret"
OPTIONAL_EMAIL_FIELDS = {
    "HasReply": "replies are inferred from incoming emails in the same thread (slower to appear)",
    "FirstLinkClickedDate": "clicks are unknown (clicked stays empty)",
    "ActionCadenceStepTrackerId": "templates and positions of cadence emails are known only where "
    "EmailTemplateId is filled (Lightning sends)",
}


class SalesforceConnector:
    """Implements :class:`~feedbackloop.connectors.base.Connector` for one Salesforce org."""

    provider = "salesforce"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        tenant: TenantRef,
        *,
        policy: RetryPolicy | None = None,
        sync_options: SyncOptions | None = None,
    ) -> None:
        self.settings, self.store, self.tenant = settings, store, tenant
        options: dict[str, Any] = tenant.settings
        instance_url = options.get("instance_url")
        if not instance_url:
            raise ConnectorError(f"tenant {tenant.name!r} has no Salesforce instance_url; connect it again")
        self.box = secret_box(settings)
        token = store.get_credential(tenant, ACCESS_TOKEN, self.box)
        if not token:
            raise CredentialError(
                f"tenant {tenant.name!r} has no Salesforce token; run `feedbackloop connect salesforce`"
            )
        self.loss_reason_field: str | None = options.get("loss_reason_field", "Loss_Reason__c") or None
        self.sync_options = sync_options or SyncOptions(loss_reason_field=self.loss_reason_field)
        self.client = SalesforceClient(
            str(instance_url),
            token,
            refresh=self._refresh if store.get_credential(tenant, REFRESH_TOKEN, self.box) else None,
            ca_bundle=options.get("ca_bundle"),
            api_version=str(options.get("api_version") or DEFAULT_API_VERSION),
            policy=policy,
            quota=QuotaGuard(share=float(options.get("quota_share", 0.25))),
        )

    # -- auth ------------------------------------------------------------------------------------------
    def _oauth_app(self) -> OAuthApp:
        options = self.tenant.settings
        client_id = options.get("client_id") or self.settings.salesforce_client_id
        if not client_id:
            raise CredentialError("no Salesforce client id configured (FEEDBACKLOOP_SALESFORCE_CLIENT_ID)")
        secret = self.store.get_credential(self.tenant, CLIENT_SECRET, self.box)
        if secret is None and self.settings.salesforce_client_secret is not None:
            secret = self.settings.salesforce_client_secret.get_secret_value()
        return OAuthApp(
            client_id=str(client_id),
            redirect_uri=str(options.get("redirect_uri") or ""),
            login_url=str(options.get("login_url") or options["instance_url"]),
            client_secret=secret,
            ca_bundle=options.get("ca_bundle"),
        )

    def _refresh(self) -> str:
        """A new access token from the stored refresh token (stored encrypted for the next run)."""
        refresh_token = self.store.get_credential(self.tenant, REFRESH_TOKEN, self.box)
        if not refresh_token:
            raise CredentialError(f"tenant {self.tenant.name!r} has no refresh token; connect it again")
        tokens = self._oauth_app().refresh(refresh_token, policy=self.client.policy)
        save_tokens(self.store, self.tenant, tokens, self.box)
        return tokens.access_token

    # -- the contract ----------------------------------------------------------------------------------
    @property
    def api_calls(self) -> int:
        return self.client.api_calls

    def check(self) -> CheckReport:
        """API access, the optional fields (and what their absence costs), the quota left."""
        problems: list[str] = []
        limits = self.client.restful("limits", "the limits call") or {}
        daily = dict(limits.get("DailyApiRequests") or {})
        email = {f["name"] for f in self.client.describe("EmailMessage").get("fields", [])}
        opportunity = {f["name"] for f in self.client.describe("Opportunity").get("fields", [])}
        available = {name: name in email for name in OPTIONAL_EMAIL_FIELDS}
        missing = {name: cost for name, cost in OPTIONAL_EMAIL_FIELDS.items() if name not in email}
        if self.loss_reason_field:
            present = self.loss_reason_field in opportunity
            available[self.loss_reason_field] = present
            if not present:
                missing[self.loss_reason_field] = "loss reasons are unknown (set tenant loss_reason_field)"
                problems.append(f"loss-reason field {self.loss_reason_field} is not on Opportunity")
        fl_fields = [f for f in opportunity if f.startswith("FL_")]
        available["write-back fields"] = bool(fl_fields)
        if not fl_fields:
            missing["write-back fields"] = "write-back needs `feedbackloop install` first"
        quota: dict[str, Any] = {
            "daily_max": daily.get("Max"),
            "remaining": daily.get("Remaining"),
            "share_per_run": self.client.quota.share,
        }
        return CheckReport(
            ok=True,
            account=self.tenant.external_id,
            scopes=[],
            available=available,
            missing=missing,
            quota=quota,
            problems=problems,
        )

    def install(self) -> InstallReport:
        return install(self.client, self.tenant.settings.get("user_id"))

    def sync(self, state: SyncState, *, full: bool = False) -> Iterator[SyncBatch]:
        return SalesforceSync(self.client, self.sync_options, self._stored_outcomes).batches(state, full=full)

    def write_back(self, plan: WriteBackPlan) -> WriteBackReport:
        return write_back(self.client, plan)

    def open_deals(self) -> Iterator[OpenDeal]:
        """Open opportunities for next-template advice (``SupportsOpenDeals``)."""
        from feedbackloop.connectors.sync import load_sync_state

        schema = load_sync_state(self.store, self.tenant).get("schema")
        if schema.get("api_version") != self.client.api_version:
            schema = describe_schema(self.client, self.loss_reason_field)
        return SalesforceSync(self.client, self.sync_options).open_deals(schema)

    def _stored_outcomes(self, deal_ids: list[str]) -> dict[str, str]:
        """Outcomes already stored for these deals (their emails came with them in the same batch)."""
        from feedbackloop.store.models import DealRow

        query = sa.select(DealRow.deal_id, DealRow.outcome).where(
            DealRow.tenant_id == self.tenant.id, DealRow.deal_id.in_(deal_ids)
        )
        with self.store.db.engine.connect() as conn:
            return {str(row[0]): str(row[1]) for row in conn.execute(query)}


def create_connector(settings: Settings, store: Store, tenant: TenantRef) -> SalesforceConnector:
    """The registry's entry point (``connectors/registry.py``)."""
    return SalesforceConnector(settings, store, tenant)
