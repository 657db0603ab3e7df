"""Interpolation paths and their measures: lerp, slerp (Shoemake 1985), step sizes, on-manifold share.

A *path* is a sequence of ``K`` frames (images, or latents) from one end point to another. The
course compares paths made in different spaces (pixels, a VAE's latent, a diffusion model's
starting noise) by what their decoded frames look like, with three measures:

- ``step_ratio``: the largest change between neighbouring frames over the mean change (RMS per
  pixel). 1 means evenly spaced frames; a path that jumps (one digit suddenly becoming another)
  reads well above 1. Scale-free, so paths of different lengths compare.
- the classifier's class probabilities per frame (the dataset's feature network,
  :func:`~diffusion_course.evaluation.image_metrics.extract`): which classes the path visits, and
  how confident the classifier is along the way.
- ``on_manifold``: whether a frame's classifier features fall inside the real data's manifold,
  estimated as in improved precision (Kynkaanniemi et al. 2019): the union of balls around real
  features reaching their k-th nearest real neighbour. A blend of two digits that is no digit
  falls outside.

White (2016, "Sampling generative networks") argues for slerp between Gaussian latents; the
shape of the path (straight or spherical) is the caller's choice here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .features import dataset_of
from .image_metrics import extract, reference_features

__all__ = ["lerp", "slerp", "step_sizes", "step_ratio", "on_manifold", "path_measures"]


def _alphas(alphas: Sequence[float] | Tensor | int) -> Tensor:
    if isinstance(alphas, int):
        if alphas < 2:
            raise ValueError(f"a path needs at least 2 frames; got {alphas}")
        return torch.linspace(0.0, 1.0, alphas, dtype=torch.float64)
    a = torch.as_tensor(alphas, dtype=torch.float64).reshape(-1)
    if a.numel() < 1:
        raise ValueError("alphas must hold at least one interpolation weight")
    return a


def _ends(z0: Tensor, z1: Tensor) -> None:
    if z0.shape != z1.shape:
        raise ValueError(f"the end points must have the same shape; got {tuple(z0.shape)} and {tuple(z1.shape)}")


def lerp(z0: Tensor, z1: Tensor, alphas: Sequence[float] | Tensor | int) -> Tensor:
    """Linear interpolation ``(1 - a) z0 + a z1`` for each weight ``a``: shape ``(K, *z0.shape)``.

    ``alphas``: the weights, or an int ``K`` for ``K`` evenly spaced weights from 0 to 1.
    """
    _ends(z0, z1)
    a = _alphas(alphas).to(z0.dtype).to(z0.device).reshape(-1, *([1] * z0.ndim))
    return (1 - a) * z0 + a * z1


def slerp(z0: Tensor, z1: Tensor, alphas: Sequence[float] | Tensor | int, eps: float = 1e-7) -> Tensor:
    """Spherical linear interpolation (Shoemake 1985) of ``z0`` and ``z1`` seen as flat vectors: ``(K, *z0.shape)``.

    ``(sin((1 - a) theta) z0 + sin(a theta) z1) / sin(theta)`` with ``theta`` the angle between
    them: it walks along the great circle, so two vectors of equal norm keep that norm all the
    way. Nearly parallel vectors (``sin(theta) < eps``) fall back to :func:`lerp`.
    """
    _ends(z0, z1)
    a = _alphas(alphas)
    u, v = z0.reshape(-1).double(), z1.reshape(-1).double()
    denom = u.norm() * v.norm()
    if denom == 0:
        return lerp(z0, z1, a)
    theta = torch.arccos((u @ v / denom).clamp(-1.0, 1.0))
    if torch.sin(theta) < eps:
        return lerp(z0, z1, a)
    w0 = (torch.sin((1 - a) * theta) / torch.sin(theta)).to(z0.dtype).to(z0.device)
    w1 = (torch.sin(a * theta) / torch.sin(theta)).to(z0.dtype).to(z0.device)
    shape = (-1, *([1] * z0.ndim))
    return w0.reshape(shape) * z0 + w1.reshape(shape) * z1


def step_sizes(frames: Tensor) -> Tensor:
    """Change between neighbouring frames ``(K - 1,)``: the RMS difference per element (pixel)."""
    if frames.ndim < 2 or frames.shape[0] < 2:
        raise ValueError(f"frames must be shaped (K, ...) with K >= 2; got {tuple(frames.shape)}")
    diff = (frames[1:] - frames[:-1]).reshape(frames.shape[0] - 1, -1).double()
    return diff.square().mean(dim=1).sqrt()


def step_ratio(frames: Tensor) -> float:
    """Largest step over mean step along a path (1 = evenly spaced; a jump reads well above 1).

    A path whose frames are all equal has no uneven step and reads 1.
    """
    s = step_sizes(frames)
    mean = float(s.mean())
    return 1.0 if mean == 0.0 else float(s.max()) / mean


@torch.no_grad()
def on_manifold(features: Tensor, reference: Tensor, k: int = 3) -> Tensor:
    """Per row of ``features`` (N, d): is it inside the real manifold of ``reference`` (M, d)? ``(N,)`` bools.

    The manifold is the union of balls around the reference points, each reaching its k-th
    nearest other reference point (improved precision, Kynkaanniemi et al. 2019).
    """
    if features.ndim != 2 or reference.ndim != 2 or features.shape[1] != reference.shape[1]:
        raise ValueError(
            f"features (N, d) and reference (M, d) must share d; got {tuple(features.shape)}, {tuple(reference.shape)}"
        )
    if reference.shape[0] <= k:
        raise ValueError(f"the reference needs more than k = {k} points; got {reference.shape[0]}")
    ref = reference.float()
    radii = torch.cdist(ref, ref).kthvalue(k + 1, dim=1).values  # k + 1: each point is its own nearest
    return (torch.cdist(features.float(), ref) <= radii).any(dim=1)


@torch.no_grad()
def path_measures(
    frames: Tensor,
    *,
    classifier: nn.Module | None = None,
    dataset: str | None = None,
    reference: Tensor | None = None,
    n_reference: int = 2000,
    k: int = 3,
) -> dict:
    """The measures of a path of decoded images ``frames`` (K, C, H, W) in [-1, 1].

    Returns ``probs`` (K, classes), ``classes`` (the most likely class per frame), ``confidence``
    (its probability), ``on_manifold`` (bools, see :func:`on_manifold`), ``step_ratio``, and
    ``detour_share``: the share of frames classified as neither end's class. ``reference``:
    real features for the manifold (default: ``n_reference`` test images of the dataset, which
    defaults to the one whose feature network reads images of this shape).
    """
    dataset = dataset or dataset_of(tuple(frames.shape[1:]))
    feats, probs = extract(frames, classifier, dataset=dataset)
    if reference is None:
        reference = reference_features(n_reference, classifier=classifier, dataset=dataset)
    classes = probs.argmax(dim=1)
    ends = {int(classes[0]), int(classes[-1])}
    detour = sum(int(c) not in ends for c in classes)
    return {
        "probs": probs.float(),
        "classes": classes.tolist(),
        "confidence": probs.max(dim=1).values.float(),
        "on_manifold": on_manifold(feats, reference, k),
        "step_ratio": step_ratio(frames),
        "detour_share": detour / len(classes),
    }
