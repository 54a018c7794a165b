"""A small simulated world imported into a store and analysed once: the dashboard tests' data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from feedbackloop.analysis import analyze_tenant
from feedbackloop.config.settings import load_settings
from feedbackloop.connectors.csvfiles import import_csv
from feedbackloop.engine.optimizer.abtest import ABTest
from feedbackloop.engine.optimizer.state import save_test
from feedbackloop.sandbox.world import WorldConfig, generate_world
from feedbackloop.store import Store, TenantRef, open_store

__all__ = ["DashboardWorld", "make_dashboard_world"]


@dataclass
class DashboardWorld:
    store: Store
    tenant: TenantRef
    as_of: datetime
    analysis: dict[str, object]


def _ab_test(store: Store, tenant: TenantRef, as_of: datetime, variants: list[str]) -> None:
    """A running test part-way to its minimum sample, with outcomes recorded for assigned prospects."""
    test = ABTest("intro-test", variants, [0.5, 0.5], started_at=as_of - timedelta(days=10), min_sample=60)
    rng = np.random.default_rng(0)
    for i in range(90):
        unit = f"p-{i}"
        variant = test.assign(unit, rng, variants)
        if variant is not None:
            test.record(variant, won=(i % 3 == 0) == (variant == "T02"), unit_id=unit)
    save_test(store, tenant, test)


def make_dashboard_world(root: Path, *, deals: int = 1500, seed: int = 3) -> DashboardWorld:
    """Generate, import and analyse a world (about 5 s); the store lives under ``root``."""
    settings = load_settings(home=root / "home", database_url=f"sqlite:///{root / 'dash.db'}")
    store = open_store(settings)
    world = generate_world(WorldConfig(deals=deals, seed=seed, templates=12))
    paths = world.to_csv(root / "world")
    import_csv(store, "acme", deals=paths["deals"], messages=paths["messages"], templates=paths["templates"])
    # A looser alpha than the default 5%, so that this small world shows declining templates too.
    tenant = store.update_tenant(
        store.resolve_tenant("acme", create=False), settings={"engine": {"alpha": 0.3}}
    )
    template_ids = sorted(store.templates_frame(tenant)["template_id"])
    _ab_test(store, tenant, world.now, template_ids[:2])
    analysis = analyze_tenant(store, tenant, world.now)
    return DashboardWorld(store, tenant, world.now, analysis)
