"""Which OAuth scopes each emulated endpoint needs (any one of them), from the security blocks of
HubSpot's specs (reference §9.4). The private-app token has every scope; an OAuth token only those
granted at ``/oauth/authorize``, so a connector that forgets a scope fails here as it would for real.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["required_scopes"]

_EMAIL_READ = ["crm.objects.contacts.read", "sales-email-read", "crm.objects.emails.read"]
_EMAIL_WRITE = ["crm.objects.contacts.write", "sales-email-read", "crm.objects.emails.write"]


def _singular_object(type_: str) -> str:
    return "custom" if type_.startswith("2-") else type_


def _objects(type_: str, write: bool) -> list[str]:
    if type_ == "emails":
        return _EMAIL_WRITE if write else _EMAIL_READ
    name = _singular_object(type_)
    return (
        [f"crm.objects.{name}.write"] if write else [f"crm.objects.{name}.read", f"crm.objects.{name}.write"]
    )


def _schemas(type_: str, write: bool) -> list[str]:
    name = _singular_object(type_)
    if write:
        return [f"crm.schemas.{name}.write"]
    return [f"crm.schemas.{name}.read", f"crm.schemas.{name}.write", *_objects(type_, write=False)]


def required_scopes(method: str, rule: str, args: dict[str, str], resolve: Callable[[str], str]) -> list[str]:
    """Any-of scopes for one request; empty when the endpoint needs none (or the route will reject it)."""
    write = method in ("PATCH", "PUT", "DELETE") or (
        method == "POST" and not rule.endswith(("/search", "/batch/read"))
    )
    try:
        if rule.startswith("/crm/v3/objects/"):
            return _objects(resolve(args["objectType"]), write)
        if rule.startswith("/crm/v3/properties/"):
            return _schemas(resolve(args["objectType"]), write)
        if rule.startswith("/crm/v3/pipelines/"):
            return _objects(resolve(args["objectType"]), write=False)
        if rule.startswith("/crm/v4/associations/"):
            return [
                *_objects(resolve(args["fromObjectType"]), False),
                *_objects(resolve(args["toObjectType"]), False),
            ]
        if rule.startswith("/crm/v4/objects/"):
            return [
                *_objects(resolve(args["objectType"]), False),
                *_objects(resolve(args["toObjectType"]), False),
            ]
    except Exception:  # an unknown object type: the route answers 400/403 itself
        return []
    if rule.startswith("/crm-object-schemas/"):
        return (
            ["crm.schemas.custom.write"] if write else ["crm.schemas.custom.read", "crm.objects.custom.read"]
        )
    if rule.startswith("/automation/v4/sequences"):
        return ["automation.sequences.read"]
    if rule.startswith("/automation/email-templates/"):
        return ["sales-templates-public-read"]
    if rule.startswith("/crm/v3/owners"):
        return ["crm.objects.owners.read"]
    return []
