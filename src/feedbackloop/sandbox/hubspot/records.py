"""In-memory CRM records of the emulated portal: objects, associations and HubSpot-style ids."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "ASSOCIATION_TYPES",
    "OBJECT_TYPE_IDS",
    "SINGULAR",
    "AssociationIndex",
    "IdMap",
    "ObjectTable",
    "Record",
]

OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "emails": "0-49"}

SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "emails": "email"}

# HubSpot-defined association type ids (reference §3): (from, to) -> [(typeId, label)].
ASSOCIATION_TYPES: dict[tuple[str, str], list[tuple[int, str | None]]] = {
    ("deals", "contacts"): [(3, None)],
    ("contacts", "deals"): [(4, None)],
    ("deals", "companies"): [(5, "Primary"), (341, None)],
    ("companies", "deals"): [(6, "Primary"), (342, None)],
    ("contacts", "companies"): [(1, "Primary"), (279, None)],
    ("companies", "contacts"): [(2, "Primary"), (280, None)],
    ("deals", "emails"): [(209, None)],
    ("emails", "deals"): [(210, None)],
    ("contacts", "emails"): [(197, None)],
    ("emails", "contacts"): [(198, None)],
}


@dataclass
class Record:
    """One CRM object: property values are strings (or None), times are ms since the epoch."""

    id: str
    created: int
    updated: int
    props: dict[str, str | None]
    archived: bool = False
    history: dict[str, list[tuple[str | None, int]]] | None = None  # oldest first, e.g. dealstage


@dataclass
class ObjectTable:
    """The records of one object type, in creation order (the order of an unsorted search)."""

    by_id: dict[str, Record] = field(default_factory=dict)
    _orders: dict[str, list[Record]] = field(default_factory=dict, repr=False)

    def add(self, record: Record) -> None:
        self.by_id[record.id] = record
        self._orders.clear()

    def update(self, records: dict[str, Record]) -> None:
        self.by_id.update(records)
        self._orders.clear()

    def ordered(self) -> list[Record]:
        """By creation time (then id): the order of an unsorted search. Cached until a record is added."""
        if "created" not in self._orders:
            self._orders["created"] = sorted(self.by_id.values(), key=lambda r: (r.created, int(r.id)))
        return self._orders["created"]

    def by_id_order(self) -> list[Record]:
        """By numeric id: the order of list paging (``after`` is the next id)."""
        if "id" not in self._orders:
            self._orders["id"] = sorted(self.by_id.values(), key=lambda r: int(r.id))
        return self._orders["id"]


class AssociationIndex:
    """Associations between records, both directions, with their HubSpot type ids."""

    def __init__(self) -> None:
        self._links: dict[tuple[str, str], dict[str, list[str]]] = {}

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        forward = self._links.get((from_type, to_type))
        if forward is None:
            forward = self._links[(from_type, to_type)] = {}
            self._links[(to_type, from_type)] = {}
        backward = self._links[(to_type, from_type)]
        targets = forward.get(from_id)
        if targets is None:
            forward[from_id] = [to_id]
        else:
            targets.append(to_id)
        sources = backward.get(to_id)
        if sources is None:
            backward[to_id] = [from_id]
        else:
            sources.append(from_id)

    def targets(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        return self._links.get((from_type, to_type), {}).get(from_id, [])

    @staticmethod
    def types(from_type: str, to_type: str) -> list[dict[str, Any]]:
        """The ``associationTypes`` of one link, as the v4 API shows them."""
        out: list[dict[str, Any]] = []
        for type_id, label in ASSOCIATION_TYPES.get((from_type, to_type), [(1, None)]):
            spec: dict[str, Any] = {"category": "HUBSPOT_DEFINED", "typeId": type_id}
            if label is not None:
                spec["label"] = label
            out.append(spec)
        return out

    @staticmethod
    def v3_type(from_type: str, to_type: str) -> str:
        """The v3 ``associations`` type name, e.g. ``deal_to_contact``."""
        return f"{SINGULAR.get(from_type, from_type)}_to_{SINGULAR.get(to_type, to_type)}"


class IdMap:
    """Numeric HubSpot ids for the world's ids: digit-only ids are kept, others get a stable number."""

    BASES: ClassVar[dict[str, int]] = {
        "company": 10_000_000_000,
        "contact": 20_000_000_000,
        "deal": 30_000_000_000,
        "email": 40_000_000_000,
        "owner": 500_000_000,
        "sequence": 600_000_000,
        "template": 700_000_000,
        "user": 800_000_000,
    }

    def __init__(self) -> None:
        self._forward: dict[tuple[str, str], str] = {}
        self._backward: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def hs(self, kind: str, world_id: Any) -> str | None:
        if world_id is None or (isinstance(world_id, float) and math.isnan(world_id)):
            return None
        text = str(world_id)
        if text.isdigit():
            return text
        key = (kind, text)
        found = self._forward.get(key)
        if found is None:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            found = str(self.BASES[kind] + self._counts[kind])
            self._forward[key] = found
            self._backward[(kind, found)] = text
        return found

    def world(self, kind: str, hs_id: str) -> str:
        return self._backward.get((kind, hs_id), hs_id)
