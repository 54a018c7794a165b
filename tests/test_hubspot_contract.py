"""The shared connector contract, run against the HubSpot sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.hubspot import HubSpotConnector
from feedbackloop.store import Store, TenantRef
from tests.connector_contract import ConnectorContract
from tests.test_hubspot_support import Portal, connect, sandbox


@pytest.fixture
def portal() -> Iterator[Portal]:
    with sandbox(deals=500, seed=3) as p:
        yield p


@pytest.fixture
def hubspot(settings: Settings, store: Store, portal: Portal) -> tuple[TenantRef, HubSpotConnector]:
    return connect(settings, store, portal)


@pytest.fixture
def connector(hubspot: tuple[TenantRef, HubSpotConnector]) -> HubSpotConnector:
    return hubspot[1]


@pytest.fixture
def tenant(hubspot: tuple[TenantRef, HubSpotConnector]) -> TenantRef:
    return hubspot[0]


@pytest.fixture
def sandbox_admin(portal: Portal) -> str:
    return portal.admin


class TestHubSpotContract(ConnectorContract):
    """Every contract test, with the HubSpot connector and sandbox."""
