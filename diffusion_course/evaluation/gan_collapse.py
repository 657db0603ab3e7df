"""Mode collapse on MNIST, measured: an unconditional GAN's class coverage and recall over training.

Without labels nothing asks the generator to draw every digit, so a collapsing GAN shows up as
a class histogram far from uniform and a low recall (Kynkaanniemi et al. 2019: the share of real
images that lie inside the generated images' k-NN balls). :func:`collapse_run` trains the
``mnist-gan`` recipe's networks without labels (``num_classes=None``) for one seed and records,
every ``every`` steps, the coverage of ``n`` samples from the current generator;
:func:`coverage_row` reads any images the same way, so the diffusion model's unconditional
samples (null label) land in the same table.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from ..checkpoints import build_model
from ..training.gan import coverage_monitor, train_gan
from ..training.recipes import build_recipe
from .image_metrics import evaluate_images

__all__ = ["classes_covered", "coverage_row", "collapse_run"]


def classes_covered(histogram_pct: list[float]) -> int:
    """Classes that get at least half their uniform share of the samples (5% of 10 classes)."""
    k = len(histogram_pct)
    return sum(h >= 50.0 / k for h in histogram_pct)


def coverage_row(images: Tensor, dataset: str = "mnist") -> dict:
    """Class coverage, recall, precision and classifier-FID of unlabelled ``images`` in [-1, 1]."""
    r = evaluate_images(images, dataset=dataset)
    return {
        "classes_covered": classes_covered(r["class_histogram_pct"]),
        "max_class_deviation_pct": r["max_class_deviation_pct"],
        "class_kl_to_uniform": r["class_kl_to_uniform"],
        "recall_pct": r["recall_pct"],
        "precision_pct": r["precision_pct"],
        f"{dataset}_classifier_fid": r[f"{dataset}_classifier_fid"],
        "class_histogram_pct": r["class_histogram_pct"],
    }


def collapse_run(
    x: Tensor,
    seed: int,
    steps: int,
    every: int,
    n: int = 500,
    width: int | None = None,
    recipe: str = "mnist-gan",
    progress: bool = False,
) -> dict:
    """Train ``recipe``'s GAN without labels on images ``x`` (seed ``seed``) and log coverage every ``every`` steps.

    ``width`` overrides both networks' width (the study may use narrower networks than the
    shipped model, to fit several seeds in a CPU budget). Returns ``{"seed", "rows", "grid"}``:
    one row per check (``step`` plus :func:`coverage_row`), and 64 final EMA samples.
    """
    if steps < every or every < 1:
        raise ValueError(f"need 1 <= every <= steps; got every={every}, steps={steps}")
    spec = copy.deepcopy(build_recipe(recipe, seed)[2])
    for part in ("model", "discriminator"):
        spec[part]["kwargs"]["num_classes"] = None
        if width is not None:
            spec[part]["kwargs"]["width"] = width
    torch.manual_seed(seed)
    g = build_model(spec["model"])
    torch.manual_seed(seed + 1)
    d = build_model(spec["discriminator"])
    log: list[dict] = []
    monitor = coverage_monitor(every, lambda images, _: coverage_row(images), n=n, seed=seed, log=log)
    tr = {k: v for k, v in spec["train"].items() if k != "steps"}
    res = train_gan(g, d, x, steps=steps, seed=seed, progress=progress, callbacks=[monitor], device="cpu", **tr)
    with torch.no_grad():
        z = torch.randn(64, g.latent_shape[0], generator=torch.Generator().manual_seed(seed))
        grid = res.ema.eval()(z)
    return {"seed": seed, "width": width, "steps": res.step, "rows": log, "grid": grid}
