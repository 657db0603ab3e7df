"""Interpolation paths and their measures: closed forms of lerp and slerp, step sizes, the manifold test."""

from __future__ import annotations

import math

import pytest
import torch

from diffusion_course.data import mnist
from diffusion_course.evaluation.paths import lerp, on_manifold, path_measures, slerp, step_ratio, step_sizes


def test_lerp_hits_both_ends_and_the_average_halfway():
    z0, z1 = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    path = lerp(z0, z1, 5)
    assert path.shape == (5, 3, 4)
    assert torch.equal(path[0], z0) and torch.allclose(path[-1], z1)
    assert torch.allclose(path[2], (z0 + z1) / 2)
    assert torch.allclose(lerp(z0, z1, [0.25]), (0.75 * z0 + 0.25 * z1)[None])


def test_slerp_of_orthogonal_unit_vectors_follows_the_circle():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    a = torch.linspace(0, 1, 7)
    path = slerp(e1, e2, a)
    angle = a * math.pi / 2  # theta = 90 degrees: the point at a is (cos(a theta), sin(a theta))
    assert torch.allclose(path, torch.stack([torch.cos(angle), torch.sin(angle)], dim=1), atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.ones(7), atol=1e-6)


def test_slerp_keeps_the_norm_of_equal_norm_gaussians_where_lerp_shrinks_it():
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(784, generator=g), torch.randn(784, generator=g)
    z1 = z1 * z0.norm() / z1.norm()
    mid_s, mid_l = slerp(z0, z1, [0.5])[0], lerp(z0, z1, [0.5])[0]
    assert mid_s.norm() == pytest.approx(z0.norm().item(), rel=1e-5)
    # two nearly orthogonal vectors of norm r: the straight midpoint has norm about r / sqrt(2)
    assert mid_l.norm().item() == pytest.approx(z0.norm().item() / math.sqrt(2), rel=0.05)
    assert torch.allclose(slerp(z0, z1, 2)[[0, -1]], torch.stack([z0, z1]), atol=1e-5)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    z = torch.tensor([1.0, 2.0, 3.0])
    assert torch.allclose(slerp(z, 2 * z, 3), lerp(z, 2 * z, 3))


def test_step_sizes_are_rms_per_element_and_even_on_a_straight_path():
    frames = lerp(torch.zeros(1, 2, 2), torch.ones(1, 2, 2), 5)
    assert torch.allclose(step_sizes(frames), torch.full((4,), 0.25, dtype=torch.float64))
    assert step_ratio(frames) == pytest.approx(1.0)


def test_step_ratio_reads_a_jump():
    frames = torch.tensor([0.0, 1.0, 2.0, 3.0, 10.0]).reshape(5, 1)  # steps 1, 1, 1, 7: mean 2.5
    assert step_ratio(frames) == pytest.approx(7 / 2.5)
    assert step_ratio(torch.zeros(4, 3)) == 1.0  # no movement: no uneven step


@pytest.mark.parametrize("bad", [torch.zeros(1, 3), torch.zeros(3)])
def test_step_sizes_need_two_frames(bad):
    with pytest.raises(ValueError):
        step_sizes(bad)


def test_on_manifold_uses_the_kth_neighbour_radius():
    ref = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [10.0, 0.0]])
    # k = 1: radii are the nearest-neighbour distances 1, 1, 1, 1, 7 (the lone point at 10 reaches 3)
    q = torch.tensor([[0.5, 0.5], [5.0, 0.0], [2.5, 8.0], [0.0, 1.5]])
    assert on_manifold(q, ref, k=1).tolist() == [True, True, False, False]
    with pytest.raises(ValueError):
        on_manifold(q, ref[:1], k=1)


def test_path_measures_on_a_pixel_blend_of_two_real_digits():
    x, y = mnist(train=False, n=200, generator=torch.Generator().manual_seed(0))
    i = int((y == 1).nonzero()[0])
    j = int((y == 7).nonzero()[0])
    frames = lerp(x[i], x[j], 9)
    m = path_measures(frames, n_reference=500)
    assert m["probs"].shape == (9, 10)
    assert torch.allclose(m["probs"].sum(1), torch.ones(9), atol=1e-4)
    assert m["classes"][0] == 1 and m["classes"][-1] == 7
    assert m["step_ratio"] == pytest.approx(1.0, abs=1e-5)  # a straight line in pixel space is even
    assert bool(m["on_manifold"][0]) and bool(m["on_manifold"][-1])  # real digits are on the manifold
    assert 0.0 <= m["detour_share"] <= 7 / 9
