"""The engine's fast paths equal what they replaced: the numpy pattern counter equals the plain
per-deal loop (and its order is fixed), joins by deal row equal the merges on string ids, and the
covariate dummies equal those built from `value_counts`."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest

from feedbackloop.engine import segments, winloss
from feedbackloop.engine.effects import _covariate_blocks
from feedbackloop.engine.patterns import count_patterns
from feedbackloop.engine.segments import sequence_patterns
from feedbackloop.engine.settings import EngineSettings


def _reference_counts(msgs: pd.DataFrame, max_length: int) -> tuple[Counter[Any], Counter[Any]]:
    """The original loop: per deal, collapse repeats, count the full pattern and each sub-pattern once."""
    seen: Counter[tuple[str, tuple[str, ...]]] = Counter()
    wins: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for _, group in msgs.groupby("deal_id", sort=False):
        run = group["template_id"].astype(str).tolist()
        seq = [t for i, t in enumerate(run) if i == 0 or t != run[i - 1]]
        keys = {("full", tuple(seq))}
        for n in range(2, max_length + 1):
            keys.update(("subsequence", tuple(seq[i : i + n])) for i in range(len(seq) - n + 1))
        for key in keys:
            seen[key] += 1
            wins[key] += bool(group["won"].iloc[0])
    return seen, wins


def _world(seed: int, deals: int, templates: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    deal_ids = [f"d{i:05d}" for i in range(deals)]
    outcome = rng.choice(["won", "lost", "open"], size=deals, p=[0.35, 0.5, 0.15])
    deal_frame = pd.DataFrame({"deal_id": deal_ids, "outcome": outcome})
    per = rng.integers(1, 9, size=deals)
    deal_col = np.repeat(deal_ids, per)
    tmpl = rng.integers(0, templates, size=len(deal_col))
    repeat = rng.random(len(deal_col)) < 0.2  # repeats in a row get collapsed
    tmpl[1:][repeat[1:]] = tmpl[:-1][repeat[1:]]
    template_id = np.array([f"t{t}" for t in tmpl], dtype=object)
    template_id[rng.random(len(deal_col)) < 0.05] = None
    sent = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 50, len(deal_col)), "D")
    messages = pd.DataFrame(
        {
            "deal_id": deal_col,
            "template_id": template_id,
            "sent_at": sent,
            "position": rng.integers(1, 6, len(deal_col)).astype(float),
        }
    )
    return deal_frame, messages


@pytest.mark.parametrize(("seed", "templates", "max_length"), [(1, 5, 3), (2, 12, 4), (3, 3, 2)])
def test_counts_equal_the_loop(seed: int, templates: int, max_length: int) -> None:
    deals, messages = _world(seed, 3000, templates)
    settings = EngineSettings(pattern_min_occurrences=5, pattern_max_length=max_length)
    got = sequence_patterns(deals, messages, settings)
    msgs = messages[messages["template_id"].notna()].merge(deals, on="deal_id")
    msgs = msgs[msgs["outcome"] != "open"].assign(won=lambda f: f["outcome"] == "won")
    msgs = msgs.sort_values(["deal_id", "sent_at", "position"], kind="stable")
    seen, wins = _reference_counts(msgs, max_length)
    expected = {k: (n, wins[k]) for k, n in seen.items() if n >= 5}
    actual = {(r.kind, r.pattern): (r.deals, r.won) for r in got.itertuples()}
    assert actual == expected
    assert len(expected) > 20
    # fixed order: win rate, deals (both descending), then kind and pattern
    keys = list(zip(-got["win_rate"], -got["deals"], got["kind"], got["pattern"], strict=True))
    assert keys == sorted(keys)
    baseline = msgs.drop_duplicates("deal_id")["won"].mean()
    assert np.allclose(got["lift"], got["win_rate"] - baseline, rtol=0, atol=1e-15)


def test_long_patterns_use_row_unique() -> None:
    """Codes too wide for one int64 key per row fall back to unique rows (same counts)."""
    codes = np.tile(np.arange(40, dtype=np.int64), 6)  # 6 deals with the same 40-step pattern
    starts = np.arange(0, 240, 40, dtype=np.int64)
    won = np.array([True, False, True, True, False, False])
    counts = count_patterns(codes, starts, won, 2, 6)
    full = [i for i, k in enumerate(counts.kind) if k == "full"]
    assert len(full) == 1
    assert counts.codes[full[0]] == tuple(range(40))
    assert (counts.deals[full[0]], counts.won[full[0]]) == (6, 3)
    assert sum(k == "subsequence" for k in counts.kind) == 39


def _closed_world(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Closed deals (won, closed_at) and messages with sequences, flags with gaps and send-time ties."""
    deals, messages = _world(seed, 2500, 8)
    rng = np.random.default_rng(seed + 100)
    closed = deals[deals["outcome"] != "open"].copy()
    closed["won"] = closed["outcome"] == "won"
    closed["closed_at"] = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(10, 60, len(closed)), "D"
    )
    closed.loc[closed.index[::17], "closed_at"] = pd.NaT
    sequence = rng.choice(["s1", "s2", "s3"], len(messages)).astype(object)
    sequence[rng.random(len(messages)) < 0.1] = None
    messages["sequence_id"] = sequence
    for flag in ("opened", "clicked", "replied"):
        values = pd.Series(rng.random(len(messages)) < 0.4, dtype="object")
        values[rng.random(len(messages)) < 0.1] = None
        messages[flag] = values
    messages.loc[messages.index[::23], "position"] = np.nan
    messages.loc[messages.index[::31], "sent_at"] = pd.NaT
    return closed, messages


@pytest.mark.parametrize("seed", [4, 5])
def test_row_joins_equal_the_merges(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fast path (joins by deal row) gives exactly what its merge fallback gives."""
    closed, messages = _closed_world(seed)
    settings = EngineSettings(pattern_min_occurrences=5)
    fast = (
        winloss.sequence_effectiveness(closed, messages),
        winloss.last_messages_before_loss(closed, messages),
        sequence_patterns(closed, messages, settings),
    )
    monkeypatch.setattr(winloss, "deal_rows", lambda *_: None)
    monkeypatch.setattr(segments, "deal_rows", lambda *_: None)
    slow = (
        winloss.sequence_effectiveness(closed, messages),
        winloss.last_messages_before_loss(closed, messages),
        sequence_patterns(closed, messages, settings),
    )
    assert len(fast[0]) == 3
    assert len(fast[1]) == 8
    for got, expected in zip(fast, slow, strict=True):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["a", " a ", "", None, np.nan, "b", "  ", " b"], index=range(10, 18)),
        pd.Series(["x", None, " y"], dtype="str"),
        pd.Series([None, None]),
        pd.Series([], dtype=object),
        pd.Series([1, 2, 1]),
    ],
)
def test_labels_cleaned_per_distinct_value(values: pd.Series) -> None:
    """``_labels`` cleans each distinct label once; the result is the per-row cleaning's."""
    text = values.astype("string").str.strip()
    expected = text.mask(text.isna() | (text == ""), winloss.UNKNOWN).astype(str)
    pd.testing.assert_series_equal(winloss._labels(values), expected)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_covariate_levels_equal_value_counts(seed: int) -> None:
    """Dummy levels come in ``value_counts`` order (ties included) with missing values as "unknown"."""
    rng = np.random.default_rng(seed)
    pool = np.array(["smb", "mid", "enterprise", "unknown", None, 3, "3"], dtype=object)
    values = pd.Series(rng.choice(pool, size=60, p=[0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1]), dtype=object)
    dense, names = _covariate_blocks(pd.DataFrame({"segment": values}), "segment")
    labels = values.where(values.notna(), "unknown").astype(str)
    levels = labels.value_counts().index[1:]
    assert names == [f"segment={level}" for level in levels]
    expected = (labels.to_numpy()[:, None] == np.asarray(levels)[None, :]).astype(float)
    np.testing.assert_array_equal(dense, expected)


def test_categorical_deal_ids_give_the_same_analysis() -> None:
    """The store hands the engine deal ids as one sorted Categorical (Store.frames with a shared key):
    the analysis equals the one over plain string ids, also with messages of unknown deals."""
    from feedbackloop.engine.pipeline import _shared_sorted_categories, run_analysis
    from feedbackloop.sandbox.world import WorldConfig, generate_world

    world = generate_world(WorldConfig(seed=5, deals=1500))
    deals, messages = world.deals_frame(), world.messages_frame()
    stray = messages.iloc[:5].assign(deal_id="zz-unknown", message_id=lambda f: f["message_id"] + "-x")
    messages = pd.concat([messages, stray], ignore_index=True)
    ids = sorted(set(deals["deal_id"]) | set(messages["deal_id"]))
    dtype = pd.CategoricalDtype(pd.Index(ids))
    as_categories = (deals.astype({"deal_id": dtype}), messages.astype({"deal_id": dtype}))
    assert _shared_sorted_categories(as_categories[0]["deal_id"], as_categories[1]["deal_id"])  # fast path

    def run(d: pd.DataFrame, m: pd.DataFrame) -> dict[str, Any]:
        result = run_analysis(
            d, m, world.templates_frame(), EngineSettings(), world.now, np.random.default_rng(0)
        )
        return result.to_dict()

    assert run(*as_categories) == run(deals, messages)


def test_run_analysis_leaves_its_inputs_alone() -> None:
    """The engine works on shallow copies (copy-on-write): the caller's frames are unchanged after a run
    that rewrites deal ids, hides the future and fills statuses."""
    from feedbackloop.engine.pipeline import run_analysis
    from feedbackloop.sandbox.world import WorldConfig, generate_world

    world = generate_world(WorldConfig(seed=6, deals=800))
    frames = (world.deals_frame(), world.messages_frame(), world.templates_frame())
    frames[2].loc[0, "status"] = None
    before = [f.copy(deep=True) for f in frames]
    early = world.now - pd.Timedelta(days=60)  # deals closed later become open in the engine's copy
    run_analysis(*frames, EngineSettings(), early, np.random.default_rng(0))
    for after, original in zip(frames, before, strict=True):
        pd.testing.assert_frame_equal(after, original)
