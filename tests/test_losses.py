import math

import pytest
import torch

from diffusion_course.diffusion.forward import noise_like, sample_timesteps
from diffusion_course.diffusion.losses import WEIGHTINGS, diffusion_loss, loss_weight, target_for
from diffusion_course.diffusion.parameterization import PREDICTIONS, convert, expand
from diffusion_course.diffusion.schedules import cosine_schedule, linear_schedule, make_schedule
from diffusion_course.training.objectives import gan_losses, vae_loss

N, D, S = 20000, 2, 1.7  # Gaussian data N(0, S^2 I) in D dimensions


def gaussian_denoiser(schedule, prediction, gain=1.0, offset=0.0):
    """Exact E[eps | x_t] for N(0, S^2 I) data, converted to `prediction`, optionally perturbed."""

    def model(x_t, t):
        a, s = expand(schedule.alpha(t), x_t), expand(schedule.sigma(t), x_t)
        eps_hat = gain * s / (a * a * S * S + s * s) * x_t + offset
        return convert(eps_hat, "eps", prediction, x_t, a, s)

    return model


def _draws(schedule, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = S * torch.randn(N, D, generator=g, dtype=torch.float64)
    return x0, sample_timesteps(N, schedule, g), noise_like(x0, g)


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_true_denoiser_minimizes_the_loss(prediction, weighting):
    s = linear_schedule(T=200)
    x0, t, noise = _draws(s)
    kw = dict(prediction=prediction, weighting=weighting, t=t, noise=noise)
    best = diffusion_loss(gaussian_denoiser(s, prediction), x0, s, **kw).item()
    for gain, offset in [(0.9, 0.0), (1.1, 0.0), (1.0, 0.1), (1.0, -0.1)]:
        worse = diffusion_loss(gaussian_denoiser(s, prediction, gain, offset), x0, s, **kw).item()
        assert worse > best, (gain, offset)


@pytest.mark.parametrize("t_fixed", [5, 60, 190])
def test_optimal_eps_loss_is_the_posterior_variance(t_fixed):
    """E||eps - E[eps|x_t]||^2 / D = Var(eps | x_t) = a^2 S^2 / (a^2 S^2 + s^2) for Gaussian data."""
    s = cosine_schedule(T=200)
    x0, _, noise = _draws(s, seed=t_fixed)
    per, _ = diffusion_loss(
        gaussian_denoiser(s, "eps"),
        x0,
        s,
        t=torch.full((N,), t_fixed),
        noise=noise,
        reduction="none",
    )
    a2, s2 = s.alpha(t_fixed).item() ** 2, s.sigma(t_fixed).item() ** 2
    expected = a2 * S * S / (a2 * S * S + s2)
    assert abs(per.mean().item() - expected) < 5 * per.std().item() / N**0.5


def _unit_error_model(x0, noise, schedule, prediction):
    """A model whose output is its target plus 1 everywhere, so the per-sample loss is w(t)."""

    def model(x_t, t):
        return target_for(prediction, x0, noise, schedule.alpha(t), schedule.sigma(t)) + 1.0

    return model


@pytest.mark.parametrize("zero", [False, True])
@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_min_snr_weights_numeric(prediction, zero):
    s = make_schedule("cosine", T=100, zero_terminal_snr=zero)
    g = torch.Generator().manual_seed(4)
    x0 = torch.randn(100, 3, generator=g, dtype=torch.float64)
    t, noise, gamma = torch.arange(100), noise_like(x0, g), 5.0
    per, t_out = diffusion_loss(
        _unit_error_model(x0, noise, s, prediction),
        x0,
        s,
        prediction,
        "min_snr",
        t=t,
        noise=noise,
        min_snr_gamma=gamma,
        reduction="none",
    )
    assert torch.equal(t_out, t)
    ab = s.alpha_bar
    snr = [ab[i].item() / (1 - ab[i].item()) for i in range(100)]
    if prediction == "eps":  # min(SNR, g) / SNR, with its limit 1 at SNR = 0
        expected = [min(r, gamma) / r if r > 0 else 1.0 for r in snr]
    elif prediction == "x0":
        expected = [min(r, gamma) for r in snr]
    else:
        expected = [min(r, gamma) / (r + 1) for r in snr]
    assert torch.allclose(per, torch.tensor(expected, dtype=torch.float64), rtol=1e-9, atol=1e-12)
    assert torch.isfinite(per).all()


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_same_eps_error_gives_the_documented_eps_equivalent_loss(weighting):
    """One eps error, expressed in each target: "snr" and "min_snr" losses agree across targets;
    "uniform" gives eps-MSE, eps-MSE / SNR for x0, eps-MSE (SNR+1)/SNR for v, eps-MSE for score."""
    s = linear_schedule(T=100)
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(100, 4, generator=g, dtype=torch.float64)
    noise, t = noise_like(x0, g), torch.arange(100)
    err = 0.3 * torch.randn(100, 4, generator=g, dtype=torch.float64)
    losses = {}
    for p in PREDICTIONS:

        def model(x_t, tt, p=p):
            a, sg = s.alpha(tt), s.sigma(tt)
            return convert(noise + err, "eps", p, x_t, a, sg)

        losses[p] = diffusion_loss(model, x0, s, p, weighting, t=t, noise=noise, reduction="none")[0]
    snr = s.snr(t)
    if weighting == "uniform":
        ratio = {"eps": 1.0, "x0": 1 / snr, "v": (snr + 1) / snr, "score": 1.0}
    else:
        ratio = {p: 1.0 for p in PREDICTIONS}
    for p in PREDICTIONS:
        assert torch.allclose(losses[p], losses["eps"] * ratio[p], rtol=1e-8), p


def test_reductions_generator_and_conditioning():
    s = cosine_schedule(T=50)
    x0 = torch.randn(16, 1, 4, 4, generator=torch.Generator().manual_seed(6))
    seen = {}

    def model(x_t, t, y=None):
        seen["y"] = y
        return torch.zeros_like(x_t)

    labels = torch.arange(16)
    per, t = diffusion_loss(model, x0, s, y=labels, generator=torch.Generator().manual_seed(1), reduction="none")
    assert torch.equal(seen["y"], labels) and per.shape == (16,) and t.shape == (16,)
    mean = diffusion_loss(model, x0, s, y=labels, generator=torch.Generator().manual_seed(1))
    total = diffusion_loss(model, x0, s, y=labels, generator=torch.Generator().manual_seed(1), reduction="sum")
    assert torch.allclose(mean, per.mean()) and torch.allclose(total, per.sum())
    other = diffusion_loss(model, x0, s, y=labels, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(mean, other)
    diffusion_loss(lambda x_t, t: torch.zeros_like(x_t), x0, s, generator=torch.Generator())


def test_loss_weight_table_values():
    snr = torch.tensor([0.25, 4.0, 100.0], dtype=torch.float64)
    sigma2 = 1 / (1 + snr)
    assert torch.allclose(loss_weight(snr, "score", "uniform"), sigma2)
    assert torch.allclose(loss_weight(snr, "x0", "snr"), snr)
    assert torch.allclose(loss_weight(snr, "v", "snr"), snr / (snr + 1))
    assert torch.allclose(loss_weight(snr, "score", "min_snr", 5.0), sigma2 * torch.tensor([1.0, 1.0, 0.05]))


def test_vae_loss_matches_closed_forms():
    g = torch.Generator().manual_seed(7)
    x, xr = torch.randn(2, 8, 1, 5, 5, generator=g)
    mu, logvar = torch.randn(2, 8, 3, generator=g)
    total, recon, kl = vae_loss(x, xr, mu, logvar, beta=0.5)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, p).sum(1).mean(), rtol=1e-5)
    assert torch.allclose(recon, ((x - xr) ** 2).sum((1, 2, 3)).mean())
    assert torch.allclose(total, recon + 0.5 * kl)
    _, _, kl0 = vae_loss(x, x, torch.zeros_like(mu), torch.zeros_like(mu))
    assert kl0.item() == 0.0
    with pytest.raises(ValueError, match="x_recon"):
        vae_loss(x, xr[:4], mu, logvar)


def test_gan_losses_are_the_nonsaturating_bce():
    real = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    fake = torch.tensor([-3.0, 0.0, 1.0], dtype=torch.float64)
    d, gl = gan_losses(real, fake)
    sig = torch.sigmoid
    assert torch.allclose(d, -sig(real).log().mean() - (1 - sig(fake)).log().mean())
    assert torch.allclose(gl, -sig(fake).log().mean())
    d0, g0 = gan_losses(torch.zeros(4), torch.zeros(4))
    assert d0.item() == pytest.approx(2 * math.log(2)) and g0.item() == pytest.approx(math.log(2))
    # non-saturating: the generator gradient stays large when D confidently rejects fakes
    f = torch.tensor([-10.0], requires_grad=True)
    gan_losses(torch.zeros(1), f)[1].backward()
    assert f.grad.abs().item() > 0.99


def test_bad_inputs_raise():
    s = linear_schedule(T=20)
    x0 = torch.zeros(4, 2)
    zero = lambda x_t, t: torch.zeros_like(x_t)
    with pytest.raises(ValueError, match="unknown prediction 'noise'"):
        diffusion_loss(zero, x0, s, prediction="noise")
    with pytest.raises(ValueError, match="unknown weighting 'p2'"):
        diffusion_loss(zero, x0, s, weighting="p2")
    with pytest.raises(ValueError, match="unknown reduction"):
        diffusion_loss(zero, x0, s, reduction="max")
    with pytest.raises(ValueError, match="model output shape"):
        diffusion_loss(lambda x_t, t: torch.zeros(4, 3), x0, s)
    with pytest.raises(ValueError, match=r"t must have shape"):
        diffusion_loss(zero, x0, s, t=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"0\.\.19"):
        diffusion_loss(zero, x0, s, t=torch.full((4,), 20))
    with pytest.raises(ValueError, match="noise shape"):
        diffusion_loss(zero, x0, s, noise=torch.zeros(4, 3))
    with pytest.raises(ValueError, match="min_snr_gamma"):
        diffusion_loss(zero, x0, s, weighting="min_snr", min_snr_gamma=0.0)
    with pytest.raises(ValueError, match="floating"):
        diffusion_loss(zero, x0.long(), s)
