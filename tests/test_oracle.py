"""Tests of the Gaussian-mixture oracle: sampling, density, and the exact posterior denoiser."""

import math

import pytest
import torch

from diffusion_course.diffusion.parameterization import convert
from diffusion_course.diffusion.schedules import make_schedule
from diffusion_course.toy.oracle import GaussianMixture, MixtureDenoiser

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # the oracle works on tiny tensors: one thread is faster and immune to a busy machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def mix():
    return GaussianMixture.example_2d()


@pytest.fixture(scope="module")
def sched():
    return make_schedule("linear")


def test_sample_matches_parameters(mix):
    x, k = mix.sample(40000, torch.Generator().manual_seed(0), dtype=F64)
    assert x.dtype == F64 and k.dtype == torch.long and x.shape == (40000, 2)
    assert torch.allclose(torch.bincount(k, minlength=3).double() / 40000.0, mix.weights, atol=0.01)
    for j in range(3):
        xj = x[k == j]
        assert torch.allclose(xj.mean(0), mix.means[j], atol=0.03)
        assert torch.allclose(torch.cov(xj.T), mix.covs[j], atol=0.03)


def test_sample_is_reproducible_and_float32_by_default(mix):
    a, ka = mix.sample(100, torch.Generator().manual_seed(3))
    b, kb = mix.sample(100, torch.Generator().manual_seed(3))
    assert a.dtype == torch.float32 and torch.equal(a, b) and torch.equal(ka, kb)


def test_log_prob_matches_scipy_and_integrates_to_one(mix):
    stats = pytest.importorskip("scipy.stats")
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(1), dtype=F64) * 2
    ref = sum(
        float(w) * stats.multivariate_normal(m.numpy(), c.numpy()).pdf(x.numpy())
        for w, m, c in zip(mix.weights, mix.means, mix.covs)
    )
    assert torch.allclose(mix.log_prob(x), torch.as_tensor(ref).log(), atol=1e-10)
    g = torch.linspace(-6, 6, 401, dtype=F64)
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    mass = mix.log_prob(grid).exp().sum() * (g[1] - g[0]) ** 2
    assert abs(mass.item() - 1.0) < 1e-3


def test_posterior_score_is_gradient_of_noised_log_density(mix):
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(2), dtype=F64).mul(2).requires_grad_()
    a, s = 0.6, 0.8
    (grad,) = torch.autograd.grad(mix.noised(a, s).log_prob(x).sum(), x)
    post = mix.posterior(x.detach(), a, s)
    assert torch.allclose(post.score, grad, atol=1e-10)
    # Tweedie: E[x0 | x_t] = (x_t + sigma^2 score) / alpha
    assert torch.allclose(post.x0, (x.detach() + s * s * grad) / a, atol=1e-10)
    assert torch.allclose(post.resp.sum(1), torch.ones(64, dtype=F64))


def test_posterior_mean_matches_quadrature_in_1d():
    mix = GaussianMixture.example_1d()
    x0 = torch.linspace(-6, 6, 20001, dtype=F64)
    prior = mix.log_prob(x0[:, None]).exp()
    for a, s in [(0.95, 0.3122), (0.5, math.sqrt(0.75)), (0.1, math.sqrt(0.99))]:
        x_t = torch.tensor([[-2.0], [-0.3], [0.4], [1.7]], dtype=F64)
        lik = torch.exp(-0.5 * ((x_t - a * x0) / s) ** 2)  # (4, grid)
        ref = (lik * prior * x0).sum(1) / (lik * prior).sum(1)
        assert torch.allclose(mix.posterior(x_t, a, s).x0[:, 0], ref, atol=1e-8)


def test_single_gaussian_posterior_closed_form():
    mu, cov = (
        torch.tensor([0.5, -1.0], dtype=F64),
        torch.tensor([[0.4, 0.15], [0.15, 0.2]], dtype=F64),
    )
    mix = GaussianMixture(mu[None], cov[None])
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(4), dtype=F64)
    a, s = 0.7, math.sqrt(0.51)
    C = a * a * cov + s * s * torch.eye(2, dtype=F64)
    ref = mu + (x - a * mu) @ torch.linalg.solve(C, a * cov).T  # mu + a Sigma C^{-1}(x - a mu)
    assert torch.allclose(mix.posterior(x, a, s).x0, ref, atol=1e-12)


def test_denoiser_predictions_agree_through_param(mix, sched):
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    t = torch.arange(0, 1000, 1000 // 32)[:32]
    a, s = sched.alpha(t), sched.sigma(t)
    preds = {p: MixtureDenoiser(mix, sched, p)(x, t) for p in ("eps", "x0", "v", "score")}
    for src, pred in preds.items():
        for dst in preds:
            assert torch.allclose(convert(pred, src, dst, x, a, s), preds[dst], atol=1e-8, rtol=1e-6), (src, dst)


def test_denoiser_dtype_shape_and_int_t(mix, sched):
    den = MixtureDenoiser(mix, sched, "x0")
    x = torch.randn(8, 1, 2)
    out = den(x, 300)
    assert out.dtype == torch.float32 and out.shape == x.shape
    ref = den(x.double().reshape(8, 2), torch.full((8,), 300))
    assert torch.allclose(out.reshape(8, 2).double(), ref, atol=1e-6)


def test_denoiser_conditions_on_component(mix, sched):
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(6), dtype=F64)
    t = torch.full((16,), 400)
    den = MixtureDenoiser(mix, sched, "eps")
    for j in range(3):
        single = MixtureDenoiser(GaussianMixture(mix.means[j : j + 1], mix.covs[j : j + 1]), sched, "eps")
        assert torch.allclose(den(x, t, j), single(x, t), atol=1e-10)
    y = torch.tensor([0, 3] * 8)  # 3 = null_label (K): unconditional rows
    out = den(x, t, y)
    assert torch.allclose(out[1::2], den(x, t)[1::2]) and torch.allclose(out[0::2], den(x, t, 0)[0::2])


def test_point_masses_give_convex_combinations(sched):
    pts = torch.tensor([[-1.0, 0.0], [1.0, 0.5], [0.0, 2.0]], dtype=F64)
    den = MixtureDenoiser(GaussianMixture.isotropic(pts, 0.0), sched, "x0")
    x0 = den(torch.randn(20, 2, dtype=F64), torch.full((20,), 100))
    assert torch.isfinite(x0).all()
    near = den(pts * sched.alpha(5).item(), torch.full((3,), 5))  # little noise: the point itself
    assert torch.allclose(near, pts, atol=1e-6)


def test_ring_and_isotropic_constructors():
    ring = GaussianMixture.ring(k=8, radius=2.0, std=0.1)
    assert ring.means.shape == (8, 2) and torch.allclose(ring.means.norm(dim=1), torch.full((8,), 2.0, dtype=F64))
    assert torch.allclose(ring.covs, 0.01 * torch.eye(2, dtype=F64).expand(8, 2, 2))
    iso = GaussianMixture.isotropic([[0.0, 0.0], [1.0, 1.0]], [0.1, 0.2], [1, 3])
    assert torch.allclose(iso.weights, torch.tensor([0.25, 0.75], dtype=F64))
    assert torch.allclose(iso.covs[1], 0.04 * torch.eye(2, dtype=F64))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: GaussianMixture([0.0, 1.0], [[1.0]]), "means"),
        (lambda: GaussianMixture([[0.0]], [[[1.0]], [[1.0]]]), "covs"),
        (lambda: GaussianMixture([[0.0], [1.0]], [[[1.0]], [[1.0]]], [1.0, -1.0]), "weights"),
        (
            lambda: GaussianMixture([[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]]),
            "positive semi-definite",
        ),
        (lambda: GaussianMixture([[0.0, 0.0]], [[[1.0, 0.5], [0.0, 1.0]]]), "symmetric"),
        (lambda: GaussianMixture.isotropic([[0.0, 0.0]], -1.0), "std"),
        (lambda: GaussianMixture.ring(k=0), "k must be"),
    ],
)
def test_mixture_bad_inputs(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_denoiser_bad_inputs(mix, sched):
    with pytest.raises(ValueError, match="unknown prediction"):
        MixtureDenoiser(mix, sched, "noise")
    den = MixtureDenoiser(mix, sched)
    x = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="0..999"):
        den(x, torch.tensor([0, 1000]))
    with pytest.raises(ValueError, match="integer timesteps"):
        den(x, torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="D=2"):
        den(torch.zeros(2, 3), 10)
    with pytest.raises(ValueError, match="floating"):
        den(torch.zeros(2, 2, dtype=torch.long), 10)
    with pytest.raises(ValueError, match="labels"):
        den(x, 10, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="sigma > 0"):
        mix.posterior(x, 1.0, 0.0)
