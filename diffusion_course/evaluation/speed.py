"""Sampling speed side by side: wall milliseconds per image for several checkpoints in one run.

One-shot generators (a GAN, a VAE decoder) against iterative samplers (DDPM-1000, DDIM-50,
DPM-Solver++-20) is a claim about cost per image, so every entry is timed the same way, one
after another in one process on one machine: the same labels (balanced), the same batch size,
one warm-up batch, then ``n`` images through
:func:`~diffusion_course.pipelines.families.generate_any`. The network evaluations per image come
from :func:`~.measure.network_evaluations`, so the table says what each number buys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from ..pipelines.families import family_of, generate_any
from ..pipelines.generate import balanced_labels
from .measure import network_evaluations

__all__ = ["SpeedEntry", "time_generation", "speed_table"]


@dataclass
class SpeedEntry:
    """One row to time: a display name, a loaded model and its config, and its generation options."""

    name: str
    model: nn.Module
    config: dict
    options: dict = field(default_factory=dict)


def time_generation(entry: SpeedEntry, n: int, batch_size: int, seed: int = 0) -> dict:
    """Milliseconds per image of ``entry`` for ``n`` balanced-label images in batches of ``batch_size``.

    A warm-up of one batch (at most ``n`` images) runs before the clock starts. Returns the row:
    name, family, options, ``ms_per_image``, ``seconds``, network evaluations per image.
    """
    if n < 1 or batch_size < 1:
        raise ValueError(f"need n >= 1 and batch_size >= 1; got n={n}, batch_size={batch_size}")
    classes = getattr(entry.model, "num_classes", None)
    labels = balanced_labels(n, classes) if classes else None
    family = family_of(entry.config)
    nfe, _ = network_evaluations(family, entry.model, labels is not None, entry.options)

    def draw(count: int) -> None:
        y = None if labels is None else labels[:count]
        generate_any(
            entry.model, entry.config, y, count, seed=seed, batch_size=batch_size, progress=False, **entry.options
        )

    with torch.no_grad():
        draw(min(n, batch_size))
        t0 = time.perf_counter()
        draw(n)
        secs = time.perf_counter() - t0
    return {
        "name": entry.name,
        "family": family,
        "options": dict(entry.options),
        "n": n,
        "batch_size": batch_size,
        "seconds": round(secs, 3),
        "ms_per_image": round(1000 * secs / n, 3),
        "network_evaluations_per_image": nfe,
    }


def speed_table(entries: list[SpeedEntry], n: int, batch_size: int, seed: int = 0, printer=None) -> list[dict]:
    """:func:`time_generation` for each entry in order; adds each row's speed-up over the slowest."""
    rows = []
    for e in entries:
        rows.append(time_generation(e, n, batch_size, seed))
        if printer is not None:
            printer(rows[-1])
    slowest = max(r["ms_per_image"] for r in rows)
    for r in rows:
        r["times_faster_than_slowest"] = round(slowest / max(r["ms_per_image"], 1e-9), 1)
    return rows
