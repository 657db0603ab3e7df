"""Side-by-side sampling speed (evaluation.speed): what is timed, and the speed-up column."""

import pytest
import torch

from diffusion_course.evaluation.speed import SpeedEntry, speed_table, time_generation
from diffusion_course.models.gan import Generator


class Counting(Generator):
    """A generator that counts its forward passes and the images they draw."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls, self.images = 0, 0

    def forward(self, z, y=None):
        self.calls += 1
        self.images += z.shape[0]
        return super().forward(z, y)


def _entry(name="gan"):
    torch.manual_seed(0)
    g = Counting(in_channels=1, image_size=28, latent_dim=8, width=8, num_classes=10).eval()
    return SpeedEntry(name, g, {"family": "gan"})


def test_one_warm_up_batch_then_n_images_in_batches():
    e = _entry()
    row = time_generation(e, n=10, batch_size=4)
    # warm-up: one batch of 4 images; then 10 images as 4 + 4 + 2
    assert e.model.calls == 1 + 3 and e.model.images == 4 + 10
    assert row["n"] == 10 and row["network_evaluations_per_image"] == 1 and row["family"] == "gan"
    assert row["ms_per_image"] == pytest.approx(1000 * row["seconds"] / 10, abs=0.06)  # seconds are rounded to 1 ms


def test_speed_up_is_relative_to_the_slowest_row():
    rows = speed_table([_entry("a"), _entry("b")], n=6, batch_size=3)
    slowest = max(rows, key=lambda r: r["ms_per_image"])
    assert slowest["times_faster_than_slowest"] == 1.0
    for r in rows:
        assert r["times_faster_than_slowest"] == pytest.approx(slowest["ms_per_image"] / r["ms_per_image"], rel=0.06)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="batch_size >= 1"):
        time_generation(_entry(), n=4, batch_size=0)
