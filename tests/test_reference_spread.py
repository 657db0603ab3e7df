"""FID against several reference draws: the floor per draw equals real_floor's, identical sets tie on
every draw, and paired gaps are computed per draw."""

from __future__ import annotations

import pytest
import torch

from diffusion_course import data
from diffusion_course.evaluation.features import real_images
from diffusion_course.evaluation.floors import real_floor
from diffusion_course.evaluation.reference_spread import fid_by_reference, paired_gap

pytestmark = pytest.mark.skipif(not data.available()["MNIST"], reason="needs MNIST on disk")


def test_floor_of_each_draw_is_real_floor_and_identical_sets_tie():
    x = real_images("mnist", True, 40, torch.Generator().manual_seed(7))[0]
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    rows = fid_by_reference({"a": x, "b": x.clone(), "blur": blurred}, seeds=[0, 1, 2])
    assert [r["seed"] for r in rows] == [0, 1, 2]
    # seed 0: n training images (seed 0) against n test images (seed 0), as real_floor computes it
    assert rows[0]["floor"] == pytest.approx(real_floor(40, use_cache=False)["mnist_classifier_fid"], rel=0.01)
    gap = paired_gap(rows, "a", "b")
    assert gap["mean"] == 0 and gap["min"] == 0 and gap["max"] == 0 and gap["a_lower"] == 0 and gap["draws"] == 3
    blur_gap = paired_gap(rows, "a", "blur")
    assert blur_gap["a_lower"] == 3 and blur_gap["max"] < 0  # blurred digits are further from real ones on every draw


def test_paired_gap_statistics_and_bad_input():
    rows = [{"seed": s, "floor": 1.0, "p": p, "q": q} for s, (p, q) in enumerate([(1.0, 3.0), (2.0, 2.0), (5.0, 4.0)])]
    g = paired_gap(rows, "p", "q")
    assert (g["mean"], g["min"], g["max"], g["a_lower"]) == (-0.33, -2.0, 1.0, 1)
    assert g["std"] == pytest.approx(1.53, abs=0.01)
    with pytest.raises(ValueError, match="lack the sample set"):
        paired_gap(rows, "p", "nope")
    with pytest.raises(ValueError, match="same number of images"):
        fid_by_reference({"a": torch.zeros(4, 1, 28, 28), "b": torch.zeros(5, 1, 28, 28)}, seeds=[0])
