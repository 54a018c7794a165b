"""HubSpot request signatures, version 3 (reference §8.4), verified over the raw request bytes.

The signed string is ``method + uri + body + timestamp`` where ``uri`` is the full URL (scheme, host,
path, query) as HubSpot called it, with the documented percent-escapes decoded. HMAC-SHA256 with the
app's client secret, base64, compared in constant time. Unlike HubSpot's SDK we also reject
timestamps too far in the future: a signature must not stay valid for ever.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

from feedbackloop.errors import SignatureError

__all__ = ["MAX_AGE_SECONDS", "MAX_SKEW_SECONDS", "decode_uri", "sign_v3", "verify_v3"]

#: HubSpot: "Reject the request if the timestamp is older than 5 minutes."
MAX_AGE_SECONDS = 300
#: Our own bound on clock skew into the future (the SDK has none).
MAX_SKEW_SECONDS = 60

# The table of the docs; only these escapes are decoded (not e.g. %20 or %26).
_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def decode_uri(uri: str) -> str:
    """Decode the escapes HubSpot's table lists (either hex case), leaving every other escape as is."""
    out: list[str] = []
    i = 0
    while i < len(uri):
        chunk = uri[i : i + 3]
        if chunk[:1] == "%" and chunk.upper() in _DECODE:
            out.append(_DECODE[chunk.upper()])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The ``X-HubSpot-Signature-v3`` value for a request (``body`` as the raw bytes sent)."""
    source = method.upper().encode() + decode_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def verify_v3(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Raise :class:`SignatureError` unless the signature and the timestamp window both verify."""
    if not signature or not timestamp:
        raise SignatureError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        stamp_ms = int(timestamp)
    except ValueError:
        raise SignatureError("X-HubSpot-Request-Timestamp is not a number") from None
    age = clock() - stamp_ms / 1000.0
    if age > MAX_AGE_SECONDS:
        raise SignatureError("request timestamp is older than 5 minutes")
    if age < -MAX_SKEW_SECONDS:
        raise SignatureError("request timestamp is in the future")
    expected = sign_v3(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature does not match")
