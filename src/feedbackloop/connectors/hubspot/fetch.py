"""The HubSpot reads the sync needs, each in the largest batch the API allows (reference §1.3, §3, §4).

- deal search: 200 per page, sorted by ``hs_lastmodifieddate`` ascending, closed deals only;
- associations v4 batch read: ≤ 1,000 ids per call, then per-id ``after`` paging for long lists;
- object batch read (emails, companies): ≤ 100 ids per call;
- pipelines, owners, sequence definitions (``/automation/v4/sequences/{id}?userId=``), templates (beta).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from feedbackloop.connectors.hubspot.client import HubSpotClient

__all__ = [
    "ASSOCIATION_BATCH",
    "READ_BATCH",
    "SEARCH_PAGE",
    "Fetcher",
    "SearchPage",
]

SEARCH_PAGE = 200
ASSOCIATION_BATCH = 1000
READ_BATCH = 100
#: What the search API returns at most for one query ("Attempting to page beyond 10,000 … 400").
SEARCH_CAP = 10_000


@dataclass(frozen=True)
class SearchPage:
    """One page of deal search results: ``(id, properties)`` pairs and whether more follow."""

    records: list[tuple[str, dict[str, Any]]]
    has_more: bool


def _raw(send: Callable[[tuple[float, float]], Any]) -> Callable[[tuple[float, float]], dict[str, Any]]:
    """Run an SDK call with ``_preload_content=False`` and parse the JSON ourselves.

    The SDK's model deserialisation costs ~7× the HTTP round trip on a 100-record batch (measured
    against the sandbox); errors still raise the SDK's ``ApiException`` (checked before the body is read).
    """

    def call(timeout: tuple[float, float]) -> dict[str, Any]:
        response = send(timeout)
        try:
            parsed = json.loads(response.data or b"{}")
        finally:
            response.release_conn()
        return parsed if isinstance(parsed, dict) else {}

    return call


def _after(body: dict[str, Any]) -> str | None:
    after = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after else None


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Fetcher:
    """Typed reads over :class:`HubSpotClient` (SDK models in, plain dicts out)."""

    def __init__(self, client: HubSpotClient) -> None:
        self.client = client

    def pipelines(self) -> list[dict[str, Any]]:
        api = self.client.api("crm.pipelines.pipelines_api")
        response = self.client.call(
            "pipelines", lambda t: api.get_all(object_type="deals", _request_timeout=t)
        )
        out = []
        for pipeline in response.results or []:
            stages = [
                {
                    "id": s.id,
                    "label": s.label,
                    "displayOrder": s.display_order,
                    "metadata": dict(s.metadata or {}),
                }
                for s in pipeline.stages or []
            ]
            out.append({"id": pipeline.id, "label": pipeline.label, "stages": stages})
        return out

    def search_deals(self, since_ms: int | None, offset: int, properties: list[str]) -> SearchPage:
        """Closed deals modified at or after ``since_ms``, oldest modification first."""
        filters: list[dict[str, Any]] = [{"propertyName": "hs_is_closed", "operator": "EQ", "value": "true"}]
        if since_ms is not None:
            filters.append({"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(since_ms)})
        return self.search("deals", filters, "hs_lastmodifieddate", offset, properties)

    def search(
        self, object_type: str, filters: list[dict[str, Any]], sort: str, offset: int, properties: list[str]
    ) -> SearchPage:
        """One page (200) of a search with AND-ed ``filters``, sorted ascending by ``sort``."""
        request = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": properties,
            "limit": SEARCH_PAGE,
            "after": str(offset),
        }
        api = self.client.api("crm.deals.search_api" if object_type == "deals" else "crm.objects.search_api")

        def call(t: tuple[float, float]) -> Any:
            if object_type == "deals":
                return api.do_search(
                    public_object_search_request=request, _request_timeout=t, _preload_content=False
                )
            return api.do_search(
                object_type=object_type, public_object_search_request=request, _request_timeout=t
            )

        response = self.client.call(f"{object_type} search", _raw(call), search=True)
        records = [(str(r["id"]), dict(r.get("properties") or {})) for r in response.get("results") or []]
        return SearchPage(records, bool(_after(response)))

    def associations(self, from_type: str, to_type: str, ids: Iterable[str]) -> dict[str, list[str]]:
        """``from id → [to ids]`` for every id (absent ids have none), paging long lists per id."""
        api = self.client.api("crm.associations.v4.batch_api")
        out: dict[str, list[str]] = {}
        pending: list[tuple[str, str | None]] = [(i, None) for i in dict.fromkeys(ids)]
        while pending:
            chunk, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
            # Plain dicts, not SDK models: each model instance builds a Configuration (measured: ~0.3 ms)
            body = {"inputs": [{"id": i, **({"after": a} if a else {})} for i, a in chunk]}

            def page(t: tuple[float, float], body: Any = body) -> Any:
                return api.get_page(
                    from_object_type=from_type,
                    to_object_type=to_type,
                    batch_input_public_fetch_associations_batch_request=body,
                    _request_timeout=t,
                    _preload_content=False,
                )

            response = self.client.call(f"associations {from_type}→{to_type}", _raw(page))
            for result in response.get("results") or []:
                source = str(result["from"]["id"])
                targets = out.setdefault(source, [])
                targets.extend(str(link["toObjectId"]) for link in result.get("to") or [])
                after = _after(result)
                if after:
                    pending.append((source, after))
        return out

    def batch_read(
        self, object_type: str, ids: Iterable[str], properties: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Properties of each id (missing ids are left out), 100 ids per call."""
        api = self.client.api("crm.objects.batch_api")
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), READ_BATCH):
            body = {"inputs": [{"id": i} for i in chunk], "properties": properties}

            def read(t: tuple[float, float], body: Any = body) -> Any:
                return api.read(
                    object_type=object_type,
                    batch_read_input_simple_public_object_id=body,
                    _request_timeout=t,
                    _preload_content=False,
                )

            response = self.client.call(f"{object_type} batch read", _raw(read))
            for record in response.get("results") or []:
                out[str(record["id"])] = dict(record.get("properties") or {})
        return out

    def owners(self) -> dict[str, str]:
        """Owner id → HubSpot user id (the ``userId`` the sequences API asks for)."""
        api = self.client.api("crm.owners.owners_api")
        out: dict[str, str] = {}
        after: str | None = None
        while True:

            def page(t: tuple[float, float], after: str | None = after) -> Any:
                return api.get_page(limit=500, after=after, _request_timeout=t)

            response = self.client.call("owners", page)
            for owner in response.results or []:
                if owner.user_id is not None:
                    out[str(owner.id)] = str(owner.user_id)
            paging = getattr(response, "paging", None)
            after = paging.next.after if paging and getattr(paging, "next", None) else None
            if not after:
                return out

    def sequence(self, sequence_id: str, user_id: str) -> dict[str, Any]:
        return self.client.request_json(
            "sequence", "GET", f"/automation/v4/sequences/{sequence_id}", qs={"userId": user_id}
        )

    def templates(self) -> dict[str, dict[str, Any]]:
        """Sales email templates (beta API, ``sales-templates-public-read``) by id."""
        out: dict[str, dict[str, Any]] = {}
        after: str | None = None
        while True:
            qs = {"limit": 100, **({"after": after} if after else {})}
            body = self.client.request_json(
                "templates", "GET", "/automation/email-templates/2026-09-beta", qs=qs
            )
            for row in body.get("results") or []:
                out[str(row.get("id"))] = row
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    def properties(self, object_type: str) -> set[str]:
        api = self.client.api("crm.properties.core_api")
        response = self.client.call(
            f"{object_type} properties", lambda t: api.get_all(object_type=object_type, _request_timeout=t)
        )
        return {str(p.name) for p in response.results or []}
