"""HubSpot webhook delivery: batches of ≤ 100 events, v3 signatures, retries with backoff.

Real HubSpot retries a failed delivery (connection error, timeout over 5 s, any 4xx/5xx) up to 10 times
over 24 hours; the sandbox keeps the shape (doubling delays with jitter) but compresses the time.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import random
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from feedbackloop.sandbox.hubspot.options import HubSpotOptions

__all__ = ["BATCH_SIZE", "SUBSCRIPTIONS", "WebhookSender", "sign_v3"]

BATCH_SIZE = 100
# The sandbox app's webhook subscriptions: (subscriptionType, propertyName) -> subscriptionId.
SUBSCRIPTIONS = {
    ("deal.creation", None): 2_100_001,
    ("deal.propertyChange", "dealstage"): 2_100_002,
    ("deal.propertyChange", "closedate"): 2_100_003,
    ("deal.propertyChange", "amount"): 2_100_004,
}
_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
           "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}  # fmt: skip


def sign_v3(secret: str, method: str, url: str, body: str, timestamp: str) -> str:
    """``X-HubSpot-Signature-v3``: base64 HMAC-SHA256 of method + decoded URI + body + timestamp."""
    for encoded, char in _DECODE.items():
        url = url.replace(encoded, char).replace(encoded.lower(), char)
    source = f"{method}{url}{body}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


class WebhookSender:
    """A background thread that delivers event batches to one target URL, retrying failures."""

    def __init__(self, options: HubSpotOptions, url: str) -> None:
        self.options, self.url = options, url
        self._queue: list[tuple[float, int, int, list[dict[str, Any]]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._busy = 0
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(options.fault_seed)
        self._thread = threading.Thread(target=self._run, name="hubspot-webhooks", daemon=True)
        self._thread.start()

    def submit(self, events: list[dict[str, Any]]) -> None:
        """Queue events for delivery, split into batches of at most 100."""
        with self._cond:
            for start in range(0, len(events), BATCH_SIZE):
                batch = events[start : start + BATCH_SIZE]
                heapq.heappush(self._queue, (time.monotonic(), next(self._seq), 0, batch))
                self.counts["events"] += len(batch)
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued batch was delivered or gave up; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout=timeout)

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {"url": self.url, "pending": len(self._queue) + self._busy, **dict(self.counts)}

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                    delay = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(timeout=delay if delay is None else max(0.01, min(delay, 0.5)))
                if self._stopped:
                    return
                _, _, attempt, batch = heapq.heappop(self._queue)
                self._busy += 1
            ok = self._deliver(batch, attempt)
            with self._cond:
                self._busy -= 1
                if ok:
                    self.counts["delivered_batches"] += 1
                elif attempt < self.options.webhook_retries:
                    self.counts["retries"] += 1
                    delay = self.options.webhook_backoff_seconds * 2**attempt * (0.5 + self._rng.random())
                    heapq.heappush(
                        self._queue, (time.monotonic() + delay, next(self._seq), attempt + 1, batch)
                    )
                else:
                    self.counts["failed_batches"] += 1
                self._cond.notify_all()

    def _deliver(self, batch: list[dict[str, Any]], attempt: int) -> bool:
        body = json.dumps([{**e, "attemptNumber": attempt} for e in batch], separators=(",", ":"))
        timestamp = str(int(self.options.clock() * 1000))  # wall time: receivers check a 5-minute window
        secret = self.options.client_secret
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) (sandbox)",
            "X-HubSpot-Signature-v3": sign_v3(secret, "POST", self.url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature": hashlib.sha256((secret + body).encode()).hexdigest(),
            "X-HubSpot-Signature-Version": "v1",
        }
        self.counts["attempts"] += 1
        target = urlsplit(self.url)
        factory = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        connection = factory(target.netloc, timeout=self.options.webhook_timeout_seconds)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        try:
            connection.request("POST", path, body.encode(), headers)
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return False  # connection refused or reset, or slower than the timeout: retried like HubSpot
        finally:
            connection.close()
        return 200 <= status < 300
