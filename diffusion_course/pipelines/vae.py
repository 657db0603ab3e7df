"""VAE generation (Kingma & Welling 2014): prior draws ``z ~ N(0, T^2 I)`` decoded to images; reconstructions.

Image ``i`` of :func:`generate_vae` decodes a latent drawn from its own random stream seeded by
``(seed, i)`` (:class:`~diffusion_course.diffusion.seeds.PerImageGenerator`), so an image does not
change with the batch size, as in the diffusion pipeline. The decoder gives the likelihood's mean
(the Gaussian mean image, or ``sigmoid(logits)`` for a Bernoulli decoder), mapped to [-1, 1]: the
pixel noise of ``p(x | z)`` is not drawn, as is usual for VAE samples.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..diffusion.seeds import PerImageGenerator
from .request import check_first, check_request

__all__ = ["generate_vae", "reconstruct"]


@torch.no_grad()
def generate_vae(
    model: nn.Module,
    config: dict | None,
    labels: Tensor | None,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 500,
    progress: bool = True,
    temperature: float = 1.0,
    first: int = 0,
) -> Tensor:
    """Draw ``n`` VAE samples (Kingma & Welling 2014): ``z = temperature * eps``, ``eps ~ N(0, I)``, decoded.

    ``labels`` (n,) are required by a class-conditional VAE and refused by an unconditional one.
    ``temperature`` < 1 draws from a narrower prior (cleaner, less varied images). ``config`` (the
    checkpoint's) is accepted for the common family signature and not needed. Image ``i`` depends
    only on ``(seed, i)``. Returns images in [-1, 1] on the CPU.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0; got {temperature}")
    check_first(first)
    labels = check_request(model, labels, n, batch_size, "VAE")
    model.eval()
    dev = next(model.parameters()).device
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=f"vae T={temperature}", leave=False)
    out = []
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        z = temperature * PerImageGenerator(seed, range(first + idx.start, first + idx.stop)).randn(
            (len(idx), *model.latent_shape)
        )
        y = None if labels is None else labels[idx.start : idx.stop].to(dev)
        out.append(model.sample_images(z.to(dev), y).float().cpu())
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()
    return torch.cat(out)


@torch.no_grad()
def reconstruct(model: nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 500) -> Tensor:
    """VAE reconstructions (Kingma & Welling 2014): decode the posterior mean ``mu(x, y)``; images in [-1, 1].

    ``y`` is needed by a class-conditional VAE. Returns the images on the CPU.
    """
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        yb = None if y is None else torch.as_tensor(y[i : i + batch_size]).long().to(dev)
        mu, _ = model.encode(x[i : i + batch_size].to(dev), yb)
        out.append(model.sample_images(mu, yb).float().cpu())
    return torch.cat(out)
