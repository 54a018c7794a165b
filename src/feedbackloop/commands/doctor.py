"""`feedbackloop doctor`: is this installation healthy, and if not, what to do about each problem.

Checks, in order: the configuration is valid; the database answers and is migrated; the secret key
encrypts and decrypts (and opens the stored credentials); per tenant, the CRM connector's own check
(auth, scopes and fields, quota) and the alert settings. Every problem comes with advice. Exit 1 when
anything is wrong. It never migrates or syncs (it may create the key file and an empty SQLite file).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import typer

from feedbackloop.commands.common import OutputFormat, console, emit, simple_table
from feedbackloop.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    CredentialError,
    FeedbackloopError,
    PermissionDenied,
    QuotaExhausted,
    RateLimited,
)

if TYPE_CHECKING:
    from feedbackloop.config.settings import Settings
    from feedbackloop.store import Database, Store, TenantRef

__all__ = ["Finding", "doctor", "run_checks"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result: ``ok`` False means something must be fixed (``advice`` says how)."""

    check: str
    target: str
    ok: bool
    detail: str
    advice: str = ""


_ADVICE: list[tuple[tuple[str, ...], str]] = [
    (("auth", "401", "token", "expired", "invalid_session"),
     "reconnect the tenant: feedbackloop connect {provider} --tenant {tenant}"),
    (("scope", "permission", "403", "forbidden"),
     "grant the missing scopes or permissions to the app in the CRM, then reconnect"),
    (("quota", "limit", "429"), "wait for the CRM's API quota to reset, or lower the tenant's API share"),
    (("template",), "enable template tracking in the CRM, or import templates from CSV"),
]  # fmt: skip


def _advice_for(text: str, tenant: TenantRef) -> str:
    low = text.lower()
    for words, advice in _ADVICE:
        if any(w in low for w in words):
            return advice.format(tenant=tenant.name, provider=tenant.provider)
    return "check the CRM's status and the network, then run feedbackloop check --tenant " + tenant.name


def _exception_advice(exc: FeedbackloopError, tenant: TenantRef) -> str:
    if isinstance(exc, AuthError | CredentialError):
        return _ADVICE[0][1].format(tenant=tenant.name, provider=tenant.provider)
    if isinstance(exc, PermissionDenied):
        return _ADVICE[1][1]
    if isinstance(exc, QuotaExhausted | RateLimited):
        return _ADVICE[2][1]
    return _advice_for(str(exc), tenant)


def _database(settings: Settings, out: list[Finding]) -> Database | None:
    import sqlalchemy as sa

    from feedbackloop.store import Database

    db = Database(settings.effective_database_url)
    try:
        current = db.current_revision()
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        out.append(Finding("database", db.safe_url, False, f"cannot connect: {reason}",
                           "start the database or fix FEEDBACKLOOP_DATABASE_URL"))  # fmt: skip
        db.dispose()
        return None
    head = db.head_revision()
    if current != head:
        detail = f"schema at {current or 'empty'}, newest is {head}"
        out.append(Finding("database", db.safe_url, False, detail, "run: feedbackloop db upgrade"))
        db.dispose()
        return None
    out.append(Finding("database", db.safe_url, True, f"reachable, migrated ({head})"))
    return db


def _secret_key(settings: Settings, store: Store, out: list[Finding]) -> None:
    import sqlalchemy as sa

    from feedbackloop.crypto import secret_box
    from feedbackloop.store.models import Credential

    try:
        box = secret_box(settings)
        if box.decrypt(box.encrypt("doctor")) != "doctor":  # pragma: no cover (Fernet round-trips)
            raise CredentialError("the secret key does not round-trip")
        with store.db.session() as s:
            rows = s.scalars(sa.select(Credential)).all()
        for row in rows:
            box.decrypt(row.ciphertext)
    except (FeedbackloopError, OSError, ValueError) as exc:
        out.append(Finding("secret key", "credentials", False, str(exc),
                           "restore the FEEDBACKLOOP_SECRET_KEY (or key file) the credentials were stored "
                           "with, or reconnect the tenants"))  # fmt: skip
        return
    out.append(
        Finding("secret key", "credentials", True, f"usable; {len(rows)} stored credential(s) decrypt")
    )


def _connector(settings: Settings, store: Store, tenant: TenantRef, out: list[Finding]) -> None:
    from feedbackloop.connectors.registry import PROVIDERS, build_connector

    if tenant.provider not in PROVIDERS:
        out.append(Finding("connector", tenant.name, True, f"{tenant.provider}: fed by CSV import, no CRM"))
        return
    try:
        report = build_connector(settings, store, tenant).check()
    except ImportError:
        out.append(Finding("connector", tenant.name, False, f"no {tenant.provider} connector is installed",
                           "install a feedbackloop version with this connector"))  # fmt: skip
        return
    except (ConnectorError, CredentialError) as exc:
        out.append(Finding("connector", tenant.name, False, str(exc), _exception_advice(exc, tenant)))
        return
    for problem in report.problems:
        out.append(Finding("connector", tenant.name, False, problem, _advice_for(problem, tenant)))
    if report.ok and not report.problems:
        extra = f"; degraded without {', '.join(report.missing)}" if report.missing else ""
        quota = f"; quota {report.quota}" if report.quota else ""
        out.append(Finding("connector", tenant.name, True, f"{tenant.provider} {report.account or ''}: "
                           f"auth ok{extra}{quota}".replace(" :", ":")))  # fmt: skip
    elif not report.problems:
        out.append(Finding("connector", tenant.name, False, "the connector's check failed",
                           f"run: feedbackloop check --tenant {tenant.name}"))  # fmt: skip


def _alerts(store: Store, tenant: TenantRef, out: list[Finding]) -> None:
    from feedbackloop.notify import alerts_config

    if not tenant.settings.get("alerts"):
        return
    try:
        channels = alerts_config(store, tenant).channels
    except FeedbackloopError as exc:
        out.append(
            Finding(
                "alerts", tenant.name, False, str(exc), "fix the tenant's settings.alerts (README: Alerts)"
            )
        )
        return
    ok = bool(channels)
    detail = f"delivered by {', '.join(channels)}" if ok else "configured but no channel is complete"
    advice = "" if ok else "set slack_webhook_url, or smtp plus to, or log: true"
    out.append(Finding("alerts", tenant.name, ok, detail, advice))


def run_checks(tenant: str | None = None) -> list[Finding]:
    """Every check, without touching anything; the CLI prints these."""
    from feedbackloop.config.settings import load_settings
    from feedbackloop.store import Store

    out: list[Finding] = []
    try:
        settings = load_settings()
    except ConfigError as exc:
        out.append(Finding("config", "settings", False, str(exc), "fix the environment or feedbackloop.toml"))
        return out
    out.append(Finding("config", "settings", True, "valid"))
    db = _database(settings, out)
    if db is None:
        return out
    store = Store(db)
    try:
        _secret_key(settings, store, out)
        try:
            tenants = [store.resolve_tenant(tenant, create=False)] if tenant else store.list_tenants()
        except FeedbackloopError as exc:
            out.append(Finding("tenant", tenant or "", False, str(exc), "see: feedbackloop tenants list"))
            return out
        if not tenants:
            out.append(Finding("tenants", "", True, "none yet: feedbackloop import … or connect a CRM"))
        for ref in tenants:
            _connector(settings, store, ref, out)
            _alerts(store, ref, out)
    finally:
        db.dispose()
    return out


TenantOption = typer.Option(None, "--tenant", "-t", help="Check only this tenant.")
FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="Output format.")


def doctor(tenant: str | None = TenantOption, fmt: OutputFormat = FormatOption) -> None:
    """Check the installation: configuration, database, secret key, each tenant's CRM connection.

    Exits 1 when something is wrong, with advice for each problem.

    Example: feedbackloop doctor --tenant acme --format json
    """
    # The checks open everything themselves (not the shared AppState), so a broken piece is reported.
    findings = run_checks(tenant)
    data: dict[str, Any] = {"ok": all(f.ok for f in findings), "checks": [asdict(f) for f in findings]}

    def render(d: dict[str, Any]) -> None:
        rows = [["ok" if c["ok"] else "PROBLEM", c["check"], c["target"], c["detail"], c["advice"]]
                for c in d["checks"]]  # fmt: skip
        console.print(simple_table("feedbackloop doctor", ["", "check", "for", "detail", "advice"], rows))
        console.print("all good" if d["ok"] else "problems found: follow the advice above")

    emit(data, fmt, render)
    if not data["ok"]:
        raise typer.Exit(1)
