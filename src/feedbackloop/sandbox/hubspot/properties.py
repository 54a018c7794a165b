"""Property definitions and groups of a portal, and validation of written values against them.

Only properties that really exist in HubSpot (reference §1.5, §2.2-2.3) are defined by default; the
portal's own custom property ``competitor`` stands for the custom fields every real portal has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from feedbackloop.sandbox.hubspot.wire import iso_from_ms, parse_time_ms

__all__ = ["PropertyDef", "PropertyRegistry", "default_registry", "value_error"]

VALID_FIELD_TYPES = {
    "bool": {"booleancheckbox", "calculation_equation"},
    "enumeration": {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "string": {"text", "textarea", "html", "phonenumber", "file", "calculation_equation"},
    "number": {"number", "calculation_equation"},
    "phone_number": {"phonenumber"},
}


@dataclass
class PropertyDef:
    """One property of one object type, as ``GET /crm/v3/properties/{objectType}`` shows it."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    calculated: bool = False
    read_only: bool = False
    hubspot_defined: bool = True
    has_unique_value: bool = False
    hidden: bool = False
    display_order: int = -1
    created_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only or self.calculated,
            },
            "formField": False,
            "createdAt": iso_from_ms(self.created_ms),
            "updatedAt": iso_from_ms(self.created_ms),
            "archived": False,
            "dataSensitivity": "non_sensitive",
        }

    def sort_key(self, value: str | None) -> tuple[int, Any]:
        """Ordering key of a stored value (numbers and dates numerically, text case-insensitively)."""
        if value is None or value == "":
            return (1, 0)
        if self.type in ("number", "date", "datetime"):
            number = parse_time_ms(value) if self.type != "number" else _float(value)
            return (0, number if number is not None else math.inf)
        return (0, value.lower())


def _float(value: str) -> float | None:
    """A finite number, or None ("nan" and "inf" are not numbers to HubSpot)."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def value_error(prop: PropertyDef, value: Any) -> str | None:
    """Why ``value`` cannot be written to ``prop`` (None when it can); empty strings clear a value."""
    if prop.read_only or prop.calculated:
        return f'"{prop.name}" is a read only property; its value cannot be set.'
    if value is None or value == "":
        return None
    text = str(value)
    if prop.type == "number" and _float(text) is None:
        return f'"{text}" was not a valid number.'
    if prop.type == "bool" and text.lower() not in ("true", "false"):
        return f'"{text}" was not a valid boolean (true or false).'
    if prop.type in ("date", "datetime") and parse_time_ms(text) is None:
        return f'"{text}" was not a valid date or datetime.'
    if prop.type == "enumeration":
        allowed = {str(o["value"]) for o in prop.options}
        chosen = text.split(";") if prop.field_type == "checkbox" else [text]
        bad = [v for v in chosen if v not in allowed]
        if bad:
            return f'"{bad[0]}" was not one of the allowed options: {sorted(allowed)}'
    if prop.type == "string" and len(text) > 65_536:
        return "a string value may not exceed 65536 characters."
    return None


def normalise_value(prop: PropertyDef, value: Any) -> str | None:
    """How HubSpot stores a written value: dates as ISO strings, everything else as the string given."""
    if value is None or value == "":
        return None
    text = str(value)
    if prop.type in ("date", "datetime"):
        number = parse_time_ms(text)
        return iso_from_ms(int(number)) if number is not None else text
    if prop.type == "bool":
        return text.lower()
    return text


class PropertyRegistry:
    """Groups and properties of one object type; created ones are kept until reset."""

    def __init__(self, groups: dict[str, str]) -> None:
        self.groups: dict[str, dict[str, Any]] = {
            name: {"name": name, "label": label, "displayOrder": i, "archived": False}
            for i, (name, label) in enumerate(groups.items())
        }
        self.props: dict[str, PropertyDef] = {}

    def add(self, prop: PropertyDef) -> None:
        self.props[prop.name] = prop

    def get(self, name: str) -> PropertyDef | None:
        return self.props.get(name)

    def names(self) -> list[str]:
        return list(self.props)


def _opts(values: list[str], labels: list[str] | None = None) -> list[dict[str, Any]]:
    labels = labels or values
    return [
        {"label": label, "value": value, "displayOrder": i, "hidden": False}
        for i, (value, label) in enumerate(zip(values, labels, strict=True))
    ]


def _p(name: str, label: str, type_: str, field_type: str, group: str, **kw: Any) -> PropertyDef:
    return PropertyDef(name=name, label=label, type=type_, field_type=field_type, group_name=group, **kw)


def default_registry(
    object_type: str,
    *,
    stages: list[tuple[str, str]] | None = None,
    owners: list[str] | None = None,
    currencies: list[str] | None = None,
    missing: tuple[str, ...] = (),
) -> PropertyRegistry:
    """The standard properties of a deals / emails / contacts / companies object in a fresh portal."""
    owner_opts = _opts(owners or [])
    if object_type == "deals":
        reg = PropertyRegistry({"dealinformation": "Deal information"})
        g = "dealinformation"
        defs = [
            _p("dealname", "Deal Name", "string", "text", g),
            _p("amount", "Amount", "number", "number", g),
            _p("deal_currency_code", "Currency", "enumeration", "select", g, options=_opts(currencies or [])),
            _p("closedate", "Close Date", "datetime", "date", g),
            _p("createdate", "Create Date", "datetime", "date", g),
            _p("pipeline", "Pipeline", "enumeration", "select", g, options=_opts(["default"], ["Sales"])),
            _p(
                "dealstage",
                "Deal Stage",
                "enumeration",
                "radio",
                g,
                options=_opts([s for s, _ in stages or []], [label for _, label in stages or []]),
            ),
            _p("dealtype", "Deal Type", "enumeration", "radio", g, options=_opts(["newbusiness"])),
            _p("description", "Deal Description", "string", "textarea", g),
            _p("hubspot_owner_id", "Deal owner", "enumeration", "select", g, options=owner_opts),
            _p("closed_lost_reason", "Closed Lost Reason", "string", "textarea", g),
            _p("closed_won_reason", "Closed Won Reason", "string", "textarea", g),
            _p("hs_analytics_source", "Original Source Type", "string", "text", g, read_only=True),
            _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", g, read_only=True),
            _p("hs_object_id", "Record ID", "number", "number", g, read_only=True),
            _p("hs_is_closed", "Is Deal Closed?", "bool", "calculation_equation", g, calculated=True),
            _p("hs_is_closed_won", "Is Closed Won", "bool", "calculation_equation", g, calculated=True),
            _p("hs_is_closed_lost", "Is Closed Lost", "bool", "calculation_equation", g, calculated=True),
            _p("hs_deal_stage_probability", "Deal probability", "number", "number", g, calculated=True),
            _p("hs_closed_won_date", "Closed Won Date (Internal)", "datetime", "date", g, calculated=True),
            _p("days_to_close", "Days to close", "number", "calculation_equation", g, calculated=True),
            _p(
                "hs_v2_date_entered_current_stage",
                "Date entered current stage",
                "datetime",
                "date",
                g,
                calculated=True,
            ),
            _p("competitor", "Competitor", "string", "text", g, hubspot_defined=False),
        ]
        for stage_id, label in stages or []:
            defs.append(
                _p(
                    f"hs_v2_date_entered_{stage_id}",
                    f'Date entered "{label} (Sales Pipeline)"',
                    "datetime",
                    "date",
                    g,
                    calculated=True,
                )
            )
    elif object_type == "emails":
        reg = PropertyRegistry({"emailinformation": "Email information"})
        g = "emailinformation"
        defs = [
            _p("hs_timestamp", "Activity date", "datetime", "date", g),
            _p("hs_email_subject", "Email subject", "string", "text", g),
            _p("hs_email_text", "Email body", "string", "textarea", g),
            _p("hs_email_html", "Email HTML body", "string", "html", g),
            _p(
                "hs_email_direction",
                "Email direction",
                "enumeration",
                "select",
                g,
                options=_opts(["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"]),
            ),
            _p(
                "hs_email_status",
                "Email send status",
                "enumeration",
                "select",
                g,
                options=_opts(["BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"]),
            ),
            _p("hubspot_owner_id", "Activity assigned to", "enumeration", "select", g, options=owner_opts),
            _p("hs_email_thread_id", "Email thread ID", "string", "text", g, read_only=True),
            _p("hs_email_from_email", "From", "string", "text", g, read_only=True),
            _p("hs_email_to_email", "To", "string", "text", g, read_only=True),
            _p("hs_in_reply_to_engagement_id", "In reply to", "number", "number", g, read_only=True),
            _p("hs_createdate", "Created at", "datetime", "date", g, read_only=True),
            _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", g, read_only=True),
            _p("hs_object_id", "Record ID", "number", "number", g, read_only=True),
            _p("hs_sequence_id", "Sequence ID", "string", "text", g, read_only=True),
            _p("hs_template_id", "Template ID", "string", "text", g, read_only=True),
            _p("hs_email_sent_count", "Sent count", "number", "number", g, calculated=True),
            _p("hs_email_open_count", "Open count", "number", "number", g, calculated=True),
            _p("hs_email_click_count", "Click count", "number", "number", g, calculated=True),
            _p("hs_email_reply_count", "Reply count", "number", "number", g, calculated=True),
        ]
        defs = [d for d in defs if d.name not in missing]
    elif object_type == "contacts":
        reg = PropertyRegistry({"contactinformation": "Contact information"})
        g = "contactinformation"
        defs = [
            _p("firstname", "First Name", "string", "text", g),
            _p("lastname", "Last Name", "string", "text", g),
            _p("email", "Email", "string", "text", g, has_unique_value=True),
            _p("company", "Company Name", "string", "text", g),
            _p("associatedcompanyid", "Primary Associated Company ID", "number", "number", g),
            _p("hubspot_owner_id", "Contact owner", "enumeration", "select", g, options=owner_opts),
            _p("createdate", "Create Date", "datetime", "date", g),
            _p("lastmodifieddate", "Last Modified Date", "datetime", "date", g, read_only=True),
            _p("hs_object_id", "Record ID", "number", "number", g, read_only=True),
        ]
    elif object_type == "companies":
        reg = PropertyRegistry({"companyinformation": "Company information"})
        g = "companyinformation"
        defs = [
            _p("name", "Company name", "string", "text", g),
            _p("domain", "Company Domain Name", "string", "text", g),
            _p("industry", "Industry", "string", "text", g),
            _p("numberofemployees", "Number of Employees", "number", "number", g),
            _p("createdate", "Create Date", "datetime", "date", g),
            _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", g, read_only=True),
            _p("hs_object_id", "Record ID", "number", "number", g, read_only=True),
        ]
    else:
        raise ValueError(object_type)
    for i, d in enumerate(defs):
        d.display_order = i
        reg.add(d)
    return reg
