"""Sharpness: mean gradient magnitude and high-frequency spectral share (focus measures, Pertuz et al. 2013).

Two classic focus measures (Pertuz, Puig & Garcia 2013, "Analysis of focus measure operators for
shape-from-focus", Pattern Recognition 46), for images ``(N, C, H, W)`` in [-1, 1] of any size:

- ``gradient``: the mean gradient magnitude, ``sqrt(dx^2 + dy^2)`` of forward finite differences,
  averaged over pixels and channels (a constant image reads 0; a +-1 checkerboard ``2 sqrt 2``);
- ``high_freq_share``: the share of an image's spectral power (``torch.fft.fft2`` of the image
  minus its mean) at radial frequencies above ``cutoff`` cycles per pixel (Nyquist is 0.5).

The gradient is absolute (contrast counts); the spectral share is scale-free (a faint, almost flat
image with a little noise reads high), so read the two together.

Each is averaged over the images and reported as a *ratio to real images of the same dataset*
(test split), beside a *real-vs-real spread*: the ratios between several disjoint real subsets of
the same size, so a reader can tell a difference from sampling noise. Blur reads below 1, added
noise above 1. Sharpness alone can be gamed: noise or ringing "sharpens" an image without making
it any better, which is why it sits beside classifier FID and precision/recall, never alone.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor

from .features import real_images

__all__ = [
    "CUTOFF",
    "SUBSETS",
    "MEASURES",
    "RATIOS",
    "gradient_magnitude",
    "high_frequency_share",
    "sharpness_stats",
    "real_sharpness",
    "sharpness",
]

CUTOFF = 0.25  # cycles per pixel: half the Nyquist frequency
SUBSETS = 9  # real subsets compared with the reference for the spread (MNIST's 10,000 test images at n = 1000)
MEASURES = ("gradient", "high_freq_share")
RATIOS = ("gradient_ratio", "high_freq_ratio")  # the names of the two ratios to real
_REAL: dict[tuple, dict] = {}  # in-process cache of real references


def _images(x: Any) -> Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 4 or not x.is_floating_point() or min(x.shape[2:]) < 2:
        raise ValueError(f"images must be floats shaped (N, C, H, W) with H, W >= 2; got {x.dtype} {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf")
    return x.detach().double()


def gradient_magnitude(x: Any) -> Tensor:
    """Mean gradient magnitude per image (N,): ``sqrt(dx^2 + dy^2)`` of forward differences on the
    ``(H - 1) x (W - 1)`` grid, averaged over pixels and channels (pixel units of the [-1, 1] scale)."""
    x = _images(x)
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx.square() + dy.square()).sqrt().mean(dim=(1, 2, 3))


def high_frequency_share(x: Any, cutoff: float = CUTOFF) -> Tensor:
    """Share of spectral power above radial frequency ``cutoff`` (cycles per pixel) per image (N,).

    The power is ``|fft2(x - mean)|^2`` summed over channels; an image with no power (constant)
    reads 0. A +-1 checkerboard has all its power at (0.5, 0.5), radius ``sqrt(0.5)``, so it reads 1
    for any cutoff below 0.707.
    """
    if not 0 < cutoff < 0.5**0.5:
        raise ValueError(f"cutoff must be in (0, {0.5**0.5:.3f}) cycles per pixel; got {cutoff}")
    x = _images(x)
    h, w = x.shape[-2:]
    power = torch.fft.fft2(x - x.mean(dim=(2, 3), keepdim=True)).abs().square().sum(dim=1)  # (N, H, W)
    radius = torch.fft.fftfreq(h, dtype=x.dtype)[:, None].hypot(torch.fft.fftfreq(w, dtype=x.dtype)[None, :])
    total = power.sum(dim=(1, 2))
    high = (power * (radius > cutoff)).sum(dim=(1, 2))
    return torch.where(total > 0, high / total.clamp_min(1e-300), torch.zeros_like(total))


def sharpness_stats(x: Any, cutoff: float = CUTOFF) -> dict:
    """Both measures averaged over the images: ``{"gradient": float, "high_freq_share": float}``."""
    return {
        "gradient": float(gradient_magnitude(x).mean()),
        "high_freq_share": float(high_frequency_share(x, cutoff).mean()),
    }


def _spread(stats: list[dict]) -> dict:
    """[min, max] of stat_i / stat_j over ordered pairs of distinct subsets, per measure."""
    out = {}
    for k, name in zip(MEASURES, RATIOS):
        ratios = [a[k] / b[k] for a, b in itertools.permutations(stats, 2) if b[k] > 0]
        out[name] = [round(min(ratios), 3), round(max(ratios), 3)] if ratios else None
    return out


def real_sharpness(
    dataset: str = "mnist",
    n: int = 1000,
    subsets: int = SUBSETS,
    seed: int = 0,
    cutoff: float = CUTOFF,
    images: Tensor | None = None,
) -> dict:
    """The real reference and its real-vs-real spread, from disjoint random subsets of the test
    split (``images`` replaces it): up to ``subsets`` + 1 subsets of ``n`` images, fewer when the
    split is too small, and at least two (of half the split each when ``n`` is more than half).
    Subset 0 is the reference every ratio divides by; ``spread`` holds, per measure, the
    [min, max] ratio between any two distinct subsets (it always brackets 1); ``n`` and
    ``subsets`` in the result say what was used. Cached in-process."""
    if n < 2 or subsets < 1:
        raise ValueError(f"need n >= 2 and subsets >= 1; got n={n}, subsets={subsets}")
    key = (dataset, n, subsets, seed, cutoff)
    if images is None and key in _REAL:
        return _REAL[key]
    x = _images(images if images is not None else real_images(dataset, False)[0])
    groups = max(2, min(subsets + 1, x.shape[0] // n))
    m = min(n, x.shape[0] // groups)
    if m < 2:
        raise ValueError(f"{x.shape[0]} real images cannot make 2 disjoint subsets of 2 or more")
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    stats = [sharpness_stats(x[perm[i * m : (i + 1) * m]], cutoff) for i in range(groups)]
    out = {"dataset": dataset, "n": m, "subsets": groups - 1, "cutoff": cutoff, **stats[0], "spread": _spread(stats)}
    if images is None:
        _REAL[key] = out
    return out


def sharpness(
    x: Any,
    dataset: str = "mnist",
    *,
    reference: dict | None = None,
    subsets: int = SUBSETS,
    cutoff: float = CUTOFF,
) -> dict:
    """Mean gradient magnitude and high-frequency share of ``x`` as ratios to real ``dataset``
    images (Pertuz et al. 2013), with the real-vs-real spread at the same sample size.

    Returns ``gradient_ratio`` and ``high_freq_ratio`` (1 = as sharp as real; blur < 1, noise > 1),
    the raw values of the samples and of the real reference, and ``real_spread`` ([min, max] ratio
    between disjoint real subsets): a ratio outside the spread is a difference, not noise.
    ``reference`` is a :func:`real_sharpness` result (default: computed for ``len(x)`` images).
    """
    x = _images(x)
    ref = reference or real_sharpness(dataset, x.shape[0], subsets, cutoff=cutoff)
    stats = sharpness_stats(x, ref["cutoff"])
    return {
        "gradient_ratio": round(stats["gradient"] / ref["gradient"], 3),
        "high_freq_ratio": round(stats["high_freq_share"] / ref["high_freq_share"], 3),
        "gradient": round(stats["gradient"], 4),
        "high_freq_share": round(stats["high_freq_share"], 4),
        "real_gradient": round(ref["gradient"], 4),
        "real_high_freq_share": round(ref["high_freq_share"], 4),
        "real_spread": ref["spread"],
        "real_n": ref["n"],
        "real_subsets": ref["subsets"],
        "cutoff": ref["cutoff"],
    }
