"""Pictures of a GAN's game on a 2-D toy (Goodfellow et al. 2014, figure 1): the generator's samples
drawn over the discriminator's decision surface, recorded during training.

- :func:`decision_surface`: ``D(x) = sigmoid(logit(x))`` on an ``n x n`` grid of the plane;
- :func:`game_snapshot`: the generator's points for a fixed noise ``z`` and the decision surface,
  at one training step (a plain dict, so a notebook can keep a list of them);
- :func:`snapshot_every`: a training-loop callback for
  :func:`~diffusion_course.training.gan.train_gan` that appends a snapshot every ``n`` steps;
- :func:`plot_game`: draws one snapshot (a widget steps through a list of them).

The computing functions are pure: they run without gradients and leave the networks in the mode
(training or evaluation) they found them in.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from ..training.loop import Every
from .fields import grid2d

__all__ = ["decision_surface", "game_snapshot", "snapshot_every", "plot_game"]


def _evaluating(*modules: nn.Module) -> list[bool]:
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    return modes


def _restore(modules: tuple[nn.Module, ...], modes: list[bool]) -> None:
    for m, mode in zip(modules, modes):
        m.train(mode)


@torch.no_grad()
def decision_surface(discriminator: nn.Module, lim: float = 3.0, n: int = 60) -> Tensor:
    """``D(x) = sigmoid(discriminator(x))`` on the grid ``grid2d(lim, n)``: shape ``(n, n)``, row ``i`` at height
    ``y_i`` (from ``-lim`` at row 0 to ``+lim``), column ``j`` at ``x_j``; values in [0, 1]."""
    pts = grid2d(lim, n)
    modes = _evaluating(discriminator)
    try:
        dev = next(discriminator.parameters()).device
        logits = discriminator(pts.to(dev)).float().cpu()
    finally:
        _restore((discriminator,), modes)
    if logits.shape != (n * n,):
        raise ValueError(
            f"the discriminator must return one logit per point, shape ({n * n},); got {tuple(logits.shape)}"
        )
    return torch.sigmoid(logits).reshape(n, n)


@torch.no_grad()
def game_snapshot(
    generator: nn.Module, discriminator: nn.Module, z: Tensor, step: int = 0, lim: float = 3.0, n: int = 60
) -> dict:
    """One frame of the game: ``{"step", "points": G(z) (N, 2), "surface": (n, n), "lim"}`` (on the CPU)."""
    modes = _evaluating(generator)
    try:
        dev = next(generator.parameters()).device
        points = generator(z.to(dev)).float().cpu()
    finally:
        _restore((generator,), modes)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"the generator must return points in the plane, shape (N, 2); got {tuple(points.shape)}")
    return {"step": int(step), "points": points, "surface": decision_surface(discriminator, lim, n), "lim": float(lim)}


def snapshot_every(
    every: int, z: Tensor, log: list, lim: float = 3.0, n: int = 60, at_start: bool = True, models: tuple = ()
) -> Every:
    """A callback for :func:`~diffusion_course.training.gan.train_gan`: every ``every`` steps append
    :func:`game_snapshot` of the current (not EMA) generator and discriminator to ``log``.

    ``at_start``: first append a snapshot of the untrained networks ``models = (generator,
    discriminator)`` (step 0), when they are given.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1; got {every}")
    if at_start and models:
        log.append(game_snapshot(*models, z, 0, lim, n))

    def fn(info: dict) -> None:
        m = info["models"]
        log.append(game_snapshot(m["generator"], m["discriminator"], z, info["step"], lim, n))

    return Every(every, fn)


def plot_game(
    snapshot: dict,
    data: Tensor | None = None,
    ax=None,
    title: str | None = None,
    colorbar: bool = False,
    s: float = 3.0,
):
    """Draw one snapshot: ``D(x)`` as a filled contour (red: "real", blue: "fake", white: 1/2), the
    training data in grey (optional), the generator's points in black. Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    lim, surface = snapshot["lim"], snapshot["surface"]
    u = torch.linspace(-lim, lim, surface.shape[0]).numpy()
    cs = ax.contourf(u, u, surface.numpy(), levels=torch.linspace(0, 1, 11).tolist(), cmap="RdBu_r", vmin=0, vmax=1)
    ax.contour(u, u, surface.numpy(), levels=[0.5], colors="k", linewidths=0.6)
    if data is not None:
        d = data.detach().float().cpu()
        ax.scatter(d[:, 0], d[:, 1], s=s, c="0.55", alpha=0.4, linewidths=0)
    p = snapshot["points"]
    ax.scatter(p[:, 0], p[:, 1], s=s, c="k", alpha=0.7, linewidths=0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title if title is not None else f"step {snapshot['step']}", fontsize=9)
    if colorbar:
        plt.colorbar(cs, ax=ax, fraction=0.046, pad=0.04, label="D(x)")
    return ax
