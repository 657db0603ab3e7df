"""GAN networks (Goodfellow et al. 2014): DCGAN-style image generator and discriminator, and MLPs for 2-D toys.

- :class:`Generator` (Radford et al. 2016, DCGAN): ``z`` (and a class label) -> a linear layer to
  a ``width*2 x r x r`` map -> transposed-convolution upsampling stages with batch norm and ReLU
  -> a 3x3 convolution and ``tanh`` to images in [-1, 1]. ``r = 7`` for 28x28 images (two
  stages), ``r = 4`` for 32x32 (three stages). A class-conditional generator adds a learned
  embedding of the label to ``z``'s first feature map.
- :class:`Discriminator` (the CNN of Miyato et al. 2018): at each stage a 3x3 convolution and a
  strided 4x4 one with LeakyReLU (doubling the width), down to ``r x r``; one more 3x3
  convolution there, so that each position sees most of the image; a global sum, and one logit.
  (With the strided convolutions alone, each position saw a 10x10 patch of a digit: the
  discriminator judged texture, not shape, and the generator learned a dotted texture.)
  Class-conditional by projection (Miyato & Koyama 2018): the logit gains ``<embed(y), h>``.
  ``spectral_norm=True`` wraps every layer in spectral normalisation (Miyato et al. 2018), which
  bounds each layer's largest singular value near 1. ``aux_classifier=True`` adds the auxiliary
  classifier of AC-GAN (Odena et al. 2017): a linear head on the same summed features that
  predicts the class (:meth:`Discriminator.score_and_classes`).
- :class:`MLPGenerator`, :class:`MLPDiscriminator`: the same roles for points in the plane.

Networks only: losses are in :mod:`diffusion_course.training.objectives`, training in
:mod:`diffusion_course.training.gan`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

__all__ = ["Generator", "Discriminator", "MLPGenerator", "MLPDiscriminator"]

_SIZES = {28: (7, 2), 32: (4, 3)}  # image size -> (lowest resolution r, upsampling stages)


def _check_image(in_channels: int, image_size: int) -> tuple[int, int]:
    if image_size not in _SIZES:
        raise ValueError(f"image_size must be one of {sorted(_SIZES)} (MNIST 28, CIFAR-10 32); got {image_size}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1; got {in_channels}")
    return _SIZES[image_size]


def _labels(y: Tensor | None, num_classes: int | None, batch: int) -> Tensor | None:
    if num_classes is None:
        if y is not None:
            raise ValueError("labels y were given, but this network is unconditional (num_classes=None)")
        return None
    if y is None:
        raise ValueError(f"this network is class-conditional ({num_classes} classes); pass labels y of shape (B,)")
    if y.dtype.is_floating_point or y.dtype == torch.bool or tuple(y.shape) != (batch,):
        raise ValueError(f"labels y must be an integer tensor of shape ({batch},); got {y.dtype} {tuple(y.shape)}")
    return y.long()


class Generator(nn.Module):
    """DCGAN generator (Radford et al. 2016): ``forward(z, y=None) -> images (B, C, H, W)`` in [-1, 1]."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        latent_dim: int = 64,
        width: int = 64,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        r, stages = _check_image(in_channels, image_size)
        self.config = {
            "in_channels": in_channels,
            "image_size": image_size,
            "latent_dim": latent_dim,
            "width": width,
            "num_classes": num_classes,
        }
        self.in_channels, self.image_size, self.num_classes = in_channels, image_size, num_classes
        self.latent_shape = (latent_dim,)
        c0 = width * 2 ** (stages - 1)
        self._first = (c0, r, r)
        self.project = nn.Linear(latent_dim, c0 * r * r)
        self.label_map = nn.Embedding(num_classes, c0 * r * r) if num_classes else None
        layers: list[nn.Module] = [nn.BatchNorm2d(c0), nn.ReLU()]
        c = c0
        for i in range(stages):
            nxt = max(width, c // 2) if i < stages - 1 else width
            layers += [nn.ConvTranspose2d(c, nxt, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(nxt), nn.ReLU()]
            c = nxt
        layers += [nn.Conv2d(c, in_channels, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_shape[0]:
            raise ValueError(f"expected latents z of shape (B, {self.latent_shape[0]}); got {tuple(z.shape)}")
        y = _labels(y, self.num_classes, z.shape[0])
        h = self.project(z)
        if y is not None:
            h = h + self.label_map(y.to(h.device))
        return self.body(h.reshape(z.shape[0], *self._first))


class Discriminator(nn.Module):
    """DCGAN discriminator with an optional projection head (Miyato & Koyama 2018): ``forward(x, y=None) -> (B,)``."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        width: int = 64,
        num_classes: int | None = None,
        spectral_norm: bool = False,
        aux_classifier: bool = False,
    ) -> None:
        super().__init__()
        r, stages = _check_image(in_channels, image_size)
        if aux_classifier and not num_classes:
            raise ValueError("aux_classifier=True needs num_classes (the classes the head predicts)")
        self.config = {
            "in_channels": in_channels,
            "image_size": image_size,
            "width": width,
            "num_classes": num_classes,
            "spectral_norm": spectral_norm,
            "aux_classifier": aux_classifier,
        }
        self.in_channels, self.image_size, self.num_classes = in_channels, image_size, num_classes
        wrap = _sn if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        c_in, c = in_channels, width
        for _ in range(stages):  # a 3x3 convolution, then a strided 4x4 one that halves the resolution
            layers += [wrap(nn.Conv2d(c_in, c, 3, padding=1)), nn.LeakyReLU(0.1)]
            layers += [wrap(nn.Conv2d(c, c, 4, stride=2, padding=1)), nn.LeakyReLU(0.1)]
            c_in, c = c, 2 * c
        self.body = nn.Sequential(*layers)
        # at r x r: one more 3x3 convolution, so that each position sees the whole image
        self.last = nn.Sequential(wrap(nn.Conv2d(c_in, c, 3, padding=1)), nn.LeakyReLU(0.1))
        self.num_features = c
        self.head = wrap(nn.Linear(c, 1))
        self.embed = wrap(nn.Embedding(num_classes, c)) if num_classes else None
        self.classifier = nn.Linear(c, num_classes) if aux_classifier else None

    def features(self, x: Tensor) -> Tensor:
        """The globally summed last feature map ``(B, num_features)``."""
        want = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, want))}); got {tuple(x.shape)}")
        return self.last(self.body(x)).sum(dim=(2, 3))

    def _score(self, h: Tensor, y: Tensor | None) -> Tensor:
        out = self.head(h).squeeze(1)
        if y is not None:
            out = out + (self.embed(y.to(h.device)) * h).sum(1)
        return out

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self._score(self.features(x), _labels(y, self.num_classes, x.shape[0]))

    def score_and_classes(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """AC-GAN (Odena et al. 2017): the real/fake logit ``(B,)`` and the class logits ``(B, K)``
        from one pass (needs ``aux_classifier=True``)."""
        if self.classifier is None:
            raise ValueError("this discriminator has no auxiliary classifier; build it with aux_classifier=True")
        h = self.features(x)
        return self._score(h, _labels(y, self.num_classes, x.shape[0])), self.classifier(h)


def _mlp(d_in: int, hidden: int, depth: int, d_out: int, act: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), act()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, d_out))


class MLPGenerator(nn.Module):
    """An MLP generator for 2-D toys (Goodfellow et al. 2014): ``forward(z) -> points (B, dim)``."""

    def __init__(self, dim: int = 2, latent_dim: int = 8, hidden: int = 128, depth: int = 3) -> None:
        super().__init__()
        self.config = {"dim": dim, "latent_dim": latent_dim, "hidden": hidden, "depth": depth}
        self.latent_shape, self.num_classes = (latent_dim,), None
        self.net = _mlp(latent_dim, hidden, depth, dim, nn.ReLU)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        _labels(y, None, z.shape[0])
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """An MLP discriminator for 2-D toys: ``forward(x) -> logits (B,)``; optional spectral norm."""

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, spectral_norm: bool = False) -> None:
        super().__init__()
        self.config = {"dim": dim, "hidden": hidden, "depth": depth, "spectral_norm": spectral_norm}
        self.num_classes = None
        net = _mlp(dim, hidden, depth, 1, lambda: nn.LeakyReLU(0.2))
        if spectral_norm:
            net = nn.Sequential(*[_sn(m) if isinstance(m, nn.Linear) else m for m in net])
        self.net = net

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        _labels(y, None, x.shape[0])
        return self.net(x).squeeze(1)
