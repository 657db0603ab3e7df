"""Tests of the 2-D stability study: one run per family is deterministic and measured against the
ring; the summary counts runs covering all modes and the spread of the distance."""

from __future__ import annotations

import pytest

from diffusion_course.evaluation.toy_stability import summarize, toy_run


def test_summarize_counts_full_coverage_and_the_distance_spread():
    rows = [
        {"family": "gan", "lr": 0.01, "modes_covered": 8, "sliced_w2": 0.3},
        {"family": "gan", "lr": 0.01, "modes_covered": 5, "sliced_w2": 0.9},
        {"family": "gan", "lr": 0.01, "modes_covered": 8, "sliced_w2": 0.2},
        {"family": "diffusion", "lr": 0.01, "modes_covered": 8, "sliced_w2": 0.1},
    ]
    gan, diff = summarize(rows)
    assert gan == {
        "family": "gan",
        "lr": 0.01,
        "runs": 3,
        "all_modes_pct": 66.7,
        "mean_modes": 7.0,
        "w2_min": 0.2,
        "w2_median": 0.3,
        "w2_max": 0.9,
    }
    assert diff["runs"] == 1 and diff["all_modes_pct"] == 100.0


@pytest.mark.parametrize("family", ["gan", "diffusion"])
def test_a_short_run_is_deterministic_and_measured_against_the_ring(family):
    a = toy_run(family, 1e-3, 0, steps=30, n=200, batch_size=64)
    b = toy_run(family, 1e-3, 0, steps=30, n=200, batch_size=64)
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert 0 <= a["modes_covered"] <= 8 and a["sliced_w2"] > 0 and a["family"] == family
    with pytest.raises(ValueError, match="unknown family"):
        toy_run("vae", 1e-3, 0, steps=1)
