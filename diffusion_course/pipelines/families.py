"""Model families: how a checkpoint of each family turns a request (labels, n, seed) into images,
and, for families that have an encoder, how it reconstructs real images.

Every family's generator has the signature ``fn(model, config, labels, n, *, seed, batch_size,
progress, **options) -> images in [-1, 1]`` and draws image ``i`` from ``(seed, i)`` alone. The
``sample`` command, the evaluation commands and the arena look the family up here by the
checkpoint config's ``"family"`` (default ``"diffusion"``). A reconstructor has the signature
``fn(model, x, y=None, batch_size=500) -> images in [-1, 1]`` (posterior mean, decoded).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from .gan import generate_gan
from .generate import generate
from .latent import generate_latent, reconstruct_autoencoder
from .vae import generate_vae, reconstruct

__all__ = ["FAMILIES", "RECONSTRUCTORS", "family_of", "generate_any", "reconstructor_of"]

FAMILIES: dict[str, Callable[..., Tensor]] = {
    "diffusion": generate,
    "vae": generate_vae,
    "latent-diffusion": generate_latent,
    "gan": generate_gan,
}
RECONSTRUCTORS: dict[str, Callable[..., Tensor]] = {
    "vae": reconstruct,
    "autoencoder": reconstruct_autoencoder,
}


def family_of(config: dict) -> str:
    """The family a checkpoint config names (``"diffusion"`` when it names none)."""
    return config.get("family", "diffusion")


def generate_any(model: nn.Module, config: dict, labels: Tensor | None, n: int, **options) -> Tensor:
    """Images from a checkpoint of any registered family (options go to that family's generator)."""
    family = family_of(config)
    if family not in FAMILIES:
        raise ValueError(f"no generator for model family {family!r}; known families: {sorted(FAMILIES)}")
    return FAMILIES[family](model, config, labels, n, **options)


def reconstructor_of(config: dict) -> Callable[..., Tensor] | None:
    """The reconstruction function of the checkpoint's family, or None when the family has no encoder."""
    return RECONSTRUCTORS.get(family_of(config))
