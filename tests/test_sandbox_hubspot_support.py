"""Shared helpers of the HubSpot sandbox tests: a served sandbox, the SDK client, OpenAPI validation."""

from __future__ import annotations

import copy
import functools
import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
from hubspot import HubSpot

from feedbackloop.sandbox.hubspot import HubSpotOptions, create_hubspot_app, sandbox_of
from feedbackloop.sandbox.hubspot.app import HubSpotSandbox
from feedbackloop.sandbox.serving import RunningServer

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


def make_world(deals: int = 60) -> Any:
    """A small simulated world (the real generator when it is available)."""
    try:
        module = importlib.import_module("feedbackloop.sandbox.world")
    except ImportError:
        return FakeWorld(deals)
    return module.generate_world(module.WorldConfig(seed=1, deals=deals))


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
    return dict(_openapi_to_jsonschema(copy.deepcopy(raw)))


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


# --- temporary stand-in until feedbackloop.sandbox.world lands ---


@dataclass
class Advance:
    start: pd.Timestamp
    end: pd.Timestamp
    closed_deal_ids: list[str] = field(default_factory=list)
    new_deal_ids: list[str] = field(default_factory=list)
    changed_deal_ids: list[str] = field(default_factory=list)


class FakeWorld:
    def __init__(self, deals: int = 60, seed: int = 1) -> None:
        self.n, self.seed = deals, seed
        self.t0 = pd.Timestamp("2026-06-01", tz="UTC")
        self.reset()

    def reset(self) -> None:
        self.now = self.t0
        rng = np.random.default_rng(self.seed)
        self.close_day = {f"D{i:04d}": float(rng.uniform(5, 120)) for i in range(self.n * 2)}
        self.won = {k: bool(rng.random() < 0.4) for k in self.close_day}

    def _created(self, i: int) -> pd.Timestamp:
        return self.t0 - pd.Timedelta(days=200) + pd.Timedelta(days=i * 200 / self.n)

    def _deal_ids(self) -> Any:
        return [f"D{i:04d}" for i in range(self.n * 2) if self._created(i) <= self.now]

    def companies_frame(self) -> Any:
        return pd.DataFrame(
            {
                "company_id": [f"C{i}" for i in range(10)],
                "name": [f"Co {i}" for i in range(10)],
                "domain": [f"co{i}.example" for i in range(10)],
                "industry": ["software"] * 10,
                "employees": [10 * (i + 1) for i in range(10)],
                "segment": ["smb"] * 10,
                "created_at": [self.t0 - pd.Timedelta(days=400)] * 10,
            }
        )

    def contacts_frame(self) -> Any:
        return pd.DataFrame(
            {
                "contact_id": [f"P{i}" for i in range(20)],
                "company_id": [f"C{i % 10}" for i in range(20)],
                "first_name": ["Ann"] * 20,
                "last_name": [f"L{i}" for i in range(20)],
                "email": [f"p{i}@co.example" for i in range(20)],
                "created_at": [self.t0 - pd.Timedelta(days=300)] * 20,
            }
        )

    def owners_frame(self) -> Any:
        return pd.DataFrame(
            {
                "owner_id": ["O1", "O2"],
                "user_id": [11, 12],
                "first_name": ["A", "B"],
                "last_name": ["X", "Y"],
                "email": ["a@s.example", "b@s.example"],
            }
        )

    def stages_frame(self) -> Any:
        return pd.DataFrame(
            {
                "stage_id": ["appointmentscheduled", "s_signed", "s_nodecision"],
                "label": ["Appointment", "Signed", "No decision"],
                "display_order": [0, 1, 2],
                "probability": [0.2, 1.0, 0.0],
                "is_closed": [False, True, True],
                "is_won": [False, True, False],
            }
        )

    def _deal_state(self, did: str) -> Any:
        i = int(did[1:])
        created = self._created(i)
        closed = created + pd.Timedelta(days=self.close_day[did])
        if closed <= self.now:
            return created, closed, ("won" if self.won[did] else "lost")
        return created, pd.NaT, "open"

    def stage_history_frame(self) -> Any:
        rows = []
        for d in self._deal_ids():
            created, closed, outcome = self._deal_state(d)
            rows.append((d, "appointmentscheduled", created))
            if outcome != "open":
                rows.append((d, "s_signed" if outcome == "won" else "s_nodecision", closed))
        return pd.DataFrame(rows, columns=["deal_id", "stage_id", "entered_at"])

    def sequences_frame(self) -> Any:
        return pd.DataFrame(
            {
                "sequence_id": ["S1", "S1", "S2"],
                "name": ["Seq one", "Seq one", "Seq two"],
                "position": [1, 2, 1],
                "template_id": ["T1", "T2", "T3"],
                "delay_days": [0, 3, 0],
            }
        )

    def templates_frame(self) -> Any:
        return pd.DataFrame(
            {
                "template_id": ["T1", "T2", "T3"],
                "name": ["Intro", "Bump", "Other"],
                "subject": ["Hi", "Re: Hi", "Hello"],
                "body": ["b1", "b2", "b3"],
                "created_at": [self.t0 - pd.Timedelta(days=500)] * 3,
                "status": ["active"] * 3,
                "pinned": [False] * 3,
            }
        )

    def deals_frame(self) -> Any:
        rows = []
        for d in self._deal_ids():
            i = int(d[1:])
            created, closed, outcome = self._deal_state(d)
            stage = {"open": "appointmentscheduled", "won": "s_signed", "lost": "s_nodecision"}[outcome]
            rows.append(
                {
                    "deal_id": d,
                    "name": f"Deal {i}",
                    "company_id": f"C{i % 10}",
                    "contact_id": f"P{i % 20}",
                    "owner_id": "O1" if i % 2 else "O2",
                    "sequence_id": "S1" if i % 3 else "S2",
                    "segment": "smb",
                    "industry": "software",
                    "amount": 1000.0 + i,
                    "currency": "USD",
                    "created_at": created,
                    "closed_at": closed,
                    "outcome": outcome,
                    "stage_id": stage,
                    "loss_reason": "price" if outcome == "lost" else None,
                    "competitor": "Acme" if i % 5 == 0 else None,
                    "stage_lost": None,
                    "updated_at": closed if outcome != "open" else created,
                    "source": "outbound",
                }
            )
        return pd.DataFrame(rows)

    def messages_frame(self) -> Any:
        rows = []
        for d in self._deal_ids():
            i = int(d[1:])
            created, _, _ = self._deal_state(d)
            seq = "S1" if i % 3 else "S2"
            steps = [("T1", 1), ("T2", 2)] if seq == "S1" else [("T3", 1)]
            if i == 0:
                steps = steps * 4  # one deal with many emails (association paging)
            for k, (t, pos) in enumerate(steps):
                sent = created + pd.Timedelta(days=k)
                if sent > self.now:
                    continue
                rows.append(
                    {
                        "message_id": f"M{i}_{k}",
                        "deal_id": d,
                        "contact_id": f"P{i % 20}",
                        "owner_id": "O1",
                        "template_id": t,
                        "sequence_id": seq,
                        "position": pos,
                        "channel": "email",
                        "direction": "outbound",
                        "sent_at": sent,
                        "subject": "Hi",
                        "thread_id": f"th{i}",
                        "opened": True,
                        "clicked": k == 0,
                        "replied": k == 1,
                        "open_count": 2,
                        "click_count": int(k == 0),
                        "response_sentiment": None,
                        "objections": None,
                        "updated_at": sent,
                    }
                )
        return pd.DataFrame(rows)

    def replies_frame(self) -> Any:
        m = self.messages_frame()
        m = m[m["replied"]]
        return pd.DataFrame(
            {
                "message_id": "R" + m["message_id"],
                "deal_id": m["deal_id"],
                "contact_id": m["contact_id"],
                "in_reply_to": m["message_id"],
                "thread_id": m["thread_id"],
                "sent_at": m["sent_at"] + pd.Timedelta(hours=5),
                "subject": "Re: Hi",
                "text": "sounds good",
                "sentiment": 0.5,
            }
        )

    def advance(self, days: float) -> Advance:
        before = {r.deal_id: r.outcome for r in self.deals_frame().itertuples()}
        start = self.now
        self.now = self.now + pd.Timedelta(days=days)
        after = {r.deal_id: r.outcome for r in self.deals_frame().itertuples()}
        new = [d for d in after if d not in before]
        closed = [d for d, o in after.items() if o != "open" and before.get(d, "open") == "open"]
        return Advance(start, self.now, closed, new, sorted(set(new) | set(closed)))

    def truth_summary(self) -> Any:
        d = self.deals_frame()
        return {
            "deals": {k: int((d.outcome == k).sum()) for k in ("won", "lost", "open")},
            "emails": 0,
            "templates": {
                "T1": {"effect": 0.3, "declining": False},
                "T2": {"effect": -0.1, "declining": True},
            },
        }
