"""The sharpness measure: closed forms, the real-vs-real spread, and blurred < real < noisy on real MNIST."""

from __future__ import annotations

import math

import pytest
import torch

from diffusion_course.data import mnist
from diffusion_course.evaluation import floors
from diffusion_course.evaluation.sharpness import (
    gradient_magnitude,
    high_frequency_share,
    real_sharpness,
    sharpness,
    sharpness_stats,
)


def checkerboard(h: int = 28, w: int = 28, c: int = 1) -> torch.Tensor:
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (1.0 - 2.0 * ((i + j) % 2)).float().expand(1, c, h, w).clone()


def test_a_constant_image_has_no_gradient_and_no_spectral_power():
    x = torch.full((3, 1, 28, 28), 0.3)
    assert gradient_magnitude(x).tolist() == [0.0, 0.0, 0.0]
    assert high_frequency_share(x).tolist() == [0.0, 0.0, 0.0]


def test_a_checkerboard_has_gradient_2_sqrt_2_and_all_its_power_at_the_highest_frequency():
    x = checkerboard()
    assert gradient_magnitude(x).item() == pytest.approx(2 * math.sqrt(2), rel=1e-12)
    # its whole spectrum sits at (0.5, 0.5) cycles per pixel, radius sqrt(0.5) = 0.707
    for cutoff in (0.1, 0.25, 0.5, 0.7):
        assert high_frequency_share(x, cutoff).item() == pytest.approx(1.0, abs=1e-12)


def test_a_ramp_reads_its_slope_and_a_cosine_sits_on_one_side_of_the_cutoff():
    j = torch.arange(32, dtype=torch.float64)
    ramp = (0.05 * j).expand(1, 1, 32, 32) - 0.8
    assert gradient_magnitude(ramp).item() == pytest.approx(0.05, rel=1e-9)
    low = torch.cos(2 * math.pi * 0.125 * j).expand(1, 1, 32, 32)  # 4 cycles over 32 pixels: an exact bin
    high = torch.cos(2 * math.pi * 0.375 * j).expand(1, 1, 32, 32)
    assert high_frequency_share(low, 0.25).item() == pytest.approx(0.0, abs=1e-12)
    assert high_frequency_share(high, 0.25).item() == pytest.approx(1.0, abs=1e-12)


def test_any_size_and_channel_count_and_bad_input_is_refused():
    x = torch.rand(4, 3, 32, 20, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert gradient_magnitude(x).shape == (4,) and high_frequency_share(x).shape == (4,)
    assert gradient_magnitude(checkerboard(8, 12, 3)).item() == pytest.approx(2 * math.sqrt(2))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gradient_magnitude(torch.zeros(28, 28))
    with pytest.raises(ValueError, match="NaN"):
        sharpness_stats(torch.full((1, 1, 4, 4), float("nan")))
    with pytest.raises(ValueError, match="cutoff"):
        high_frequency_share(x, 0.9)


@pytest.fixture(scope="module")
def digits():
    return mnist(train=False, n=500, generator=torch.Generator().manual_seed(1))[0]


def test_blurred_reads_lower_than_real_and_noisy_higher_on_mnist(digits):
    ref = real_sharpness("mnist", 500)
    real = sharpness(digits, reference=ref)
    blurred = sharpness(floors.gaussian_blur(digits, 1.0), reference=ref)
    noisy = sharpness(floors.add_noise(digits, 0.2, torch.Generator().manual_seed(0)), reference=ref)
    for k in ("gradient_ratio", "high_freq_ratio"):
        assert blurred[k] < 0.9 < real[k] < 1.1 < noisy[k], (k, blurred[k], real[k], noisy[k])
    # a mild blur is already outside the real-vs-real spread: the measure tells blur from noise
    mild = sharpness(floors.gaussian_blur(digits, 0.5), reference=ref)
    assert mild["gradient_ratio"] < ref["spread"]["gradient_ratio"][0]
    assert mild["high_freq_ratio"] < ref["spread"]["high_freq_ratio"][0]


def test_the_real_vs_real_spread_brackets_one_and_is_made_of_disjoint_subsets():
    ref = real_sharpness("mnist", 500)
    assert ref["n"] == 500 and ref["subsets"] == 9  # 10 disjoint groups of 500 out of 10,000 test images
    for lo, hi in ref["spread"].values():
        assert 0.9 < lo < 1.0 < hi < 1.1
    big = real_sharpness("mnist", 8000)  # too many for 10 groups: two halves of the test split
    assert big["n"] == 5000 and big["subsets"] == 1
    lo, hi = big["spread"]["gradient_ratio"]
    assert lo == pytest.approx(1 / hi, rel=2e-3)


def test_train_digits_read_as_sharp_as_test_digits():
    train = mnist(train=True, n=1000, generator=torch.Generator().manual_seed(2))[0]
    out = sharpness(train, "mnist")
    assert out["real_n"] == 1000 and out["real_subsets"] == 9
    assert 0.95 < out["gradient_ratio"] < 1.05 and 0.9 < out["high_freq_ratio"] < 1.1
