import numpy as np
import pytest
import torch

from diffusion_course.diffusion.forward import (
    noise_like,
    q_posterior,
    q_sample,
    q_sample_chain,
    q_step,
    sample_timesteps,
)
from diffusion_course.diffusion.schedules import cosine_schedule, linear_schedule

N = 20000


def _moments_ok(x, mean, var, k=5.0):
    """Sample mean and variance agree with (mean, var) within k standard errors."""
    n = x.shape[0]
    m, v = x.mean().item(), x.var().item()
    return abs(m - mean) < k * (var / n) ** 0.5 and abs(v - var) < k * var * (2 / (n - 1)) ** 0.5


@pytest.mark.parametrize("t_final", [0, 5, 120])
def test_chain_and_closed_form_have_the_same_law(t_final):
    s = linear_schedule(T=200)
    g = torch.Generator().manual_seed(t_final)
    x0 = torch.full((N, 1), 1.5, dtype=torch.float64)
    a, sg = s.alpha(t_final).item(), s.sigma(t_final).item()
    chain = q_sample_chain(x0, t_final, s, generator=g)
    closed = q_sample(x0, t_final, s, noise_like(x0, g))
    assert _moments_ok(chain, 1.5 * a, sg**2)
    assert _moments_ok(closed, 1.5 * a, sg**2)


def test_noise_free_chain_is_the_alpha_product():
    s = cosine_schedule(T=300)
    x = x0 = torch.linspace(-2, 2, 7, dtype=torch.float64).reshape(7, 1)
    for t in range(250):
        x = q_step(x, t, s, torch.zeros_like(x))
    assert torch.allclose(x, s.alpha(249).item() * x0, rtol=1e-12, atol=0)


def test_chain_is_deterministic_given_generator():
    s = linear_schedule(T=50)
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    a = q_sample_chain(x0, 30, s, torch.Generator().manual_seed(7))
    b = q_sample_chain(x0, 30, s, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def _bayes_posterior(betas, t, x0, x_t):
    """q(x_{t-1} | x_t, x0) by conditioning the joint Gaussian of (x_{t-1}, x_t) given x0."""
    abar = np.cumprod(1 - betas)
    a_prev, v_prev = np.sqrt(abar[t - 1]), 1 - abar[t - 1]
    c = np.sqrt(1 - betas[t])  # x_t = c x_{t-1} + sqrt(beta_t) e
    cov12, var2 = c * v_prev, c * c * v_prev + betas[t]
    mean = a_prev * x0 + cov12 / var2 * (x_t - c * a_prev * x0)
    return mean, v_prev - cov12**2 / var2


@pytest.mark.parametrize("t", [1, 2, 40, 199])
def test_posterior_matches_bayes_rule(t):
    s = cosine_schedule(T=200)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(16, 3, generator=g, dtype=torch.float64)
    x_t = torch.randn(16, 3, generator=g, dtype=torch.float64)
    mean, var = q_posterior(x0, x_t, torch.full((16,), t), s)
    m_ref, v_ref = _bayes_posterior(s.betas.numpy(), t, x0.numpy(), x_t.numpy())
    np.testing.assert_allclose(mean.numpy(), m_ref, rtol=1e-10, atol=1e-12)
    assert var.shape == (16, 1)
    np.testing.assert_allclose(var.numpy(), np.full((16, 1), v_ref), rtol=1e-10)


def test_posterior_at_t0_is_the_data_with_zero_variance():
    s = linear_schedule(T=100)
    x0, x_t = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    mean, var = q_posterior(x0, x_t, torch.zeros(5, dtype=torch.long), s)
    assert torch.allclose(mean, x0, atol=1e-12) and (var == 0).all()


@pytest.mark.parametrize("t", [1, 30])
def test_posterior_residual_is_independent_with_the_posterior_variance(t):
    """Monte Carlo: x0 ~ N(m, s^2), x_{t-1} ~ q, x_t ~ q(. | x_{t-1}); the residual
    x_{t-1} - mean(x0, x_t) has mean 0, the posterior variance, and no correlation with x0, x_t."""
    s = linear_schedule(T=100)
    g = torch.Generator().manual_seed(t)
    x0 = 0.7 + 2.0 * torch.randn(N, 1, generator=g, dtype=torch.float64)
    x_prev = q_sample(x0, t - 1, s, noise_like(x0, g))
    x_t = q_step(x_prev, t, s, noise_like(x0, g))
    mean, var = q_posterior(x0, x_t, t, s)
    r = (x_prev - mean).squeeze(1)
    assert _moments_ok(r, 0.0, var[0].item())
    for other in (x0.squeeze(1), x_t.squeeze(1)):
        corr = torch.corrcoef(torch.stack([r, other]))[0, 1].item()
        assert abs(corr) < 5 / N**0.5


def test_sample_timesteps_uniform_and_deterministic():
    s = linear_schedule(T=10)
    t = sample_timesteps(N, s, torch.Generator().manual_seed(3))
    assert t.dtype == torch.long and t.shape == (N,) and t.min() == 0 and t.max() == 9
    counts = torch.bincount(t, minlength=10).double()
    chi2 = ((counts - N / 10) ** 2 / (N / 10)).sum().item()
    assert chi2 < 30  # 9 degrees of freedom: P(chi2 > 30) < 0.001
    assert torch.equal(t, sample_timesteps(N, s, torch.Generator().manual_seed(3)))


def test_shapes_and_dtypes_preserved():
    s = cosine_schedule(T=50)
    x0 = torch.randn(4, 1, 8, 8)
    xt = q_sample(x0, torch.tensor([0, 10, 20, 49]), s, torch.randn_like(x0))
    assert xt.shape == x0.shape and xt.dtype == torch.float32
    noise = torch.randn_like(x0)
    assert torch.equal(q_sample(x0, 7, s, noise), q_sample(x0, torch.full((4,), 7), s, noise))


def test_bad_inputs_raise():
    s = linear_schedule(T=100)
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"t must have shape \(B,\)"):
        q_sample(x, torch.zeros(3, dtype=torch.long), s, x)
    with pytest.raises(ValueError, match=r"t must have shape \(B,\)"):
        q_posterior(x, x, torch.zeros(4, 1, dtype=torch.long), s)
    with pytest.raises(ValueError, match="noise shape"):
        q_sample(x, 3, s, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="floating"):
        q_step(x.long(), 3, s, x)
    with pytest.raises(ValueError, match="integer"):
        q_sample(x, torch.ones(4), s, x)
    with pytest.raises(ValueError, match=r"0\.\.99"):
        q_sample(x, torch.tensor([0, 1, 2, 100]), s, x)
    with pytest.raises(ValueError, match="x0 shape"):
        q_posterior(x, torch.zeros(4, 3), 3, s)
    with pytest.raises(ValueError, match="t_final"):
        q_sample_chain(x, 100, s)
    with pytest.raises(ValueError, match="batch"):
        sample_timesteps(0, s)
