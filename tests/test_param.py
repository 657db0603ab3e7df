import itertools

import pytest
import torch

from diffusion_course.diffusion.parameterization import (
    PREDICTIONS,
    check_prediction,
    convert,
    expand,
    to_eps,
    to_x0,
)
from diffusion_course.diffusion.schedules import make_schedule

PAIRS = list(itertools.product(PREDICTIONS, PREDICTIONS))


def _close(a, b, tol=1e-10):
    """|a - b| <= tol * (1 + |b|) elementwise: absolute near 0, relative for large scores."""
    return bool(((a - b).abs() <= tol * (1 + b.abs())).all())


def _batch(schedule_name, B=256, shape=(3, 4), seed=0):
    """x0, eps, t and the true eps / x0 / v / score at x_t for a real schedule (float64)."""
    g = torch.Generator().manual_seed(seed)
    s = make_schedule(schedule_name, T=1000)
    t = torch.randint(0, s.T, (B,), generator=g)
    t[0], t[1] = 0, s.T - 1  # the extremes: tiny sigma, tiny alpha
    x0 = torch.randn(B, *shape, generator=g, dtype=torch.float64)
    eps = torch.randn(B, *shape, generator=g, dtype=torch.float64)
    a, sg = s.alpha(t), s.sigma(t)
    A, S = expand(a, x0), expand(sg, x0)
    x_t = A * x0 + S * eps
    truth = {"eps": eps, "x0": x0, "v": A * eps - S * x0, "score": -eps / S}
    return x_t, a, sg, truth


@pytest.mark.parametrize("name", ["linear", "cosine", "sigmoid"])
@pytest.mark.parametrize("src,dst", PAIRS)
def test_convert_matches_definitions_and_round_trips(name, src, dst):
    x_t, a, sg, truth = _batch(name)
    out = convert(truth[src], src, dst, x_t, a, sg)
    assert _close(out, truth[dst]), f"{src}->{dst}"
    back = convert(out, dst, src, x_t, a, sg)
    assert _close(back, truth[src]), f"{src}->{dst}->{src}"


@pytest.mark.parametrize("src", PREDICTIONS)
def test_to_x0_and_to_eps_agree_with_convert(src):
    x_t, a, sg, truth = _batch("cosine", seed=1)
    assert _close(to_x0(truth[src], src, x_t, a, sg), truth["x0"])
    assert _close(to_eps(truth[src], src, x_t, a, sg), truth["eps"])
    assert torch.equal(to_x0(truth[src], src, x_t, a, sg), convert(truth[src], src, "x0", x_t, a, sg))


@pytest.mark.parametrize("src,dst", PAIRS)
def test_general_formulas_hold_off_the_vp_circle(src, dst):
    """With alpha^2 + sigma^2 != 1 (a variance-exploding-like scale) the conversions stay exact."""
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(2, 64, 5, generator=g, dtype=torch.float64)
    alpha, sigma = 0.7, 1.9
    x_t = alpha * x0 + sigma * eps
    truth = {"eps": eps, "x0": x0, "v": alpha * eps - sigma * x0, "score": -eps / sigma}
    assert _close(convert(truth[src], src, dst, x_t, alpha, sigma), truth[dst])


def test_float32_keeps_dtype_and_is_close():
    x_t, a, sg, truth = _batch("linear", B=32, seed=3)
    x32 = x_t.float()
    out = convert(truth["v"].float(), "v", "eps", x32, a, sg)
    assert out.dtype == torch.float32
    assert torch.allclose(out.double(), truth["eps"], atol=1e-4)


def test_bad_inputs_raise():
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"unknown prediction 'noise'; expected one of \('eps'"):
        check_prediction("noise")
    with pytest.raises(ValueError, match="unknown prediction"):
        convert(x, "eps", "epsilon", x, 0.5, 0.5)
    with pytest.raises(ValueError, match="unknown prediction"):
        to_x0(x, "sample", x, 0.5, 0.5)
    with pytest.raises(ValueError, match="shape"):
        convert(torch.zeros(4, 3), "eps", "x0", x, 0.5, 0.5)
    with pytest.raises(ValueError, match="batch"):
        to_eps(x, "x0", x, torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="floating"):
        to_eps(x.long(), "x0", x.long(), 0.5, 0.5)
    assert check_prediction("v") == "v"
