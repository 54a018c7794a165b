"""Per-tenant API keys for the selection API: shown once, stored as SHA-256, looked up by prefix.

A key reads ``fl_<prefix>_<secret>``; the prefix (public) finds the row, the hash of the whole key is
compared in constant time. High-entropy random keys need no slow password hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from feedbackloop.errors import UsageError
from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.models import Tenant
from feedbackloop.store.repo import _ref
from feedbackloop.store.service_models import ApiKeyRow

__all__ = ["ApiKeyInfo", "authenticate", "create_key", "list_keys", "revoke_key"]


@dataclass(frozen=True)
class ApiKeyInfo:
    prefix: str
    tenant: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(store: Store, tenant: TenantRef, name: str | None = None) -> str:
    """A new key for ``tenant``; the caller shows it once (only its hash is stored)."""
    prefix = secrets.token_hex(6)
    key = f"fl_{prefix}_{secrets.token_urlsafe(32)}"
    with store.db.session() as s:
        s.add(
            ApiKeyRow(tenant_id=tenant.id, prefix=prefix, key_hash=_hash(key), name=name, created_at=utcnow())
        )
        s.commit()
    return key


#: Validated keys, remembered briefly so a busy client costs no database write per call
#: (``last_used_at`` is then updated at most once per TTL; a revocation elsewhere applies within it).
_VALID_FOR = 30.0
_valid: dict[tuple[str, str], tuple[TenantRef, float]] = {}


def authenticate(store: Store, key: str) -> TenantRef | None:
    """The tenant of a valid, unrevoked key, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "fl" or not parts[1]:
        return None
    digest = _hash(key)
    cache_key = (store.db.url, digest)  # one process may serve several databases
    cached = _valid.get(cache_key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    tenant = _authenticate(store, parts[1], digest)
    if tenant is not None:
        _valid[cache_key] = (tenant, time.monotonic() + _VALID_FOR)
    return tenant


def _authenticate(store: Store, prefix: str, digest: str) -> TenantRef | None:
    with store.db.session() as s:
        row = s.scalar(sa.select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash.encode(), digest.encode()):
            return None
        row.last_used_at = utcnow()
        tenant = s.get(Tenant, row.tenant_id)
        s.commit()
        return _ref(tenant) if tenant is not None else None


def list_keys(store: Store, tenant: TenantRef | None = None) -> list[ApiKeyInfo]:
    with store.db.session() as s:
        query = sa.select(ApiKeyRow, Tenant.name).join(Tenant, Tenant.id == ApiKeyRow.tenant_id)
        if tenant is not None:
            query = query.where(ApiKeyRow.tenant_id == tenant.id)
        return [
            ApiKeyInfo(r.prefix, name, r.name, r.created_at, r.revoked_at, r.last_used_at)
            for r, name in s.execute(query.order_by(ApiKeyRow.id)).all()
        ]


def revoke_key(store: Store, prefix: str) -> None:
    with store.db.session() as s:
        row = s.scalar(sa.select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
        if row is None:
            raise UsageError(f"no API key with prefix {prefix!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.commit()
        _valid.clear()  # this process stops accepting it at once; others within _VALID_FOR
