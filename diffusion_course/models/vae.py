"""A convolutional variational autoencoder (Kingma & Welling 2014), with a vector or a spatial latent.

One class covers the course's autoencoders:

- ``latent="vector"``: the classic VAE. The encoder's last feature map is flattened into the mean
  and log-variance of a ``latent_dim``-dimensional diagonal Gaussian ``q(z | x)``; samples come
  from the prior ``N(0, I)`` through the decoder.
- ``latent="spatial"``: a ``latent_channels x H/f x W/f`` latent, as the KL-regularised
  autoencoder of latent diffusion (Rombach et al. 2022, "KL-f4"): with a small KL weight it is a
  compressor whose latents a diffusion model then learns. ``f = 2 ** len(channels)``, so the
  default two stages give 1x28x28 -> 4x7x7 and 3x32x32 -> 4x8x8.
- ``num_classes``: a conditional VAE (Sohn et al. 2015): the decoder reads the class label as a
  learned bias map added to its lowest-resolution feature map (for a vector latent the same as
  appending a one-hot label to ``z``), so ``p(x | z, y)`` draws the requested class. With
  ``encoder_labels`` (the default) the encoder reads it too, on its last feature map, so
  ``q(z | x, y)`` need not spend latent information on the class: prior draws with label ``y``
  then decode to class ``y`` far more reliably than when only the decoder knows the label (the
  encoder would learn to put the class into ``z``). ``encode(x, y)`` then needs the label.

The decoder's output depends on the likelihood it was trained with (``likelihood``, stored in the
config so a checkpoint knows): ``"gaussian"``: the mean image on the [-1, 1] pixel scale (a
linear output, clamped to [-1, 1] by :meth:`VAE.to_images`); ``"bernoulli"``: one logit per pixel
for the pixel intensity mapped to [0, 1], whose mean ``sigmoid(logit)`` maps back to [-1, 1].
The losses live in :mod:`diffusion_course.training.objectives`; networks know no training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["VAE", "LATENT_KINDS", "LIKELIHOODS"]

LATENT_KINDS = ("vector", "spatial")
LIKELIHOODS = ("gaussian", "bernoulli")


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm (Wu & He 2018) with up to 8 groups of at least 4 channels each."""
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0 and channels // g >= min(4, channels))
    return nn.GroupNorm(groups, channels)


class _ResBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016): GroupNorm, SiLU, 3x3 conv, twice."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            _norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class VAE(nn.Module):
    """Convolutional VAE (Kingma & Welling 2014) with a vector or spatial latent and an optional label.

    Args:
        in_channels, image_size: the images, ``in_channels x image_size x image_size`` in [-1, 1]
            (1x28x28 MNIST, 3x32x32 CIFAR-10); ``image_size`` must be divisible by ``2 ** len(channels)``.
        latent: ``"vector"`` (``latent_dim`` numbers) or ``"spatial"`` (``latent_channels x H/f x W/f``).
        channels: widths of the downsampling stages; each halves the resolution (``f = 2 ** len``).
        num_res_blocks: residual blocks per stage, in the encoder and in the decoder.
        num_classes: ``None`` (unconditional) or the number of classes the decoder is told.
        likelihood: ``"gaussian"`` or ``"bernoulli"`` (what the decoder's output means).
        encoder_labels: a class-conditional model's encoder reads the label too (``q(z | x, y)``).

    ``encode(x, y=None) -> (mu, logvar)``, ``decode(z, y) -> output``, ``forward(x, y, generator) ->
    (output, mu, logvar)`` with ``z = mu + exp(logvar / 2) * eps``; ``to_images(output)`` and
    ``sample_images(z, y)`` give images in [-1, 1] for either likelihood.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        latent: str = "vector",
        latent_dim: int = 16,
        latent_channels: int = 4,
        channels: tuple[int, ...] | list[int] = (32, 64),
        num_res_blocks: int = 1,
        num_classes: int | None = None,
        likelihood: str = "gaussian",
        encoder_labels: bool = True,
    ) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        _check_args(in_channels, image_size, latent, latent_dim, latent_channels, channels, num_classes, likelihood)
        self.config = {
            "in_channels": in_channels,
            "image_size": image_size,
            "latent": latent,
            "latent_dim": latent_dim,
            "latent_channels": latent_channels,
            "channels": channels,
            "num_res_blocks": num_res_blocks,
            "num_classes": num_classes,
            "likelihood": likelihood,
            "encoder_labels": encoder_labels,
        }
        self.in_channels, self.image_size, self.num_classes = in_channels, image_size, num_classes
        self.latent, self.likelihood = latent, likelihood
        self.factor = 2 ** len(channels)
        r = image_size // self.factor
        c_last = channels[-1]
        self._bottom = (c_last, r, r)
        self.latent_shape: tuple[int, ...] = (latent_dim,) if latent == "vector" else (latent_channels, r, r)

        enc: list[nn.Module] = []
        prev = in_channels
        for c in channels:
            enc += [nn.Conv2d(prev, c, 4, stride=2, padding=1), nn.SiLU()]
            enc += [_ResBlock(c) for _ in range(num_res_blocks)]
            prev = c
        enc += [_norm(c_last), nn.SiLU()]
        self.encoder = nn.Sequential(*enc)
        if latent == "vector":
            self.to_moments = nn.Sequential(nn.Flatten(), nn.Linear(c_last * r * r, 2 * latent_dim))
            self.from_latent = nn.Linear(latent_dim, c_last * r * r)
        else:
            self.to_moments = nn.Conv2d(c_last, 2 * latent_channels, 3, padding=1)
            self.from_latent = nn.Conv2d(latent_channels, c_last, 3, padding=1)
        self.label_map = nn.Embedding(num_classes, c_last * r * r) if num_classes else None
        if self.label_map is not None:
            nn.init.zeros_(self.label_map.weight)
        self.encoder_labels = bool(encoder_labels and num_classes)
        self.enc_label_map = nn.Embedding(num_classes, c_last * r * r) if self.encoder_labels else None

        dec: list[nn.Module] = []
        widths = channels[::-1] + [in_channels]
        for i, (c, nxt) in enumerate(zip(widths[:-1], widths[1:])):
            dec += [_ResBlock(c) for _ in range(num_res_blocks)]
            dec += [nn.ConvTranspose2d(c, nxt, 4, stride=2, padding=1)]
            dec += [nn.SiLU()] if i < len(channels) - 1 else []
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The posterior ``q(z | x[, y]) = N(mu, diag(exp(logvar)))``: ``(mu, logvar)``, each ``(B, *latent_shape)``.

        ``y`` (B,) is needed when the encoder reads labels (a class-conditional model with ``encoder_labels``).
        """
        want = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, want))}); got {tuple(x.shape)}")
        h = self.encoder(x)
        if self.encoder_labels:
            y = self._labels(y, x.shape[0])
            h = h + self.enc_label_map(y.to(h.device)).reshape(x.shape[0], *self._bottom)
        mu, logvar = self.to_moments(h).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def _labels(self, y: Tensor | None, batch: int) -> Tensor | None:
        if self.num_classes is None:
            if y is not None:
                raise ValueError("labels y were given, but this VAE is unconditional (num_classes=None)")
            return None
        if y is None:
            raise ValueError(f"this VAE is class-conditional ({self.num_classes} classes); pass labels y of shape (B,)")
        if y.dtype.is_floating_point or y.dtype == torch.bool or tuple(y.shape) != (batch,):
            raise ValueError(f"labels y must be an integer tensor of shape ({batch},); got {y.dtype} {tuple(y.shape)}")
        if y.device.type == "cpu" and y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ValueError(
                f"labels must lie in 0..{self.num_classes - 1}; got min {int(y.min())}, max {int(y.max())}"
            )
        return y.long()

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """The decoder's output for latents ``z`` ``(B, *latent_shape)`` (and labels ``y``): the Gaussian
        mean image or the Bernoulli logits, ``(B, in_channels, image_size, image_size)``."""
        if z.ndim != 1 + len(self.latent_shape) or tuple(z.shape[1:]) != self.latent_shape:
            raise ValueError(
                f"expected latents of shape (B, {', '.join(map(str, self.latent_shape))}); got {tuple(z.shape)}"
            )
        y = self._labels(y, z.shape[0])
        h = F.silu(self.from_latent(z).reshape(z.shape[0], *self._bottom))
        if y is not None:
            h = h + self.label_map(y.to(h.device)).reshape(z.shape[0], *self._bottom)
        return self.decoder(h)

    def reparameterize(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The reparameterization trick (Kingma & Welling 2014): ``z = mu + exp(logvar / 2) * eps``."""
        dev = generator.device if generator is not None else mu.device
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=dev).to(mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(
        self, x: Tensor, y: Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Encode, draw one ``z ~ q(z | x)`` (noise from ``generator``), decode: ``(output, mu, logvar)``."""
        mu, logvar = self.encode(x, y)
        return self.decode(self.reparameterize(mu, logvar, generator), y), mu, logvar

    def to_images(self, out: Tensor) -> Tensor:
        """Decoder output to images in [-1, 1]: the Gaussian mean clamped, or ``2 sigmoid(logits) - 1``."""
        if self.likelihood == "bernoulli":
            return 2.0 * torch.sigmoid(out) - 1.0
        return out.clamp(-1.0, 1.0)

    def sample_images(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Images in [-1, 1] decoded from latents ``z`` (the decoder's mean, not a pixel-noise draw)."""
        return self.to_images(self.decode(z, y))


def _check_args(
    in_channels: int,
    image_size: int,
    latent: str,
    latent_dim: int,
    latent_channels: int,
    channels: list[int],
    num_classes: int | None,
    likelihood: str,
) -> None:
    if latent not in LATENT_KINDS:
        raise ValueError(f"unknown latent kind {latent!r}; expected one of {LATENT_KINDS}")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}")
    if not channels or min(channels) < 1 or in_channels < 1:
        raise ValueError(f"channels must be a non-empty list of positive widths; got {channels}")
    f = 2 ** len(channels)
    if image_size < f or image_size % f:
        raise ValueError(
            f"image_size {image_size} must be divisible by the downsampling factor 2 ** len(channels) = {f}"
        )
    if latent_dim < 1 or latent_channels < 1:
        raise ValueError(f"latent_dim and latent_channels must be >= 1; got {latent_dim}, {latent_channels}")
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"num_classes must be None or >= 1; got {num_classes}")
