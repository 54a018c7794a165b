"""Adjusted p-values equal statsmodels' ``multipletests`` (the reference) for both methods."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from feedbackloop.engine.multiplicity import adjust

REFERENCE = {"bh": "fdr_bh", "holm": "holm"}


@pytest.mark.parametrize("method", ["bh", "holm"])
@pytest.mark.parametrize("seed", range(6))
def test_equals_multipletests(method: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    p = rng.uniform(0, 1, n) ** 3  # many small values
    p[rng.integers(0, n, size=n // 4)] = p[0]  # ties
    expected = multipletests(p, alpha=0.05, method=REFERENCE[method])[1]
    np.testing.assert_allclose(adjust(p, method), expected, rtol=1e-15, atol=0)  # type: ignore[arg-type]


def test_known_values_and_edges() -> None:
    np.testing.assert_allclose(adjust([0.01, 0.04, 0.03], "holm"), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(adjust([0.01, 0.04, 0.03], "bh"), [0.03, 0.04, 0.04])
    np.testing.assert_array_equal(adjust([0.9, 0.8], "holm"), [1.0, 1.0])
    assert adjust([], "holm").shape == (0,)
    with pytest.raises(ValueError, match="unknown multiplicity correction"):
        adjust([0.1], "none")  # type: ignore[arg-type]
