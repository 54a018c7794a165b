"""``POST /crm/v3/objects/{objectType}/search``: filter groups, one sort, offset paging and the 10k cap.

Semantics follow HubSpot's search guide (reference §1.3): groups are OR'ed, filters in a group AND'ed;
enumeration values match case-sensitively, text case-insensitively; dates take ms epochs or ISO strings.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from feedbackloop.sandbox.hubspot.portal import Portal
from feedbackloop.sandbox.hubspot.properties import PropertyDef
from feedbackloop.sandbox.hubspot.records import Record
from feedbackloop.sandbox.hubspot.wire import HubSpotError, parse_time_ms

__all__ = ["SEARCH_DEFAULTS", "search"]

SEARCH_DEFAULTS = {
    "deals": [
        "dealname",
        "amount",
        "closedate",
        "pipeline",
        "dealstage",
        "createdate",
        "hs_lastmodifieddate",
    ],
    "contacts": ["firstname", "lastname", "email", "createdate", "lastmodifieddate"],
    "companies": ["name", "domain", "createdate", "hs_lastmodifieddate"],
    "emails": ["hs_createdate", "hs_lastmodifieddate"],
}
QUERY_FIELDS = {
    "deals": ["dealname", "pipeline", "dealstage", "description", "dealtype"],
    "emails": ["hs_email_subject"],
    "contacts": ["firstname", "lastname", "email", "company"],
    "companies": ["name", "domain"],
}
OPERATORS = {
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
    "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
}  # fmt: skip
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS, MAX_LIMIT, MAX_QUERY_CHARS = 5, 6, 18, 200, 3000


def _invalid(message: str) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR")


def _comparable(prop: PropertyDef, text: str) -> Any:
    if prop.type in ("number",):
        try:
            return float(text)
        except ValueError:
            return None
    if prop.type in ("date", "datetime"):
        return parse_time_ms(text)
    if prop.type == "enumeration":
        return text
    return text.lower()


class _Filter:
    def __init__(self, portal: Portal, type_: str, raw: dict[str, Any]) -> None:
        self.name = str(raw.get("propertyName", ""))
        self.op = str(raw.get("operator", "EQ"))
        if self.op not in OPERATORS:
            raise _invalid(f"Invalid operator {self.op!r}; allowed: {sorted(OPERATORS)}")
        self.portal, self.type_ = portal, type_
        self.assoc = self.name.startswith("associations.")
        self.prop: PropertyDef | None = None
        if not self.assoc:
            self.prop = portal.registry(type_).get(self.name)
            if self.prop is None:
                raise HubSpotError(
                    400,
                    f"There was a problem with the request: property {self.name} does not exist",
                    "VALIDATION_ERROR",
                    errors=[
                        {"message": f"Property {self.name} does not exist", "code": "PROPERTY_DOESNT_EXIST"}
                    ],
                )
        value, high, values = raw.get("value"), raw.get("highValue"), raw.get("values")
        if self.op in ("IN", "NOT_IN") and not isinstance(values, list):
            raise _invalid(f"operator {self.op} needs 'values'")
        if self.op == "BETWEEN" and (value is None or high is None):
            raise _invalid("operator BETWEEN needs 'value' and 'highValue'")
        if self.op not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY") and value is None:
            raise _invalid(f"operator {self.op} needs 'value'")
        self.value = self._cmp(str(value)) if value is not None else None
        self.high = self._cmp(str(high)) if high is not None else None
        self.values = [self._cmp(str(v), lower=False) for v in values or []]
        self.raw_value = str(value) if value is not None else ""

    def _cmp(self, text: str, lower: bool = True) -> Any:
        if self.prop is None:
            return text
        if not lower and self.prop.type == "string":
            return text  # IN on text: HubSpot wants lowercase values and compares them as given
        return _comparable(self.prop, text)

    def matches(self, record: Record) -> bool:
        if self.assoc:
            target = self.name.split(".", 1)[1]
            to_type = self.portal.resolve_type(target)
            linked = self.portal.built().associations.targets(self.type_, record.id, to_type)
            return (self.raw_value in linked) == (self.op != "NEQ")
        assert self.prop is not None
        raw = record.props.get(self.name)
        present = raw is not None and raw != ""
        op = self.op
        if op == "HAS_PROPERTY":
            return present
        if op == "NOT_HAS_PROPERTY":
            return not present
        if not present:
            return op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN")
        assert raw is not None
        mine = _comparable(self.prop, raw)
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            pattern = self.raw_value.lower()
            found = any(fnmatch.fnmatchcase(tok, pattern) for tok in raw.lower().split())
            return found == (op == "CONTAINS_TOKEN")
        if op in ("IN", "NOT_IN"):
            return (mine in self.values) == (op == "IN")
        if mine is None or self.value is None:
            return op == "NEQ"
        try:
            if op == "EQ":
                return bool(mine == self.value)
            if op == "NEQ":
                return bool(mine != self.value)
            if op == "LT":
                return bool(mine < self.value)
            if op == "LTE":
                return bool(mine <= self.value)
            if op == "GT":
                return bool(mine > self.value)
            if op == "GTE":
                return bool(mine >= self.value)
            return bool(self.value <= mine <= self.high)  # BETWEEN
        except TypeError:
            return False


def _query_match(record: Record, fields: list[str], words: list[str]) -> bool:
    tokens = [t for f in fields for t in (record.props.get(f) or "").lower().split()]
    return all(any(t.startswith(w) for t in tokens) for w in words)


def search(portal: Portal, type_: str, body: dict[str, Any]) -> dict[str, Any]:
    """The ``CollectionResponseWithTotalSimplePublicObject`` answer to one search request."""
    groups = body.get("filterGroups") or []
    if len(groups) > MAX_GROUPS:
        raise _invalid(f"Too many filter groups ({len(groups)}); the maximum is {MAX_GROUPS}.")
    if any(len(g.get("filters") or []) > MAX_FILTERS_PER_GROUP for g in groups):
        raise _invalid(f"Too many filters in a group; the maximum is {MAX_FILTERS_PER_GROUP}.")
    if sum(len(g.get("filters") or []) for g in groups) > MAX_FILTERS:
        raise _invalid(f"Too many filters; the maximum is {MAX_FILTERS} in total.")
    sorts = body.get("sorts") or []
    if len(sorts) > 1:
        raise _invalid("Only one sort is allowed per search.")
    limit = int(body.get("limit") or 10)
    if not 0 < limit <= MAX_LIMIT:
        raise _invalid(f"limit must be between 1 and {MAX_LIMIT}")
    try:
        after = int(body.get("after") or 0)
    except ValueError:
        raise _invalid("The value of 'after' must be an integer.") from None
    query = str(body.get("query") or "")
    if len(query) > MAX_QUERY_CHARS:
        raise _invalid(f"The query may not exceed {MAX_QUERY_CHARS} characters.")
    cap = portal.options.search_result_cap
    if after + limit > cap:
        raise _invalid(f"Paging past {cap} results is not allowed: after + limit must be at most {cap}.")

    parsed = [[_Filter(portal, type_, f) for f in g.get("filters") or []] for g in groups]
    records = [r for r in portal.table(type_).ordered() if not r.archived]
    if parsed:
        records = [r for r in records if any(all(f.matches(r) for f in g) for g in parsed)]
    if query:
        words = query.lower().split()
        records = [r for r in records if _query_match(r, QUERY_FIELDS.get(type_, []), words)]
    if sorts:
        sort = sorts[0] if isinstance(sorts[0], dict) else {"propertyName": str(sorts[0]).lstrip("-")}
        if isinstance(sorts[0], str) and sorts[0].startswith("-"):
            sort["direction"] = "DESCENDING"  # the string form: "-createdate"
        name = str(sort.get("propertyName", ""))
        prop = portal.registry(type_).get(name)
        if prop is None:
            raise _invalid(f"Cannot sort on unknown property {name}")
        descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
        records.sort(key=lambda r: int(r.id), reverse=descending)
        records.sort(key=lambda r: prop.sort_key(r.props.get(name)), reverse=descending)

    page = records[after : after + limit]
    asked = body.get("properties") or SEARCH_DEFAULTS.get(type_, [])
    always = (
        ["hs_object_id", *SEARCH_DEFAULTS[type_][-2:]]
        if type_ in SEARCH_DEFAULTS
        else ["hs_object_id", "hs_createdate", "hs_lastmodifieddate"]
    )
    names = list(dict.fromkeys([*asked, *always]))
    out: dict[str, Any] = {"total": len(records), "results": [portal.render(type_, r, names) for r in page]}
    if after + limit < len(records):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return out
