"""Objectives of the other model families: the VAE's negative ELBO and the GAN's losses.

The diffusion objective lives in :mod:`diffusion_course.diffusion.losses`.

The VAE (Kingma & Welling 2014) maximises the evidence lower bound

    log p(x) >= ELBO(x) = E_{q(z|x)}[log p(x | z)] - KL(q(z | x) || p(z)),

so it minimises ``recon + beta * kl`` per image, with ``recon = -log p(x | z)`` at one draw
``z ~ q(z | x)`` and ``kl`` in closed form (:func:`gaussian_kl`). ``beta = 1`` is the ELBO itself;
other values give the beta-VAE of Higgins et al. 2017 (small beta: sharper reconstructions and a
latent that carries more information; large beta: a smoother latent and blurrier images). All
per-image terms are in nats, summed over pixels and latent dimensions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.vae import LIKELIHOODS

__all__ = [
    "GAUSSIAN_SIGMA",
    "LIKELIHOODS",
    "gaussian_kl",
    "gaussian_nll",
    "bernoulli_nll",
    "reconstruction_nll",
    "negative_elbo",
    "vae_loss",
    "gan_losses",
    "GAN_LOSSES",
    "discriminator_loss",
    "generator_loss",
    "r1_penalty",
]

# The GAN losses (D = sigmoid(logit) for the first two): "minimax" (Goodfellow et al. 2014, the
# game's own value: G minimises log(1 - D(G(z)))), "non_saturating" (the same paper's practical
# fix: G maximises log D(G(z))) and "hinge" (Lim & Ye 2017; Miyato et al. 2018).
GAN_LOSSES = ("minimax", "non_saturating", "hinge")

GAUSSIAN_SIGMA = 0.5  # default decoder std of the Gaussian likelihood, on the [-1, 1] pixel scale


def _per_sample(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1).sum(dim=1)


def gaussian_kl(
    mu: Tensor, logvar: Tensor, prior_mu: Tensor | None = None, prior_logvar: Tensor | None = None
) -> Tensor:
    """KL divergence of diagonal Gaussians (Kingma & Welling 2014, appendix B), per sample, in nats.

    ``KL(N(mu, diag(exp(logvar))) || N(prior_mu, diag(exp(prior_logvar))))`` summed over all
    dimensions but the first (the batch); the prior defaults to ``N(0, I)``, where it is
    ``-1/2 sum(1 + logvar - mu^2 - exp(logvar))``. Returns shape ``(B,)``.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape")
    if prior_mu is None and prior_logvar is None:
        return _per_sample(-0.5 * (1.0 + logvar - mu**2 - logvar.exp()))
    p_mu = mu.new_zeros(()) if prior_mu is None else prior_mu
    p_lv = logvar.new_zeros(()) if prior_logvar is None else prior_logvar
    kl = 0.5 * (p_lv - logvar + (logvar.exp() + (mu - p_mu) ** 2) / p_lv.exp() - 1.0)
    return _per_sample(kl.expand(mu.shape))


def gaussian_nll(x: Tensor, mean: Tensor, sigma: float = GAUSSIAN_SIGMA) -> Tensor:
    """Negative log-density of ``x`` under ``N(mean, sigma^2 I)``, per sample, in nats (the full
    constant included): ``||x - mean||^2 / (2 sigma^2) + D log(sigma) + D/2 log(2 pi)``."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0; got {sigma}")
    d = x[0].numel()
    return _per_sample((x - mean) ** 2) / (2.0 * sigma**2) + d * (math.log(sigma) + 0.5 * math.log(2 * math.pi))


def bernoulli_nll(x: Tensor, logits: Tensor) -> Tensor:
    """Bernoulli negative log-likelihood (binary cross-entropy) of pixels mapped to [0, 1], per sample, in nats.

    ``x`` in [-1, 1] becomes ``p = (x + 1) / 2``; the loss is ``-sum(p log s + (1 - p) log(1 - s))``
    with ``s = sigmoid(logits)``, computed stably from the logits. For grey values ``0 < p < 1``
    this is the usual practice, not a normalised likelihood (the continuous Bernoulli of
    Loaiza-Ganem & Cunningham 2019 adds the missing constant); for binary pixels it is exact.
    """
    return _per_sample(F.binary_cross_entropy_with_logits(logits, (x + 1.0) / 2.0, reduction="none"))


def reconstruction_nll(x: Tensor, out: Tensor, likelihood: str = "gaussian", sigma: float = GAUSSIAN_SIGMA) -> Tensor:
    """``-log p(x | z)`` per sample in nats for the decoder output ``out`` (mean image or logits)."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}")
    if x.shape != out.shape:
        raise ValueError(f"x shape {tuple(x.shape)} must equal the decoder output shape {tuple(out.shape)}")
    return gaussian_nll(x, out, sigma) if likelihood == "gaussian" else bernoulli_nll(x, out)


def negative_elbo(
    x: Tensor,
    out: Tensor,
    mu: Tensor,
    logvar: Tensor,
    *,
    beta: float = 1.0,
    likelihood: str = "gaussian",
    sigma: float = GAUSSIAN_SIGMA,
    reduction: str = "mean",
) -> tuple[Tensor, Tensor, Tensor]:
    """Negative ELBO of a VAE (Kingma & Welling 2014) with a KL weight ``beta`` (Higgins et al. 2017).

    Returns ``(recon + beta * kl, recon, kl)`` in nats per image, averaged over the batch
    (``reduction="mean"``) or per sample (``"none"``). ``recon = -log p(x | z)`` at the ``z`` that
    produced ``out``; ``kl = KL(q(z | x) || N(0, I))`` (:func:`gaussian_kl`).

    The likelihood is a modelling choice:

    - ``"gaussian"``: ``p(x | z) = N(decoder mean, sigma^2 I)`` on the [-1, 1] scale with a
      *fixed* ``sigma`` (default :data:`GAUSSIAN_SIGMA` = 0.5, a quarter of the pixel range). Its
      reconstruction term is a squared error weighted by ``1 / (2 sigma^2)``, so ``sigma`` trades
      off against ``beta``: training with ``(sigma, beta)`` follows the same gradients as
      ``(1, beta * sigma^2)`` up to scale; a small ``sigma`` gives sharp reconstructions but a
      large KL and poor prior samples. The optimal decoder mean is the average of the images
      ``z`` could have come from, which is why a Gaussian VAE's images are blurry.
    - ``"bernoulli"``: the decoder gives one logit per pixel for the intensity in [0, 1]
      (:func:`bernoulli_nll`); the common choice for near-binary data such as MNIST, with no
      variance to pick, but not a normalised density for grey pixels.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"unknown reduction {reduction!r}; expected 'mean' or 'none'")
    if mu.shape != logvar.shape or mu.shape[0] != x.shape[0]:
        raise ValueError(
            f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must match and share x's batch size {x.shape[0]}"
        )
    recon = reconstruction_nll(x, out, likelihood, sigma)
    kl = gaussian_kl(mu, logvar)
    total = recon + beta * kl
    if reduction == "mean":
        return total.mean(), recon.mean(), kl.mean()
    return total, recon, kl


def vae_loss(
    x: Tensor, x_recon: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Negative ELBO of a Gaussian VAE in its short form (Kingma & Welling 2014; beta-VAE, Higgins et al. 2017).

    ``recon`` = sum of squared errors per sample, averaged over the batch: the Gaussian
    likelihood with fixed variance 1/2 on the data's scale, without its constant
    (``gaussian_nll(x, x_recon, sqrt(1/2))`` minus ``D/2 log(pi)``); ``kl`` =
    KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions, averaged over the batch.
    Returns ``(recon + beta * kl, recon, kl)``. :func:`negative_elbo` is the general form.
    """
    if x.shape != x_recon.shape:
        raise ValueError(f"x shape {tuple(x.shape)} must equal x_recon shape {tuple(x_recon.shape)}")
    if mu.shape != logvar.shape or mu.shape[0] != x.shape[0]:
        raise ValueError(
            f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must match and share x's batch size {x.shape[0]}"
        )
    recon = _per_sample((x_recon - x) ** 2).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return recon + beta * kl, recon, kl


def gan_losses(d_real_logits: Tensor, d_fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Non-saturating GAN losses (Goodfellow et al. 2014, section 3).

    ``d_loss = -log D(x) - log(1 - D(G(z)))`` and ``g_loss = -log D(G(z))``, averaged, with
    ``D = sigmoid(logits)`` (computed stably by softplus). Detach the fake samples for the
    discriminator step; use fresh, non-detached fake logits for the generator step.
    """
    d_loss = F.softplus(-d_real_logits).mean() + F.softplus(d_fake_logits).mean()
    g_loss = F.softplus(-d_fake_logits).mean()
    return d_loss, g_loss


def _check_gan_loss(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_LOSSES}")


def discriminator_loss(kind: str, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's loss (Goodfellow et al. 2014; hinge: Lim & Ye 2017), averaged over the batch.

    minimax and non_saturating share it: ``-log D(x) - log(1 - D(G(z)))``; hinge:
    ``relu(1 - d(x)) + relu(1 + d(G(z)))`` on raw logits. Pass fake logits of detached samples.
    """
    _check_gan_loss(kind)
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(kind: str, fake_logits: Tensor) -> Tensor:
    """The generator's loss (Goodfellow et al. 2014): minimax ``log(1 - D(G(z)))``, non_saturating
    ``-log D(G(z))``, hinge ``-d(G(z))``; averaged over the batch.

    The minimax loss saturates: when D rejects the fakes confidently its gradient vanishes, which
    is why the non-saturating one is used in practice.
    """
    _check_gan_loss(kind)
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: Tensor, x_real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): ``E ||grad_x d(x)||^2`` on real data; ``x_real`` must require grad.

    Training adds ``gamma / 2`` times it to the discriminator's loss.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), x_real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()
