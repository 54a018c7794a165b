"""A `feedbackloop sync` killed with SIGKILL halfway resumes to the same state, without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.hubspot import create_connector
from feedbackloop.connectors.hubspot.streams import STREAM
from feedbackloop.connectors.sync import load_sync_state, run_sync
from feedbackloop.store import Store
from feedbackloop.store.models import DealRow, MessageRow
from tests.test_hubspot_support import connect, sandbox, stored_state

_CLI = "from feedbackloop.cli import main; main()"


def test_sync_killed_halfway_resumes_to_the_same_state(settings: Settings, store: Store) -> None:
    with sandbox(deals=500, seed=8) as portal:
        reference, clean = connect(settings, store, portal, "reference")
        run_sync(store, reference, clean)
        expected = store.count(DealRow, reference)
        tenant, _ = connect(settings, store, portal, "victim", batch_deals=40)
        process = subprocess.Popen(
            [sys.executable, "-c", _CLI, "sync", "--tenant", "victim", "--format", "json"],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        try:
            while store.count(DealRow, tenant) < 80:  # at least two committed batches
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the sync did not store two batches in time"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
            if process.stderr:
                process.stderr.close()
        halfway = store.count(DealRow, tenant)
        cursor = load_sync_state(store, tenant).get(STREAM).get("cursor_ms")
        assert process.returncode == -signal.SIGKILL
        assert 80 <= halfway < expected
        assert cursor is not None

        resumed = run_sync(store, tenant, create_connector(settings, store, tenant))

    assert resumed.deals < expected  # it resumed from the cursor instead of starting over
    assert store.count(DealRow, tenant) == expected
    assert store.count(MessageRow, tenant) == store.count(MessageRow, reference)
    want_deals, want_messages = stored_state(store, reference)
    got_deals, got_messages = stored_state(store, tenant)
    pd.testing.assert_frame_equal(got_deals, want_deals)
    pd.testing.assert_frame_equal(got_messages, want_messages)
