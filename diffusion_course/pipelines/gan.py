"""GAN generation (Goodfellow et al. 2014): one generator pass per image, ``z`` drawn per image.

Image ``i`` of :func:`generate_gan` decodes ``z`` drawn from its own random stream seeded by
``(seed, i)`` (:class:`~diffusion_course.diffusion.seeds.PerImageGenerator`), as the diffusion and
VAE pipelines do, so an image does not change with the batch size. ``truncation`` < 1 scales
``z`` towards the mode (the truncation trick of Brock et al. 2019: cleaner, less varied images).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..diffusion.seeds import PerImageGenerator
from .request import check_first, check_request

__all__ = ["generate_gan"]


@torch.no_grad()
def generate_gan(
    model: nn.Module,
    config: dict | None,
    labels: Tensor | None,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 500,
    progress: bool = True,
    truncation: float = 1.0,
    first: int = 0,
) -> Tensor:
    """Draw ``n`` GAN samples: ``G(truncation * z, y)`` with ``z ~ N(0, I)``; images in [-1, 1] on the CPU.

    ``labels`` (n,) are required by a class-conditional generator and refused by an unconditional
    one. ``config`` is accepted for the common family signature.
    """
    if not truncation >= 0:
        raise ValueError(f"truncation must be >= 0; got {truncation}")
    check_first(first)
    labels = check_request(model, labels, n, batch_size, "generator")
    model.eval()
    dev = next(model.parameters()).device
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="gan", leave=False)
    out = []
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        z = truncation * PerImageGenerator(seed, range(first + idx.start, first + idx.stop)).randn(
            (len(idx), *model.latent_shape)
        )
        y = None if labels is None else labels[idx.start : idx.stop].to(dev)
        out.append(model(z.to(dev), y).float().clamp(-1, 1).cpu())
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()
    return torch.cat(out)
