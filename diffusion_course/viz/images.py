"""Plots for the notebooks: image grids (torchvision ``make_grid``), 2-D point clouds, curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid

from ..data.images import to_pixels


def image_grid(x: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Arrange images in [-1, 1] (N, C, H, W) into one (H', W', C) array in [0, 1] for ``imshow``."""
    if x.ndim != 4:
        raise ValueError(f"expected images shaped (N, C, H, W), got {tuple(x.shape)}")
    grid = make_grid(to_pixels(x.detach().float().cpu()), nrow=nrow, padding=padding, pad_value=1.0)
    return grid.permute(1, 2, 0)


def show_images(x: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None, size: float = 4.0):
    """Show a batch of images in [-1, 1] as one grid; returns the matplotlib axes."""
    if ax is None:
        rows = -(-x.shape[0] // nrow)
        _, ax = plt.subplots(figsize=(size, size * rows / min(nrow, x.shape[0])))
    grid = image_grid(x, nrow=nrow)
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def scatter2d(
    x: torch.Tensor,
    ax=None,
    title: str | None = None,
    lim: float | None = 3.5,
    s: float = 2.0,
    alpha: float = 0.5,
    **kw,
):
    """Scatter-plot an (N, 2) point cloud with equal axes; returns the axes."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"expected points shaped (N, 2), got {tuple(x.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    x = x.detach().float().cpu()
    ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha, **kw)
    ax.set_aspect("equal")
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    if title:
        ax.set_title(title)
    return ax
