"""The HubSpot API client: hubspot-api-client 12.x behind our limiter, retry policy, timeout and call count.

Why a wrapper (reference §11):

- every ``client.crm.deals.search_api`` attribute access builds a new ``ApiClient`` and connection pool,
  so the ``*_api`` objects are built once and cached here;
- the SDK has no default timeout: every call gets ``_request_timeout``;
- urllib3's ``Retry`` does not retry POST (search and every batch call), so urllib3 retries are switched
  off and :class:`~feedbackloop.connectors.retry.RetryPolicy` retries everything, with HubSpot's
  ``policyName`` waits (10 s × attempt for ``TEN_SECONDLY_ROLLING``, 1 s × attempt for ``SECONDLY``)
  and ``Retry-After`` winning over the computed backoff;
- each SDK sub-package has its own ``ApiException`` with no common base, so failures are classified by
  duck-typing ``.status`` / ``.headers`` / ``.body``;
- ``api_request`` ignores ``host`` and has no timeout: plain JSON calls (sequences, templates, token info)
  reuse the SDK's request builder (auth header, ``base_url``) and send it through a pooled
  ``requests.Session`` with our timeout.

Secrets never appear in messages: errors name the operation, the HTTP status and HubSpot's message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from feedbackloop.connectors.hubspot import DEFAULT_BASE_URL
from feedbackloop.connectors.limiter import SlidingWindowLimiter, limiter_for
from feedbackloop.connectors.retry import TRANSIENT_STATUSES, RetryPolicy, Transient
from feedbackloop.errors import AuthError, ConnectorError, PermissionDenied, RateLimited, RemoteError

__all__ = [
    "DEFAULT_BASE_URL",
    "HttpStatusError",
    "HubSpotClient",
    "Limits",
    "classify",
    "error_message",
    "status_of",
]

T = TypeVar("T")

#: Seconds per attempt HubSpot's own SDKs wait for each rate-limit policy (reference §7).
POLICY_WAITS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
#: 423 Locked: "Locks will last for 2 seconds" (reference §4).
LOCKED_WAIT = 2.0
_RETRYABLE = TRANSIENT_STATUSES | {423, 477, 524}


@dataclass(frozen=True)
class Limits:
    """Request budgets: the app's burst window and CRM search's own per-second window."""

    burst: int = 110
    burst_period: float = 10.0
    search: int = 5
    search_period: float = 1.0
    #: Extra seconds on each window: the server stamps requests on arrival, we stamp them on sending.
    margin: float = 0.05


class HttpStatusError(Exception):
    """A non-2xx answer to a plain JSON call, shaped like the SDK's ``ApiException`` for :func:`classify`."""

    def __init__(self, status: int, headers: dict[str, str], body: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.headers, self.body = status, headers, body


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of any SDK ``ApiException`` (or ours); None for network errors."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and status > 0 else None


def _body_json(exc: BaseException) -> dict[str, Any]:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _header(exc: BaseException, name: str) -> str | None:
    headers = getattr(exc, "headers", None)
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def error_message(exc: BaseException) -> str:
    """HubSpot's own message for a failed call (short; never the request, so never a token)."""
    body = _body_json(exc)
    message = str(body.get("message") or body.get("error_description") or "").strip()
    category = str(body.get("category") or body.get("status") or "").strip()
    text = f"{category}: {message}" if category and message else message or category
    return text[:300]


def classify(exc: BaseException, attempt: int = 1, wait_scale: float = 1.0) -> Transient | None:
    """Whether a failure is worth retrying and how long HubSpot asked us to wait.

    429 with ``policyName`` waits that policy's seconds × ``attempt`` (``DAILY`` is not retried: it
    resets at midnight); ``Retry-After`` (seconds) wins when present; 5xx, 423, 477 and network
    errors back off exponentially. Everything else (4xx) fails at once.
    """
    status = status_of(exc)
    if status is None:
        if isinstance(exc, Urllib3Error | requests.RequestException | ConnectionError | TimeoutError):
            return Transient(f"network: {type(exc).__name__}")
        if getattr(exc, "status", None) == 0:  # the SDK's wrapper for SSL errors
            return Transient("network: SSL")
        return None
    if status not in _RETRYABLE:
        return None
    retry_after = _header(exc, "Retry-After")
    wait: float | None = None
    if retry_after:
        try:
            wait = max(0.0, float(retry_after))
        except ValueError:
            wait = None
    policy = str(_body_json(exc).get("policyName") or "")
    if status == 429:
        if policy == "DAILY":
            return None
        if wait is None:
            wait = POLICY_WAITS.get(policy, POLICY_WAITS["TEN_SECONDLY_ROLLING"]) * attempt * wait_scale
        return Transient(f"HTTP 429 {policy or 'rate limit'}", wait)
    if status == 423 and wait is None:
        wait = LOCKED_WAIT * wait_scale
    return Transient(f"HTTP {status}", wait)


def _translate(exc: BaseException, what: str) -> ConnectorError:
    """Our error for a failure that retries did not cure."""
    status = status_of(exc)
    detail = error_message(exc)
    suffix = f" ({detail})" if detail else ""
    if status is None:
        return RemoteError(f"HubSpot {what} failed: {type(exc).__name__}{suffix}")
    if status == 401:
        return AuthError(
            f"HubSpot refused the credentials for {what} (HTTP 401){suffix}; check the token or reconnect"
        )
    if status == 403:
        return PermissionDenied(f"HubSpot {what}: permission denied (HTTP 403){suffix}")
    if status == 429:
        retry_after = _header(exc, "Retry-After")
        return RateLimited(
            f"HubSpot {what}: still rate limited after retries{suffix}",
            float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None,
        )
    return RemoteError(f"HubSpot {what} failed: HTTP {status}{suffix}", status)


#: Loggers that print request URLs or response bodies at DEBUG, which carry tokens (the v1 token-info
#: URL has the access token in its path; token exchanges answer with tokens): kept at INFO or above.
_SECRET_BEARING_LOGGERS = ("hubspot", "urllib3.connectionpool")


def _quiet_secret_logs() -> None:
    for name in _SECRET_BEARING_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


class HubSpotClient:
    """One portal's API access: cached SDK API objects, per-tenant limits, retries, timeouts, call count.

    ``token`` is a callable so that OAuth tenants refresh before expiry (see :mod:`.oauth`); a new token
    is pushed into every cached API object's configuration.
    """

    def __init__(
        self,
        token: Callable[[], str],
        *,
        base_url: str = DEFAULT_BASE_URL,
        tenant_key: str = "default",
        limits: Limits | None = None,
        policy: RetryPolicy | None = None,
        wait_scale: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from hubspot import HubSpot  # imported lazily: the SDK is big and only connectors need it

        _quiet_secret_logs()

        self._token_source = token
        self._token = ""
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=30.0, timeout=30.0)
        self.wait_scale = wait_scale
        self._sleep = sleep
        limits = limits or Limits()
        self.burst: SlidingWindowLimiter = limiter_for(
            tenant_key, "hubspot-burst", limits.burst, limits.burst_period + limits.margin * 10
        )
        self.search: SlidingWindowLimiter = limiter_for(
            tenant_key, "hubspot-search", limits.search, limits.search_period + limits.margin
        )
        self._sdk = HubSpot(
            access_token="-",
            host=self.base_url,
            base_url=self.base_url,
            retry=Retry(total=0, connect=0, read=0, redirect=0, status=0, raise_on_status=False),
        )
        self._apis: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session = requests.Session()
        self.api_calls = 0
        self.calls_by_kind: dict[str, int] = {}

    # -- plumbing --------------------------------------------------------------------------------
    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds for every request."""
        return (min(10.0, self.policy.timeout), self.policy.timeout)

    def _current_token(self) -> str:
        token = self._token_source()
        if token != self._token:
            with self._lock:
                self._token = token
                self._sdk.access_token = token
                for api in self._apis.values():
                    api.api_client.configuration.access_token = token
        return token

    def api(self, path: str) -> Any:
        """The cached SDK API object at ``path``, e.g. ``"crm.deals.search_api"``."""
        with self._lock:
            found = self._apis.get(path)
            if found is None:
                found = self._sdk
                for part in path.split("."):
                    found = getattr(found, part)
                found.api_client.configuration.access_token = self._token or "-"
                self._apis[path] = found
            return found

    def call(self, what: str, fn: Callable[[tuple[float, float]], T], *, search: bool = False) -> T:
        """Run one API call (``fn(timeout)``) under the limiter, retrying transient failures."""
        attempts = [0]

        def attempt() -> T:
            self._current_token()
            (self.search if search else self.burst).acquire()
            attempts[0] += 1
            self.api_calls += 1
            self.calls_by_kind[what] = self.calls_by_kind.get(what, 0) + 1
            return fn(self.timeout)

        def classify_here(exc: BaseException) -> Transient | None:
            return classify(exc, attempts[0], self.wait_scale)

        try:
            return self.policy.call(
                attempt, classify=classify_here, what=f"HubSpot {what}", sleep=self._sleep
            )
        except ConnectorError:
            raise
        except Exception as exc:
            if status_of(exc) is None and classify_here(exc) is None and not _is_api_exception(exc):
                raise
            raise _translate(exc, what) from None

    def request_json(
        self,
        what: str,
        method: str,
        path: str,
        *,
        qs: dict[str, Any] | None = None,
        body: Any = None,
        auth: bool = True,
    ) -> dict[str, Any]:
        """A plain JSON call through the SDK's request builder (``base_url``, auth) with our timeout."""
        from hubspot.utils.requests.http_request_builder import Request

        def send(timeout: tuple[float, float]) -> dict[str, Any]:
            options: dict[str, Any] = {"method": method, "path": path}
            if qs:
                options["qs"] = qs
            if body is not None:
                options["body"] = body
            config = {"base_url": self.base_url, "access_token": self._token if auth else None}
            request = Request(config, options)
            response = self._session.request(
                request.get_method(), request.get_url(), timeout=timeout, **request.get_options_for_sending()
            )
            if not 200 <= response.status_code <= 299:
                raise HttpStatusError(response.status_code, dict(response.headers), response.text)
            parsed = response.json() if response.content else {}
            return parsed if isinstance(parsed, dict) else {"results": parsed}

        return self.call(what, send)

    def close(self) -> None:
        self._session.close()


def _is_api_exception(exc: BaseException) -> bool:
    return type(exc).__name__.endswith("ApiException") or hasattr(exc, "status")
