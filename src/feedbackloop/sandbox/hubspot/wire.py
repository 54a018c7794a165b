"""HubSpot's wire conventions: error bodies, timestamps as ISO strings with milliseconds, ids."""

from __future__ import annotations

import functools
import json
import time
import uuid
from typing import Any

import pandas as pd
from flask import Response, jsonify, request

__all__ = [
    "HubSpotError",
    "error_response",
    "iso",
    "iso_from_ms",
    "json_body",
    "ms",
    "parse_time_ms",
    "standard_error",
]


class HubSpotError(Exception):
    """An API answer other than success, raised by views and turned into HubSpot's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str = "VALIDATION_ERROR",
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body() -> dict[str, Any]:
    """The request's JSON object, strictly: NaN / Infinity and non-objects are a 400 as in HubSpot."""
    try:
        body = json.loads(request.get_data(), parse_constant=_no_constants)
    except ValueError as exc:
        raise HubSpotError(400, f"Invalid input JSON on line 1: {exc}") from None
    if not isinstance(body, dict):
        raise HubSpotError(400, "Invalid input JSON: the body must be a JSON object.")
    return body


def error_response(exc: HubSpotError) -> Response:
    response = jsonify(exc.body())
    response.status_code = exc.status
    for key, value in exc.headers.items():
        response.headers[key] = value
    return response


def standard_error(
    message: str, category: str, context: dict[str, list[str]], code: str | None = None
) -> dict[str, Any]:
    """One entry of a batch answer's ``errors`` (the spec's ``StandardError``)."""
    detail: dict[str, Any] = {"message": message}
    if code:
        detail["code"] = code
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [detail],
        "links": {},
    }


def ms(value: Any) -> int | None:
    """Milliseconds since the epoch of a pandas/datetime value; None for missing values."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value // 1_000_000)


def iso_from_ms(value: int | None) -> str | None:
    """HubSpot's timestamp format: ``2024-05-01T12:00:00.123Z``."""
    if value is None:
        return None
    seconds, millis = divmod(int(value), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def iso(value: Any) -> str | None:
    return iso_from_ms(ms(value))


@functools.lru_cache(maxsize=262_144)
def parse_time_ms(text: str) -> float | None:
    """A filter value for a date property: ms epoch digits or an ISO-8601 string (both are accepted)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return float(ts.value // 1_000_000)
