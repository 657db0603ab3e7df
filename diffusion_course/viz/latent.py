"""Pictures of a VAE's latent space (Kingma & Welling 2014, figure 4): a decoded 2-D map, traversals, paths.

The decoding helpers (:func:`latent_grid`, :func:`decode_latent_grid`, :func:`latent_traversal`)
are pure functions of the model and their arguments, so widgets can call them; the ``plot_*``
functions only draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from ..evaluation.paths import step_sizes
from .images import image_grid, show_images

__all__ = ["latent_grid", "decode_latent_grid", "latent_traversal", "plot_latent_map", "plot_path"]


def latent_grid(center: Sequence[float] = (0.0, 0.0), span: float = 3.0, n: int = 15) -> Tensor:
    """An ``n x n`` grid of 2-D latents on ``center +- span``, in image order: shape ``(n*n, 2)``.

    Row ``r`` of the grid holds the ``n`` points of one height, from the largest ``z_2`` (top) to
    the smallest; within a row ``z_1`` grows left to right, so the decoded images tile like a plot.
    """
    if not span > 0:
        raise ValueError(f"span must be > 0; got {span!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2; got {n!r}")
    cx, cy = (float(c) for c in center)
    u = torch.linspace(-span, span, n)
    yy, xx = torch.meshgrid(cy - u, cx + u, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def _labels(model: nn.Module, y: int | None, n: int) -> Tensor | None:
    if getattr(model, "num_classes", None) is None:
        if y is not None:
            raise ValueError("a label was given, but the model is unconditional")
        return None
    if y is None:
        raise ValueError(f"the model is class-conditional ({model.num_classes} classes); pass a label y")
    return torch.full((n,), int(y), dtype=torch.long)


@torch.no_grad()
def decode_latent_grid(
    model: nn.Module, center: Sequence[float] = (0.0, 0.0), span: float = 3.0, n: int = 15, y: int | None = None
) -> Tensor:
    """Decode :func:`latent_grid` with a VAE whose latent has 2 dimensions: ``(n*n, C, H, W)`` in [-1, 1] on the CPU."""
    if tuple(model.latent_shape) != (2,):
        raise ValueError(f"a latent map needs a 2-dimensional latent; this model's is {tuple(model.latent_shape)}")
    model.eval()
    dev = next(model.parameters()).device
    z = latent_grid(center, span, n).to(dev)
    labels = _labels(model, y, len(z))
    return model.sample_images(z, None if labels is None else labels.to(dev)).float().cpu()


@torch.no_grad()
def latent_traversal(
    model: nn.Module, z: Tensor, dims: Sequence[int], values: Sequence[float], y: int | None = None
) -> Tensor:
    """Vary one latent coordinate at a time (Higgins et al. 2017, figure 1): one row per dimension in ``dims``.

    ``z`` is one vector latent ``(latent_dim,)``; row ``i`` decodes ``z`` with ``z[dims[i]]`` set to
    each of ``values`` in turn. Returns ``(len(dims) * len(values), C, H, W)`` in [-1, 1] on the CPU.
    """
    z = torch.as_tensor(z).reshape(-1)
    if len(model.latent_shape) != 1 or z.numel() != model.latent_shape[0]:
        raise ValueError(f"z must be one vector latent of shape {tuple(model.latent_shape)}; got {tuple(z.shape)}")
    bad = [d for d in dims if not 0 <= d < z.numel()]
    if bad or not len(dims) or not len(values):
        raise ValueError(f"need dims in 0..{z.numel() - 1} and at least one value; got dims {list(dims)}")
    model.eval()
    dev = next(model.parameters()).device
    zs = z.to(dev).repeat(len(dims) * len(values), 1)
    for i, d in enumerate(dims):
        zs[i * len(values) : (i + 1) * len(values), d] = torch.as_tensor(list(values), dtype=zs.dtype, device=dev)
    labels = _labels(model, y, len(zs))
    return model.sample_images(zs, None if labels is None else labels.to(dev)).float().cpu()


def plot_latent_map(
    images: Tensor,
    center: Sequence[float] = (0.0, 0.0),
    span: float = 3.0,
    ax=None,
    points: Tensor | None = None,
    point_labels: Tensor | None = None,
    title: str | None = None,
):
    """Draw the decoded grid of :func:`decode_latent_grid` at its latent coordinates; returns the axes.

    ``points`` (M, 2), e.g. the posterior means of real images, are scattered on top, coloured by
    ``point_labels`` (tab10) when given.
    """
    n = round(images.shape[0] ** 0.5)
    if n * n != images.shape[0]:
        raise ValueError(f"expected n*n images from decode_latent_grid; got {images.shape[0]}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    cx, cy = (float(c) for c in center)
    half = span / (n - 1)  # half a cell on each side: image centres sit on the grid points
    grid = image_grid(images, nrow=n, padding=0)
    ax.imshow(
        grid.squeeze(-1) if grid.shape[-1] == 1 else grid,
        cmap="gray",
        vmin=0,
        vmax=1,
        extent=(cx - span - half, cx + span + half, cy - span - half, cy + span + half),
    )
    if points is not None:
        p = torch.as_tensor(points).float().cpu().numpy()
        c = None if point_labels is None else torch.as_tensor(point_labels).cpu().numpy()
        ax.scatter(p[:, 0], p[:, 1], c=c, cmap="tab10", vmin=-0.5, vmax=9.5, s=3, alpha=0.6)
        ax.set_xlim(cx - span - half, cx + span + half)
        ax.set_ylim(cy - span - half, cy + span + half)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_path(frames: Tensor, probs: Tensor, axes=None, title: str | None = None, min_prob: float = 0.2):
    """Three panels for one interpolation path: the frames, the class probabilities, the step sizes.

    Only classes whose probability reaches ``min_prob`` somewhere on the path get a line. Returns
    the three axes.
    """
    k = frames.shape[0]
    if probs.shape[0] != k:
        raise ValueError(f"one row of probabilities per frame: {k} frames, {probs.shape[0]} rows")
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(11, 1.6), gridspec_kw={"width_ratios": [3, 1.3, 1.3]})
    show_images(frames, nrow=k, ax=axes[0], title=title)
    if title:
        axes[0].title.set_fontsize(9)
    t = torch.linspace(0, 1, k).numpy()
    p = torch.as_tensor(probs).detach().float().cpu().numpy()
    for c in range(p.shape[1]):
        if p[:, c].max() >= min_prob:
            axes[1].plot(t, p[:, c], marker=".", label=str(c), color=plt.cm.tab10(c % 10))
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].set_xlabel("position on the path", fontsize=8)
    axes[1].set_ylabel("p(class)", fontsize=8)
    axes[1].legend(fontsize=6, ncol=2, loc="center left")
    steps = step_sizes(frames).numpy()
    axes[2].bar((t[1:] + t[:-1]) / 2, steps, width=0.8 / (k - 1))
    axes[2].axhline(float(steps.mean()), color="k", lw=0.8, ls="--")
    axes[2].set_xlabel("position on the path", fontsize=8)
    axes[2].set_ylabel("RMS step", fontsize=8)
    for ax in axes[1:]:
        ax.tick_params(labelsize=7)
    return axes
