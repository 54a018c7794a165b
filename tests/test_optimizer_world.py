"""The optimizer on the sandbox's synthetic sales world, whose true template declines are known."""

from __future__ import annotations

import pytest

from feedbackloop.engine.optimizer.state import optimizer_from_frames
from feedbackloop.sandbox.world import WorldConfig, generate_world


@pytest.mark.parametrize("seed", [1, 3])
def test_change_detection_finds_every_truly_declining_template(seed: int) -> None:
    """Replaying the world's closed deals in close order, every template whose true effect dropped is
    flagged. (Precision is lower, 40-70%: the world's overall win rate by close date falls by half in its
    last two months, and a per-template detector cannot tell a market-wide shift from a template's own.)
    """
    world = generate_world(WorldConfig(seed=seed, deals=4000, templates=20))
    optimizer = optimizer_from_frames(
        world.templates_frame(), world.deals_frame(), world.messages_frame(), seed=0
    )
    flagged = {c["template_id"] for c in optimizer.changes}
    declining = {t for t, is_declining in world.truth.declining.items() if is_declining}
    assert declining
    assert declining <= flagged
