"""Connector plumbing: sync state, the retry policy, the limiter, and the transactional sync runner."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from feedbackloop.connectors.base import (
    CheckReport,
    InstallReport,
    SyncBatch,
    SyncState,
    WriteBackPlan,
    WriteBackReport,
)
from feedbackloop.connectors.limiter import SlidingWindowLimiter
from feedbackloop.connectors.retry import RetryPolicy, Transient
from feedbackloop.connectors.sync import load_sync_state, run_sync
from feedbackloop.domain import Deal, Message, Outcome, Template
from feedbackloop.store import Store
from feedbackloop.store.models import DealRow, MessageRow, TemplateRow


def test_sync_state_is_immutable_and_round_trips() -> None:
    empty = SyncState()
    one = empty.with_bookmark("deals", cursor="2026-01-01T00:00:00Z", last_id="9")
    two = one.with_bookmark("deals", last_id="12")
    assert empty.get("deals") == {}
    assert one.get("deals")["last_id"] == "9"
    assert two.get("deals") == {"cursor": "2026-01-01T00:00:00Z", "last_id": "12"}
    assert SyncState.from_json(two.to_json()) == two
    assert SyncState.from_json(None) == SyncState()


class Flaky(Exception):
    def __init__(self, status: int, wait: float | None = None) -> None:
        super().__init__(status)
        self.status, self.wait = status, wait


def classify(exc: BaseException) -> Transient | None:
    if isinstance(exc, Flaky) and exc.status in (429, 500):
        return Transient(f"HTTP {exc.status}", exc.wait)
    return None


@pytest.mark.parametrize(
    ("failures", "expected_sleeps"),
    [
        pytest.param([Flaky(429, 10.0)], [10.0], id="server-wait-wins"),
        pytest.param([Flaky(500), Flaky(500)], None, id="backoff-with-jitter"),
        pytest.param([], [], id="no-failure"),
    ],
)
def test_retry_policy_retries_transient_failures(
    failures: list[Flaky], expected_sleeps: list[float] | None
) -> None:
    sleeps: list[float] = []
    pending = list(failures)

    def call() -> str:
        if pending:
            raise pending.pop(0)
        return "ok"

    policy = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=30.0)
    assert policy.call(call, classify=classify, sleep=sleeps.append) == "ok"
    if expected_sleeps is not None:
        assert sleeps == expected_sleeps
    else:
        assert len(sleeps) == len(failures)
        assert all(0.0 <= s <= 30.0 for s in sleeps)


def test_retry_policy_gives_up_and_does_not_retry_permanent_errors() -> None:
    sleeps: list[float] = []
    attempts = 0

    def always_500() -> None:
        nonlocal attempts
        attempts += 1
        raise Flaky(500)

    with pytest.raises(Flaky):
        RetryPolicy(max_attempts=3).call(always_500, classify=classify, sleep=sleeps.append)
    assert attempts == 3
    assert len(sleeps) == 2
    attempts = 0

    def forbidden() -> None:
        nonlocal attempts
        attempts += 1
        raise Flaky(403)

    with pytest.raises(Flaky):
        RetryPolicy().call(forbidden, classify=classify, sleep=sleeps.append)
    assert attempts == 1


def test_sliding_window_limiter_never_exceeds_its_window() -> None:
    now = [0.0]
    stamps: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = SlidingWindowLimiter(110, 10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(500):
        limiter.acquire()
        stamps.append(now[0])
        now[0] += 0.001
    for i in range(len(stamps) - 110):
        assert stamps[i + 110] - stamps[i] >= 10.0
    assert stamps[-1] < 50.0  # and it does not wait more than needed (500 calls at 110/10 s)


T0 = datetime(2026, 5, 1, tzinfo=UTC)


class ScriptedConnector:
    """An in-memory connector that emits a fixed list of batches, optionally dying after some."""

    provider = "test"

    def __init__(self, batches: list[SyncBatch], die_after: int | None = None) -> None:
        self.batches, self.die_after, self.calls = batches, die_after, 0

    @property
    def api_calls(self) -> int:
        return self.calls

    def check(self) -> CheckReport:
        return CheckReport(ok=True)

    def install(self) -> InstallReport:
        return InstallReport()

    def write_back(self, plan: WriteBackPlan) -> WriteBackReport:
        return WriteBackReport()

    def sync(self, state: SyncState, *, full: bool = False) -> Iterator[SyncBatch]:
        done = int(state.get("deals").get("batches", 0))
        for i, batch in enumerate(self.batches[done:], start=done):
            if self.die_after is not None and i >= self.die_after:
                raise RuntimeError("killed")
            self.calls += 2
            yield batch


def scripted_batches() -> list[SyncBatch]:
    batches = []
    state = SyncState()
    for i in range(3):
        state = state.with_bookmark("deals", batches=i + 1)
        deal = Deal(f"D{i}", Outcome.WON if i % 2 else Outcome.LOST, closed_at=T0 + timedelta(days=i))
        message = Message(f"M{i}", f"D{i}", T0, template_id=f"T{i % 2}")
        batches.append(SyncBatch([deal], [message], [Template(f"T{i % 2}", name=f"t{i}")], state))
    return batches


def test_run_sync_resumes_after_a_crash_without_duplicates(store: Store) -> None:
    tenant = store.resolve_tenant(None)
    with pytest.raises(RuntimeError, match="killed"):
        run_sync(store, tenant, ScriptedConnector(scripted_batches(), die_after=2))
    assert store.count(DealRow, tenant) == 2
    assert load_sync_state(store, tenant).get("deals") == {"batches": 2}
    summary = run_sync(store, tenant, ScriptedConnector(scripted_batches()))
    assert (summary.deals, summary.messages, summary.api_calls) == (1, 1, 2)
    assert store.count(DealRow, tenant) == 3
    assert store.count(MessageRow, tenant) == 3
    assert store.count(TemplateRow, tenant) == 2
    again = run_sync(store, tenant, ScriptedConnector(scripted_batches()))
    assert (again.deals, again.api_calls) == (0, 0)
    full = run_sync(store, tenant, ScriptedConnector(scripted_batches()), full=True)
    assert full.deals == 3
    assert store.count(DealRow, tenant) == 3
