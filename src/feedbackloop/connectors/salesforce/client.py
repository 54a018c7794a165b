"""The Salesforce client: simple-salesforce over a session with timeouts, our retry policy, one token
refresh on ``INVALID_SESSION_ID``, and a quota guard fed by ``Sforce-Limit-Info``.

simple-salesforce retries nothing and sets no timeout (reference §10.5), so every call goes through
:meth:`SalesforceClient.call`: the session injects a default timeout, :data:`RetryPolicy` retries 5xx,
connection resets, timeouts and ``UNABLE_TO_LOCK_ROW``, an expired session is refreshed once, and the
remaining simple-salesforce exceptions become :mod:`feedbackloop.errors`. Every HTTP request the
session sends is counted (that is what Salesforce counts against the daily allocation).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from feedbackloop.connectors.retry import RetryPolicy, Transient
from feedbackloop.connectors.salesforce import DEFAULT_API_VERSION
from feedbackloop.errors import AuthError, ConnectorError, PermissionDenied, QuotaExhausted, RemoteError

__all__ = [
    "DEFAULT_API_VERSION",
    "QuotaGuard",
    "SalesforceClient",
    "TimeoutSession",
    "classify",
    "error_code",
    "map_error",
]

T = TypeVar("T")
#: Error codes worth a retry even though they come with a 4xx/200 (record locks, shed load).
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"})
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_APP_USAGE = re.compile(r"per-app-api-usage=(\d+)/(\d+)")


class TimeoutSession(requests.Session):
    """A ``requests.Session`` that puts a default timeout on every request and counts what it sends."""

    def __init__(self, timeout: float, verify: str | bool = True) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.verify = verify
        self.requests_sent = 0
        self.on_response: Callable[[requests.Response], None] | None = None
        self._lock = threading.Lock()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if kwargs.get("verify") is None:
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override ``session.verify``: pass it explicitly.
            kwargs["verify"] = self.verify
        with self._lock:
            self.requests_sent += 1
        response = super().request(method, url, *args, **kwargs)
        if self.on_response is not None:
            self.on_response(response)
        return response


def error_code(exc: BaseException) -> str | None:
    """The ``errorCode`` of a Salesforce REST error (bodies are a JSON list of error objects)."""
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = content[0].get("errorCode")
        return str(code) if code else None
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("error")
        return str(code) if code else None
    return None


def _error_message(exc: BaseException) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message", ""))[:300]
    if isinstance(content, dict):
        return str(content.get("message") or content.get("error_description") or "")[:300]
    if isinstance(content, bytes | str):
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        return text[:200]
    return ""


def classify(exc: BaseException) -> Transient | None:
    """Which failures are worth retrying: 5xx, resets, timeouts and lock/shed-load error codes."""
    if isinstance(exc, requests.Timeout):
        return Transient("timeout")
    if isinstance(exc, requests.ConnectionError):
        return Transient("connection reset")
    if isinstance(exc, SalesforceError):
        code = error_code(exc)
        if code in TRANSIENT_CODES:
            return Transient(code or "transient")
        if isinstance(exc, SalesforceGeneralError) and int(exc.status) >= 500:
            return Transient(f"HTTP {exc.status}")
    return None


def map_error(exc: BaseException, what: str) -> ConnectorError:
    """A simple-salesforce or requests exception as one of ours, with a message for a human."""
    code = error_code(exc)
    message = _error_message(exc)
    detail = f"{code}: {message}" if code else message
    if code == "REQUEST_LIMIT_EXCEEDED":
        return QuotaExhausted(
            f"Salesforce refused {what}: the org's daily API allocation is spent ({message}); "
            "the sync cursor is saved, run it again after the quota recovers"
        )
    if isinstance(exc, SalesforceExpiredSession):
        return AuthError(f"Salesforce refused the session for {what} ({detail}); reconnect the tenant")
    if isinstance(exc, SalesforceRefusedRequest):
        return PermissionDenied(
            f"Salesforce denied {what} ({detail}); check the integration user's permissions"
        )
    if isinstance(exc, SalesforceResourceNotFound):
        return RemoteError(f"Salesforce has no such resource for {what} ({detail})", status=404)
    if isinstance(exc, SalesforceMalformedRequest):
        hint = (
            "; if a field was removed from the org, `feedbackloop sync --full` re-reads which fields exist"
            if code == "INVALID_FIELD"
            else ""
        )
        return RemoteError(f"Salesforce rejected {what} ({detail}){hint}", status=400)
    if isinstance(exc, SalesforceError):
        return RemoteError(f"Salesforce failed {what} (HTTP {exc.status}: {detail})", status=int(exc.status))
    if isinstance(exc, requests.Timeout):
        return RemoteError(f"Salesforce did not answer {what} in time (after retries)")
    if isinstance(exc, requests.RequestException):
        return RemoteError(f"cannot reach Salesforce for {what}: {type(exc).__name__}")
    return RemoteError(f"Salesforce failed {what}: {type(exc).__name__}")


@dataclass
class QuotaGuard:
    """Stops a run once it has used ``share`` of the org's daily API allocation.

    Own usage is the connected app's ``per-app-api-usage`` when Salesforce reports it, else the calls
    this client made; the allocation is the ``api-usage`` total of the latest response. Also stops when
    the org as a whole has nothing left (the next call would fail with ``REQUEST_LIMIT_EXCEEDED``).
    """

    share: float = 0.25
    used: int | None = None
    total: int | None = None
    app_used: int | None = None
    own_calls: int = 0

    def observe(self, header: str | None) -> None:
        if not header:
            return
        if match := _USAGE.search(header):
            self.used, self.total = int(match.group(1)), int(match.group(2))
        if match := _APP_USAGE.search(header):
            self.app_used = int(match.group(1))

    @property
    def budget(self) -> int | None:
        return None if self.total is None else max(1, int(self.share * self.total))

    def check(self, what: str) -> None:
        """Raise :class:`QuotaExhausted` before a call that would go beyond the share."""
        budget = self.budget
        if budget is None:
            return
        own = self.app_used if self.app_used is not None else self.own_calls
        if own >= budget:
            raise QuotaExhausted(
                f"stopped before {what}: this run used {own} API calls, its share ({self.share:.0%}) of the "
                f"org's daily allocation of {self.total}; the sync cursor is saved, run it again later "
                "(or raise the tenant's quota_share)"
            )
        if self.used is not None and self.total is not None and self.used >= self.total:
            raise QuotaExhausted(
                f"stopped before {what}: the org's daily API allocation ({self.total}) is spent; "
                "the sync cursor is saved, run it again after the quota recovers"
            )


def _more(url: str, headers: dict[str, str]) -> Callable[[Salesforce], Any]:
    return lambda sf: sf.query_more(url, identifier_is_url=True, headers=headers)


class SalesforceClient:
    """One org's REST API through simple-salesforce, with timeouts, retries, refresh and a quota guard.

    ``token`` is the current access token; ``refresh`` (optional) returns a new one and is used at most
    once per call when Salesforce answers ``INVALID_SESSION_ID``.
    """

    def __init__(
        self,
        instance_url: str,
        token: str,
        *,
        refresh: Callable[[], str] | None = None,
        ca_bundle: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        policy: RetryPolicy | None = None,
        quota: QuotaGuard | None = None,
        session: TimeoutSession | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version.removeprefix("v")
        self.policy = policy or RetryPolicy()
        self.quota = quota or QuotaGuard()
        self.session = session or TimeoutSession(self.policy.timeout, ca_bundle or True)
        self.session.on_response = self._observe
        self._refresh = refresh
        self._sleep = sleep
        self.sf = self._build(token)

    def _build(self, token: str) -> Salesforce:
        return Salesforce(
            instance_url=self.instance_url, session_id=token, session=self.session, version=self.api_version
        )

    def _observe(self, response: requests.Response) -> None:
        self.quota.own_calls += 1
        self.quota.observe(response.headers.get("Sforce-Limit-Info"))

    @property
    def api_calls(self) -> int:
        return self.session.requests_sent

    @property
    def token(self) -> str:
        return str(self.sf.session_id)

    def call(self, fn: Callable[[Salesforce], T], what: str) -> T:
        """Run ``fn(sf)`` under the quota guard and the retry policy; errors come out as ours."""
        refreshed = False
        while True:
            self.quota.check(what)
            try:
                kwargs: dict[str, Any] = {"classify": classify, "what": what}
                if self._sleep is not None:
                    kwargs["sleep"] = self._sleep
                return self.policy.call(lambda: fn(self.sf), **kwargs)
            except SalesforceExpiredSession as exc:
                if refreshed or self._refresh is None:
                    raise map_error(exc, what) from None
                self.sf = self._build(self._refresh())
                refreshed = True
            except (SalesforceError, requests.RequestException) as exc:
                raise map_error(exc, what) from None

    # -- the calls the connector uses ----------------------------------------------------------------
    def query_pages(self, soql: str, what: str, *, batch_size: int = 2000) -> Iterator[list[dict[str, Any]]]:
        """The records of ``soql`` page by page (each page is one call, retried on its own)."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        page = self.call(lambda sf: sf.query(soql, headers=headers), what)
        while True:
            yield list(page.get("records") or [])
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.call(_more(next_url, headers), what)

    def query(self, soql: str, what: str) -> list[dict[str, Any]]:
        """All records of ``soql`` (for small result sets)."""
        return [r for page in self.query_pages(soql, what) for r in page]

    def describe(self, sobject: str) -> dict[str, Any]:
        result = self.call(lambda sf: sf.restful(f"sobjects/{sobject}/describe"), f"describe {sobject}")
        return dict(result or {})

    def restful(self, path: str, what: str, *, method: str = "GET", json: Any = None) -> Any:
        """A REST call relative to ``/services/data/vXX.X/``."""
        kwargs: dict[str, Any] = {"method": method}
        if json is not None:
            kwargs["json"] = json
        return self.call(lambda sf: sf.restful(path, **kwargs), what)

    def tooling(self, path: str, what: str, *, method: str = "GET", data: Any = None) -> Any:
        """A Tooling API call (``/services/data/vXX.X/tooling/<path>``)."""
        return self.call(lambda sf: sf.toolingexecute(path, method=method, data=data), what)
