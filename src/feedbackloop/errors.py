"""The one exception tree of feedbackloop, grouped by what the caller should do.

    FeedbackloopError                 any error we raise on purpose; its message is for the user
    ├── ConfigError                   the configuration is invalid; fix the settings and retry
    ├── UsageError                    a command was asked for something that cannot be (unknown tenant, …)
    ├── InputError                    user-supplied data is invalid (CSV rows, API payloads)
    │   └── CsvValidationError        rows of an import failed validation; carries every RowError
    ├── StoreError                    the database failed or is out of date
    ├── CredentialError               a secret could not be decrypted or is missing
    ├── ConnectorError                talking to a CRM failed
    │   ├── AuthError                 the CRM refused our credentials (re-connect)
    │   ├── PermissionDenied          a scope or field permission is missing
    │   ├── RateLimited               still rate limited after retries (carries retry_after)
    │   ├── QuotaExhausted            a daily API quota share is spent; the cursor is saved, resume later
    │   └── RemoteError               the CRM answered with an unexpected error
    ├── WebhookError                  an incoming webhook is invalid
    │   └── SignatureError            its signature or timestamp does not verify
    └── EngineError                   the engine was called with impossible arguments (not thin data:
                                      too little data is a result with a status code, never an exception)

The CLI prints ``str(error)`` as one line and exits 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "CredentialError",
    "CsvValidationError",
    "EngineError",
    "FeedbackloopError",
    "InputError",
    "PermissionDenied",
    "QuotaExhausted",
    "RateLimited",
    "RemoteError",
    "RowError",
    "SignatureError",
    "StoreError",
    "UsageError",
    "WebhookError",
]


class FeedbackloopError(Exception):
    """Base of every error feedbackloop raises on purpose; ``str()`` is a message for the user."""


class ConfigError(FeedbackloopError):
    """The configuration is invalid; the message lists every problem at once."""


class UsageError(FeedbackloopError):
    """A command was asked for something that cannot be done as asked."""


class InputError(FeedbackloopError):
    """User-supplied data is invalid."""


@dataclass(frozen=True)
class RowError:
    """One invalid field of one input row, located as ``file:line: field: reason``."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


class CsvValidationError(InputError):
    """Rows of an import failed validation; nothing was written."""

    def __init__(self, errors: list[RowError], total: int, limit: int = 20) -> None:
        self.errors = errors
        self.total = total
        shown = "\n".join(str(e) for e in errors[:limit])
        more = f"\n… and {total - min(limit, len(errors))} more" if total > limit else ""
        super().__init__(
            f"{total} invalid value(s); nothing was imported (use --skip-invalid to import the good rows)\n"
            f"{shown}{more}"
        )


class StoreError(FeedbackloopError):
    """The database failed or its schema is out of date."""


class CredentialError(FeedbackloopError):
    """A stored secret is missing or cannot be decrypted with the configured key."""


class ConnectorError(FeedbackloopError):
    """Talking to a CRM failed."""


class AuthError(ConnectorError):
    """The CRM refused our credentials; re-connect the tenant."""


class PermissionDenied(ConnectorError):
    """A scope, object or field permission is missing."""


class RateLimited(ConnectorError):
    """Still rate limited after all retries."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExhausted(ConnectorError):
    """The configured share of the CRM's daily API quota is spent; resume later from the saved cursor."""


class RemoteError(ConnectorError):
    """The CRM answered with an unexpected error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WebhookError(FeedbackloopError):
    """An incoming webhook is invalid (answered with a 4xx, never stored)."""


class SignatureError(WebhookError):
    """A webhook's signature or timestamp does not verify."""


class EngineError(FeedbackloopError):
    """The engine was called with impossible arguments (a programming error, not thin data)."""
