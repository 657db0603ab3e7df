"""Latent diffusion (Rombach et al. 2022): diffusion samples latents, the autoencoder's decoder makes images.

A latent diffusion checkpoint's config names its autoencoder (``"autoencoder"``: a manifest name
or a path), the autoencoder's weights hash (``"autoencoder_sha256"``), the latent shape
(``"data_shape"``) and the latent scale factor (``"latent_scale"``): training saw
``latent_scale * z`` with ``z`` the posterior mean, so sampling divides by it before decoding.
The samplers are the pixel model's, unchanged: the pipeline only hands them a different shape and
no ``x0`` clipping, and decodes at the end (:class:`~.generate.Pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..checkpoints import CheckpointError, load_any, weights_sha256
from .generate import generate

__all__ = ["autoencoder_of", "decoder_of", "encode_images", "generate_latent", "reconstruct_autoencoder"]

_CACHE: dict[tuple[str, str], nn.Module] = {}


def autoencoder_of(config: dict) -> nn.Module:
    """The autoencoder a latent checkpoint names, loaded once per process and checked against its hash."""
    name = config.get("autoencoder")
    if not name:
        raise CheckpointError("this checkpoint names no autoencoder (config['autoencoder']); is it a latent model?")
    want = config.get("autoencoder_sha256")
    key = (str(name), str(want))
    if key not in _CACHE:
        have = weights_sha256(str(name))
        if want is not None and have != want:
            raise CheckpointError(
                f"autoencoder {name!r} has weights sha256 {have[:12]}..., but this latent model was trained on "
                f"{want[:12]}...: its latents would not decode; use the autoencoder it was trained with"
            )
        model, _ = load_any(str(name))
        _CACHE[key] = model.eval().requires_grad_(False)
    return _CACHE[key]


def decoder_of(autoencoder: nn.Module) -> Callable[[Tensor], Tensor]:
    """``z -> images in [-1, 1]``: the autoencoder's decoder on the device of ``z``."""

    def decode(z: Tensor) -> Tensor:
        ae = autoencoder.to(z.device)
        return ae.to_images(ae.decode(z.to(next(ae.parameters()).dtype)))

    return decode


@torch.no_grad()
def encode_images(autoencoder: nn.Module, x: Tensor, batch_size: int = 500) -> Tensor:
    """Posterior means ``mu(x)`` of an unconditional autoencoder, batch by batch, on the CPU."""
    autoencoder.eval()
    dev = next(autoencoder.parameters()).device
    return torch.cat([autoencoder.encode(x[i : i + batch_size].to(dev))[0].cpu() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def reconstruct_autoencoder(model: nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 500) -> Tensor:
    """Autoencoder reconstructions: decode the posterior mean; labels are not used (unconditional)."""
    z = encode_images(model, x, batch_size)
    dev = next(model.parameters()).device
    return torch.cat(
        [model.to_images(model.decode(z[i : i + batch_size].to(dev))).cpu() for i in range(0, len(z), batch_size)]
    )


def generate_latent(model: nn.Module, config: dict, labels: Tensor | None, n: int, **options) -> Tensor:
    """Latent diffusion samples: :func:`~.generate.generate` on latents, decoded by the named autoencoder."""
    return generate(model, config, labels, n, decoder=decoder_of(autoencoder_of(config)), **options)
