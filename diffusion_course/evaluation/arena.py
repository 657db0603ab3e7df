"""The arena: every model family of the course on the same request, measured by the same instruments.

The generative learning trilemma (Xiao et al. 2022) says a generator rarely has all three of
quality, diversity and speed. :func:`arena` measures each shipped model of a dataset with
:func:`~.measure.measure` (one process, one machine, balanced labels, the same seed) and keeps,
per row, the three corners: quality (classifier-FID over the real-vs-real floor, requested-class
accuracy, precision), diversity (recall, the largest deviation of a class share from uniform)
and speed (milliseconds per image, network evaluations per image). :data:`ROSTER` lists the rows:
pixel diffusion with DDPM-1000, DDIM-50 and DPM-Solver++-20, latent diffusion with DDIM-50, the
GAN and the VAE. DDPM-1000 costs 20x DDIM-50 per image, so it may be measured on fewer images
(``n_slow``); its FID ratio is then taken against the floor at its own ``n``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .measure import measure

__all__ = ["ROSTER", "SLOW", "arena_row", "arena"]

GUIDANCE_W = 0.5
# dataset -> [(row name, manifest name, generation options)]; the pixel rows share one checkpoint
ROSTER: dict[str, list[tuple[str, str, dict]]] = {
    dataset: [
        ("pixel DDPM-1000", f"{dataset}-ddpm", {"sampler": "ddpm", "steps": 1000, "w": GUIDANCE_W}),
        ("pixel DDIM-50", f"{dataset}-ddpm", {"sampler": "ddim", "steps": 50, "w": GUIDANCE_W}),
        ("pixel DPM-Solver++-20", f"{dataset}-ddpm", {"sampler": "dpm_solver_pp", "steps": 20, "w": GUIDANCE_W}),
        ("latent diffusion DDIM-50", f"{dataset}-ldm", {"sampler": "ddim", "steps": 50, "w": GUIDANCE_W}),
        ("GAN (one pass)", f"{dataset}-gan", {}),
        ("VAE (one decoder pass)", f"{dataset}-vae", {}),
    ]
    for dataset in ("mnist", "cifar10")
}
SLOW = {"pixel DDPM-1000"}  # rows measured on n_slow images


def arena_row(name: str, checkpoint: str, model: nn.Module, config: dict, n: int, **options) -> dict:
    """One arena row: :func:`~.measure.measure` of ``model``, cut down to the trilemma's three corners."""
    r = measure(model, config, n=n, **options)
    fid = f"{r['dataset']}_classifier_fid"
    return {
        "name": name,
        "checkpoint": checkpoint,
        "family": r["family"],
        "options": r["options"],
        "n": r["n"],
        "class_accuracy_pct": r["class_accuracy_pct"],
        fid: r[fid],
        "floor_fid": r["floor"][fid],
        "fid_over_floor": r["fid_over_floor"],
        "precision_pct": r["precision_pct"],
        "recall_pct": r["recall_pct"],
        "max_class_deviation_pct": r["max_class_deviation_pct"],
        "gradient_ratio": r["sharpness"]["gradient_ratio"],
        "ms_per_image": r["ms_per_image"],
        "network_evaluations_per_image": r["network_evaluations_per_image"],
    }


def arena(
    dataset: str,
    load: Callable[[str], tuple[nn.Module, dict] | None],
    n: int,
    n_slow: int,
    seed: int = 0,
    batch_size: int = 250,
    only: list[str] | None = None,
    printer: Callable[[dict], None] | None = None,
) -> tuple[list[dict], list[str]]:
    """Measure every :data:`ROSTER` row of ``dataset``; returns ``(rows, missing checkpoints)``.

    ``load(name)`` returns ``(model, config)`` or None when that checkpoint is not shipped. ``only``
    keeps the rows whose name contains one of its words (case-insensitive).
    """
    if dataset not in ROSTER:
        raise ValueError(f"unknown dataset {dataset!r}; the arena knows {sorted(ROSTER)}")
    rows, missing, cache = [], [], {}
    for name, ckpt, options in ROSTER[dataset]:
        if only and not any(w.lower() in name.lower() for w in only):
            continue
        if ckpt not in cache:
            cache[ckpt] = load(ckpt)
        if cache[ckpt] is None:
            missing.append(ckpt)
            continue
        model, config = cache[ckpt]
        count = n_slow if name in SLOW else n
        rows.append(arena_row(name, ckpt, model, config, count, seed=seed, batch_size=batch_size, **options))
        if printer is not None:
            printer(rows[-1])
    return rows, sorted(set(missing))
