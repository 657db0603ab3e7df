import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from diffusion_course.diffusion import vlb
from diffusion_course.diffusion.forward import noise_like
from diffusion_course.diffusion.schedules import cosine_schedule, linear_schedule, make_schedule
from diffusion_course.toy import oracle

F64 = torch.float64


def _eps_with_error(x0: torch.Tensor, schedule, delta: torch.Tensor):
    """A "model" that knows x0: it returns the true eps of x_t plus a fixed error delta."""

    def model(x_t, t):
        a = schedule.alpha(t).to(x_t).reshape(-1, *([1] * (x_t.ndim - 1)))
        s = schedule.sigma(t).to(x_t).reshape(-1, *([1] * (x_t.ndim - 1)))
        return (x_t - a * x0) / s + delta

    return model


def test_normal_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    m1, m2 = torch.randn(500, 3, generator=g, dtype=F64), torch.randn(500, 3, generator=g, dtype=F64)
    v1 = torch.rand(500, 3, generator=g, dtype=F64) * 2 + 1e-3
    v2 = torch.rand(500, 3, generator=g, dtype=F64) * 2 + 1e-3
    expected = kl_divergence(Normal(m1, v1.sqrt()), Normal(m2, v2.sqrt()))
    assert torch.allclose(vlb.normal_kl(m1, v1, m2, v2), expected, rtol=1e-10, atol=1e-12)
    # scalar variances broadcast; equal Gaussians have KL 0
    expected = kl_divergence(Normal(m1, 0.5**0.5), Normal(torch.zeros(()), 1.0))
    assert torch.allclose(vlb.normal_kl(m1, 0.5, torch.zeros((), dtype=F64), 1.0), expected)
    assert vlb.normal_kl(m1, v1, m1, v1).abs().max() < 1e-14


@pytest.mark.parametrize("variance", vlb.VARIANCES)
@pytest.mark.parametrize("schedule", [linear_schedule(200), cosine_schedule(100)], ids=["linear", "cosine"])
def test_term_is_weight_times_eps_error_plus_constant(schedule, variance):
    # the KL between q(x_{t-1} | x_t, x0) (from q_posterior) and the reverse step with a known
    # eps error delta equals w_t ||delta||^2 + C_t, at every t (t = 0: the decoder's -log density)
    g = torch.Generator().manual_seed(1)
    B, D = 400, 3
    x0 = torch.randn(B, D, generator=g, dtype=F64)
    delta = 0.3 * torch.randn(B, D, generator=g, dtype=F64)
    t = torch.cat([torch.tensor([0, 1, schedule.T - 1]), torch.randint(0, schedule.T, (B - 3,), generator=g)])
    term = vlb.vlb_term(_eps_with_error(x0, schedule, delta), x0, t, schedule, noise_like(x0, g), variance)
    w = vlb.vlb_weights(schedule, variance)[t]
    c = vlb.vlb_constants(schedule, variance, dim=D)[t]
    assert term.dtype == F64 and term.shape == (B,)
    assert torch.allclose(term, w * delta.pow(2).sum(1) + c, rtol=1e-8, atol=1e-10)


def test_weights_match_the_paper_formula_by_hand():
    s = make_schedule("linear", T=1000)
    betas, alphas, abar = s.betas, s.alphas, s.alpha_bar
    w_beta, w_post = vlb.vlb_weights(s, "beta"), vlb.vlb_weights(s, "posterior")
    # s_t^2 = beta_t: w_t = beta_t / (2 alpha_t (1 - abar_t)), at every t including the decoder
    assert torch.allclose(w_beta, betas / (2 * alphas * (1 - abar)), rtol=1e-12)
    # s_t^2 = beta_tilde_t: w_t = beta_t / (2 alpha_t (1 - abar_{t-1})) for t >= 1; decoder uses beta_0
    assert torch.allclose(w_post[1:], betas[1:] / (2 * alphas[1:] * (1 - abar[:-1])), rtol=1e-12)
    assert w_post[0] == w_beta[0] and math.isclose(w_beta[0].item(), 1 / (2 * alphas[0].item()))
    assert (w_post[1:] > w_beta[1:]).all()  # the smaller variance weighs every KL term more
    c = vlb.vlb_constants(s, "posterior", dim=2)
    assert (c[1:] == 0).all() and math.isclose(c[0].item(), math.log(2 * math.pi * betas[0].item()))
    assert (vlb.vlb_constants(s, "beta", dim=2)[1:] > 0).all()


def test_prior_term_is_the_kl_to_standard_normal():
    s = make_schedule("linear", T=1000)
    x0 = torch.tensor([[0.0, 0.0], [3.0, -1.0]], dtype=F64)
    a, v = s.alpha_bar[-1].sqrt(), 1 - s.alpha_bar[-1]
    expected = kl_divergence(Normal(a * x0, v.sqrt()), Normal(torch.zeros(()), 1.0)).sum(1)
    assert torch.allclose(vlb.prior_kl(x0, s), expected)
    assert vlb.prior_kl(x0, s).max() < 1e-3  # x_{T-1} is almost N(0, I)


def test_stratified_estimate_is_unbiased():
    # with a known, fixed eps error every term is known, so the exact sum over t is too
    s = linear_schedule(300)
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(4000, 2, generator=g, dtype=F64)
    delta = torch.tensor([0.2, -0.1], dtype=F64)
    exact = (vlb.vlb_weights(s)[1:] * delta.pow(2).sum() + vlb.vlb_constants(s, dim=2)[1:]).sum()
    est = vlb.vlb_terms(_eps_with_error(x0, s, delta), x0, s, n_t=12, generator=g).diffusion
    assert abs(est.mean() - exact) < 4 * est.std() / math.sqrt(len(est))
    every_t = vlb.vlb_terms(_eps_with_error(x0[:50], s, delta), x0[:50], s, generator=g).diffusion
    assert torch.allclose(every_t, exact.expand(50), rtol=1e-9)  # n_t = None: every t, no randomness left


def _oracle_gap(T: int, variance: str, n_t: int, n: int = 20_000):
    """Bound minus the exact -log p(x0), per dimension, for a one-component Gaussian and its oracle."""
    mix = oracle.GaussianMixture.isotropic([[0.5, -1.0]], 0.3)
    s = linear_schedule(T, beta_start=0.1 / T, beta_end=20.0 / T)  # DDPM's linear schedule, rescaled to T
    g = torch.Generator().manual_seed(3)
    x0, _ = mix.sample(n, generator=g, dtype=F64)
    terms = vlb.vlb_terms(oracle.MixtureDenoiser(mix, s, "eps"), x0, s, variance=variance, n_t=n_t, generator=g)
    gap = (terms.total + mix.log_prob(x0)) / mix.D
    return gap.mean().item(), gap.std().item() / math.sqrt(n)


def test_oracle_bound_is_above_the_exact_nll_and_tight_for_large_T():
    gap_1000, se_1000 = _oracle_gap(1000, "beta", n_t=40)
    gap_40, se_40 = _oracle_gap(40, "beta", n_t=39)
    assert gap_1000 > -4 * se_1000 and gap_40 > -4 * se_40  # a bound: never below the NLL
    assert gap_1000 < 0.03  # nats per dimension: tight for T = 1000 with the exact eps
    assert gap_40 > gap_1000 + 0.04  # and tighter as T grows
    gap_post, se_post = _oracle_gap(40, "posterior", n_t=39, n=4000)
    assert gap_post > gap_40 - 4 * se_post  # the smaller variance gives a looser bound here


def test_gradients_flow_through_the_model():
    s = linear_schedule(50)
    scale = torch.tensor(0.5, requires_grad=True)
    x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(4))
    terms = vlb.vlb_terms(lambda x_t, t: scale * x_t, x0, s, n_t=5, generator=torch.Generator().manual_seed(5))
    terms.total.mean().backward()
    assert scale.grad is not None and torch.isfinite(scale.grad)


def test_same_generator_seed_gives_the_same_estimate():
    s = linear_schedule(100)
    x0 = torch.randn(32, 2, generator=torch.Generator().manual_seed(6))

    def model(x_t, t):
        return 0.9 * x_t

    a = vlb.vlb_terms(model, x0, s, n_t=7, generator=torch.Generator().manual_seed(7))
    b = vlb.vlb_terms(model, x0, s, n_t=7, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.total, b.total) and a.total.dtype == F64 and a.total.shape == (32,)


def test_bad_input_raises_value_error():
    s = linear_schedule(100)
    x0 = torch.randn(8, 2)

    def model(x_t, t):
        return x_t

    with pytest.raises(ValueError, match="unknown reverse variance 'big'"):
        vlb.vlb_weights(s, "big")
    with pytest.raises(ValueError, match="n_t must be an int in 1..T-1"):
        vlb.vlb_terms(model, x0, s, n_t=0)
    with pytest.raises(ValueError, match="n_t must be an int in 1..T-1"):
        vlb.vlb_terms(model, x0, s, n_t=100)
    with pytest.raises(ValueError, match="x0 must be a non-empty floating-point tensor"):
        vlb.vlb_terms(model, torch.ones(8, 2, dtype=torch.long), s)
    with pytest.raises(ValueError, match="beta_t < 1"):
        vlb.vlb_weights(make_schedule("linear", T=100, zero_terminal_snr=True))
    with pytest.raises(ValueError, match="T >= 2"):
        vlb.vlb_weights(linear_schedule(1))
    with pytest.raises(ValueError, match="model output shape"):
        vlb.vlb_terms(lambda x_t, t: x_t[:, :1], x0, s, n_t=3)
    with pytest.raises(ValueError, match="variances > 0"):
        vlb.normal_kl(torch.zeros(3), 0.0, torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="t must be an integer tensor of shape"):
        vlb.vlb_term(model, x0, torch.zeros(3, dtype=torch.long), s, torch.randn(8, 2))
    with pytest.raises(ValueError, match="dim must be a positive int"):
        vlb.vlb_constants(s, dim=0)
