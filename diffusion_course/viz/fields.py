"""Plots of 2-D vector fields and paths: score fields (Song & Ermon 2019) and sampler trajectories.

- ``grid2d``: an ``n x n`` grid of points on ``[-lim, lim]^2`` as an ``(n*n, 2)`` tensor;
- ``plot_vector_field``: a streamplot of any field ``fn(points) -> vectors``, coloured by the
  log10 of its length (a score field spans orders of magnitude);
- ``plot_paths``: trajectories ``(steps, N, 2)`` as lines, with their start and end marked.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import Normalize

__all__ = ["grid2d", "plot_vector_field", "plot_paths"]


def grid2d(lim: float = 3.5, n: int = 25, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A regular ``n x n`` grid on ``[-lim, lim]^2``, rows in x-fastest order: shape ``(n*n, 2)``."""
    if not lim > 0:
        raise ValueError(f"lim must be > 0, got {lim!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    u = torch.linspace(-lim, lim, n, dtype=dtype)
    yy, xx = torch.meshgrid(u, u, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def plot_vector_field(
    fn: Callable[[torch.Tensor], torch.Tensor],
    ax=None,
    lim: float = 3.5,
    n: int = 25,
    title: str | None = None,
    cmap: str = "viridis",
    density: float = 1.0,
    vmin: float | None = None,
    vmax: float | None = None,
):
    """Streamplot of a 2-D vector field ``fn((M, 2) points) -> (M, 2)`` on ``[-lim, lim]^2``.

    Lines follow the field; their colour is ``log10 |field|``, on the scale ``[vmin, vmax]``
    when given (to compare panels), else the field's own range. Returns the axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    pts = grid2d(lim, n)
    with torch.no_grad():
        vec = torch.as_tensor(fn(pts)).detach().to("cpu", torch.float64)
    if vec.shape != pts.shape:
        raise ValueError(f"fn must return vectors shaped {tuple(pts.shape)}, got {tuple(vec.shape)}")
    u = np.linspace(-lim, lim, n)
    vx, vy = vec[:, 0].reshape(n, n).numpy(), vec[:, 1].reshape(n, n).numpy()
    speed = np.log10(np.hypot(vx, vy) + 1e-12)
    norm = Normalize(vmin=vmin, vmax=vmax) if (vmin is not None or vmax is not None) else None
    ax.streamplot(
        u,
        u,
        vx,
        vy,
        color=speed,
        cmap=cmap,
        norm=norm,
        density=density,
        linewidth=0.8,
        arrowsize=0.8,
    )
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def plot_paths(
    paths: torch.Tensor,
    ax=None,
    lim: float | None = 3.5,
    title: str | None = None,
    lw: float = 0.8,
    cmap: str = "tab10",
):
    """Draw trajectories ``paths`` of shape ``(steps, N, 2)``: a line each, start ``o``, end ``*``."""
    paths = torch.as_tensor(paths).detach().to("cpu", torch.float64)
    if paths.ndim != 3 or paths.shape[2] != 2:
        raise ValueError(f"paths must be shaped (steps, N, 2), got {tuple(paths.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    colors = plt.get_cmap(cmap)
    for j in range(paths.shape[1]):
        p = paths[:, j].numpy()
        c = colors(j % colors.N)
        ax.plot(p[:, 0], p[:, 1], color=c, lw=lw)
        ax.plot(p[0, 0], p[0, 1], "o", color=c, ms=4)
        ax.plot(p[-1, 0], p[-1, 1], "*", color=c, ms=8, markeredgecolor="k", markeredgewidth=0.4)
    ax.set_aspect("equal")
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    if title:
        ax.set_title(title)
    return ax
