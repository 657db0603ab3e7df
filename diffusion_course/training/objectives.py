"""Objectives of the other model families: the VAE's negative ELBO and the GAN's losses.

The diffusion objective lives in :mod:`diffusion_course.diffusion.losses`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["vae_loss", "gan_losses"]


def vae_loss(
    x: Tensor, x_recon: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Negative ELBO of a Gaussian VAE (Kingma & Welling 2014; beta-VAE, Higgins et al. 2017).

    ``recon`` = sum of squared errors per sample, averaged over the batch (a Gaussian decoder with
    fixed variance 1/2, up to a constant); ``kl`` = KL(N(mu, exp(logvar)) || N(0, I)) summed over
    latent dimensions, averaged over the batch. Returns ``(recon + beta * kl, recon, kl)``.
    """
    if x.shape != x_recon.shape:
        raise ValueError(f"x shape {tuple(x.shape)} must equal x_recon shape {tuple(x_recon.shape)}")
    if mu.shape != logvar.shape or mu.shape[0] != x.shape[0]:
        raise ValueError(
            f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must match and share x's batch size {x.shape[0]}"
        )
    b = x.shape[0]
    recon = ((x_recon - x) ** 2).reshape(b, -1).sum(dim=1).mean()
    kl = (-0.5 * (1.0 + logvar - mu**2 - logvar.exp())).reshape(b, -1).sum(dim=1).mean()
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
