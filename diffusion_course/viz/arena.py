"""The arena's pictures: one request drawn by every model family side by side, and the trilemma plot.

- :func:`draw_panels`: the same request (class, number of images, seed) through each entry with
  :func:`~diffusion_course.pipelines.families.generate_any`; per panel the images, the live wall
  milliseconds per image of that draw and the network evaluations per image
  (:func:`~diffusion_course.evaluation.measure.network_evaluations`); an entry without a model is
  kept as a panel that says what is missing;
- :func:`plot_panels`: draws those panels in one row;
- :func:`plot_trilemma`: quality (FID over the floor) against speed (ms per image), both on log
  axes, marker area growing with recall, each row named in the legend: the generative learning
  trilemma of Xiao et al. 2022, figure 1, with measured numbers.

Nothing here writes a result; the committed numbers come from ``python -m diffusion_course arena``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import ScalarFormatter
from torch import Tensor, nn

from ..evaluation.measure import network_evaluations
from ..pipelines.families import family_of, generate_any
from .images import image_grid

__all__ = ["ArenaEntry", "draw_panels", "plot_panels", "plot_trilemma"]


@dataclass
class ArenaEntry:
    """One panel to draw: a title, a loaded model and its config (None when not shipped), its options."""

    title: str
    model: nn.Module | None
    config: dict | None
    options: dict = field(default_factory=dict)
    missing: str = ""  # what to say when ``model`` is None


def draw_panels(entries: list[ArenaEntry], label: int | None, n: int, seed: int = 0) -> list[dict]:
    """Draw ``n`` images of class ``label`` (None: unconditional) from each entry, timed one after another.

    Image ``i`` of every panel comes from ``(seed, i)``, so the request is the same for all. Returns
    one dict per entry: ``title``, ``images`` (n, C, H, W in [-1, 1], or None), ``ms_per_image``,
    ``nfe`` (network evaluations per image) and ``missing``.
    """
    panels = []
    for e in entries:
        panel = {"title": e.title, "images": None, "ms_per_image": None, "nfe": None, "missing": e.missing}
        if e.model is not None:
            conditional = getattr(e.model, "num_classes", None) is not None and label is not None
            labels = torch.full((n,), int(label), dtype=torch.long) if conditional else None
            panel["nfe"], _ = network_evaluations(family_of(e.config), e.model, conditional, e.options)
            t0 = time.perf_counter()
            with torch.no_grad():
                images = generate_any(
                    e.model, e.config, labels, n, seed=seed, batch_size=n, progress=False, **e.options
                )
            panel["ms_per_image"] = 1000 * (time.perf_counter() - t0) / n
            panel["images"] = images
        panels.append(panel)
    return panels


def _grid_image(images: Tensor, nrow: int):
    grid = image_grid(images, nrow=nrow)  # (H, W, C) in [0, 1]
    return (grid.squeeze(-1).numpy(), "gray") if grid.shape[-1] == 1 else (grid.numpy(), None)


def plot_panels(panels: list[dict], nrow: int = 4, size: float = 2.2, suptitle: str | None = None):
    """One axis per panel: its grid and, under it, ms per image and network evaluations (or what is missing)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size * 1.25), squeeze=False)
    shapes = [_grid_image(p["images"], nrow)[0].shape for p in panels if p["images"] is not None]
    for ax, p in zip(axes[0], panels):
        ax.set_title(p["title"], fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        if p["images"] is None:  # a light placeholder of the other panels' size, saying what is missing
            ax.imshow(np.full(shapes[0][:2] if shapes else (1, 1), 0.93), cmap="gray", vmin=0, vmax=1)
            ax.text(
                0.5, 0.5, p["missing"] or "not available", ha="center", va="center", fontsize=7, transform=ax.transAxes
            )
            ax.set_xlabel("missing", fontsize=8)
            continue
        img, cmap = _grid_image(p["images"], nrow)
        ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
        ax.set_xlabel(f"{p['ms_per_image']:.3g} ms/image\n{p['nfe']} network evals/image", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def plot_trilemma(rows: list[dict], ax=None, title: str | None = None):
    """Quality against speed: ``fid_over_floor`` over ``ms_per_image`` on log axes; marker area grows with recall.

    ``rows`` are arena rows (``name``, ``fid_over_floor``, ``ms_per_image``, ``recall_pct``, optionally
    ``n``). Lower left is fast and close to real data; a large marker covers more of the real data.
    A row measured on another number of images than most rows (the arena's DDPM-1000) is drawn
    hollow and its label says its ``n``: FID and the floor both depend on ``n``, so its ratio is not
    comparable with the others.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    sizes = [r.get("n") for r in rows]
    usual = max(set(sizes), key=sizes.count)
    for k, r in enumerate(rows):
        area = 20 + 4 * max(float(r["recall_pct"]), 0.0)
        color = f"C{k % 10}"
        if r.get("n") == usual:
            ax.scatter(r["ms_per_image"], r["fid_over_floor"], s=area, alpha=0.6, color=color, label=r["name"])
        else:
            label = f"{r['name']} (n = {r.get('n')}: not comparable)"
            ax.scatter(r["ms_per_image"], r["fid_over_floor"], s=area, facecolors="none", edgecolors=color, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    legend = ax.legend(fontsize=7, loc="best")
    for handle in legend.legend_handles:
        handle.set_sizes([30])
    ax.set_xlabel("milliseconds per image (log)")
    ax.set_ylabel("classifier-FID / real-vs-real floor (log)")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
