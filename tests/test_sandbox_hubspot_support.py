"""Shared helpers of the HubSpot sandbox tests: a served sandbox, the SDK client, OpenAPI validation."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
from hubspot import HubSpot

from feedbackloop.sandbox.hubspot import HubSpotOptions, create_hubspot_app, sandbox_of
from feedbackloop.sandbox.hubspot.app import HubSpotSandbox
from feedbackloop.sandbox.serving import RunningServer
from feedbackloop.sandbox.world import World, WorldConfig, generate_world

SPEC_DIR = next(
    (
        p
        for p in (
            Path("/work/shared/reference/hubspot-openapi"),
            Path(__file__).parents[2] / "shared/reference/hubspot-openapi",
        )
        if p.is_dir()
    ),
    Path("/work/shared/reference/hubspot-openapi"),
)
FAST = {"burst_limit": 100_000, "search_limit": 100_000}


def make_world(deals: int = 60) -> World:
    """A small simulated world: quick to generate, still with every kind of record."""
    return generate_world(WorldConfig(seed=1, deals=deals, templates=8, owners=3))


@contextmanager
def served(world: Any, **options: Any) -> Iterator[tuple[str, HubSpotSandbox]]:
    """The sandbox app over real HTTP on a free loopback port."""
    app = create_hubspot_app(world, HubSpotOptions(**options))
    server = RunningServer(app).start()
    try:
        yield server.url, sandbox_of(app)
    finally:
        server.stop()
        sandbox_of(app).close()


def sdk(url: str, token: str = "sandbox-token") -> HubSpot:
    """The official client pointed at the sandbox (``base_url`` too, for ``api_request``)."""
    return HubSpot(access_token=token, host=url, base_url=url)


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects → JSON Schema: ``nullable`` becomes a ``null`` type."""
    if isinstance(node, dict):
        out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") and "type" in node:
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [_openapi_to_jsonschema(v) for v in node]
    return node


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    raw = json.loads((SPEC_DIR / f"{name}.json").read_text())
    doc = dict(_openapi_to_jsonschema(copy.deepcopy(raw)))
    # The specs type property values as strings, but HubSpot answers a requested property that has no
    # value with null (reference §1.1, from the deals guide): allow exactly that, nothing else.
    for schema_name, schema in doc.get("components", {}).get("schemas", {}).items():
        values = schema.get("properties", {}).get("properties", {}).get("additionalProperties")
        if (
            schema_name.startswith("SimplePublic")
            and isinstance(values, dict)
            and values.get("type") == "string"
        ):
            values["type"] = ["string", "null"]
    return doc


def response_schema(spec: str, path: str, method: str, status: int) -> str:
    """The component name HubSpot's spec declares for one response."""
    op = _spec(spec)["paths"][path][method.lower()]
    content = op["responses"][str(status)]["content"]
    ref = next(iter(content.values()))["schema"]["$ref"]
    return str(ref.rsplit("/", 1)[-1])


def validate(spec: str, schema: str, body: Any) -> None:
    """Validate ``body`` against ``components/schemas/<schema>`` of one of HubSpot's OpenAPI specs."""
    doc = _spec(spec)
    assert schema in doc["components"]["schemas"], schema
    root = {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    jsonschema.Draft202012Validator(
        root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(body)


def validate_last(api: Any, spec: str, path: str, method: str, status: int = 200) -> Any:
    """Validate the raw body the SDK just received (``api_client.last_response``) against the spec."""
    response = api.api_client.last_response
    assert response.status == status, (response.status, response.data[:300])
    body = json.loads(response.data)
    validate(spec, response_schema(spec, path, method, status), body)
    return body
