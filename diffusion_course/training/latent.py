"""Latent diffusion training data (Rombach et al. 2022): encode the images once, then scale to unit variance.

The diffusion model itself trains through :func:`~diffusion_course.training.diffusion.train_diffusion`
unchanged; only its data are latents instead of pixels. The latents are the autoencoder's
posterior means, multiplied by the scale factor ``1 / std(z)`` measured on the training latents
(Rombach et al. 2022, sec. 4.3.2 and appendix D.1), so that they have unit variance like the pixels the noise
schedule was designed for: without it the same ``t`` would mean a different signal-to-noise ratio.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..pipelines.latent import encode_images

__all__ = ["latent_scale", "latent_dataset", "check_autoencoder"]


def latent_scale(z: Tensor) -> float:
    """The scale factor ``1 / std(z)`` over every element of the latents ``z`` (Rombach et al. 2022)."""
    if z.numel() < 2:
        raise ValueError(f"need at least two latent values to measure a standard deviation; got {z.numel()}")
    std = float(z.double().std())
    if not std > 0:
        raise ValueError("the latents have zero variance; is the autoencoder trained?")
    return 1.0 / std


def latent_dataset(
    autoencoder: nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 500
) -> tuple[Tensor | tuple[Tensor, Tensor], float]:
    """``(scaled latents [with labels], scale)``: posterior means of ``x``, times :func:`latent_scale`."""
    z = encode_images(autoencoder, x, batch_size)
    scale = latent_scale(z)
    z = (z * scale).float()
    return (z if y is None else (z, y)), scale


def check_autoencoder(autoencoder: nn.Module) -> None:
    """Refuse an autoencoder that cannot serve latent diffusion (a class-conditional VAE or a vector latent)."""
    if getattr(autoencoder, "num_classes", None) is not None:
        raise ValueError("latent diffusion needs an unconditional autoencoder (num_classes=None)")
    if len(getattr(autoencoder, "latent_shape", ())) != 3:
        raise ValueError(
            f"latent diffusion needs a spatial latent (C, H, W); got {getattr(autoencoder, 'latent_shape', None)}"
        )
