"""The guidance experiment: requested-class accuracy and classifier FID against the guidance weight w."""

from __future__ import annotations

import time

from torch import nn

from ..pipelines.generate import balanced_labels, generate
from . import floors, image_metrics

__all__ = ["guidance_sweep"]


def guidance_sweep(
    model: nn.Module,
    config: dict,
    ws=(0.0, 0.5, 1.0, 2.0, 4.0),
    n: int = 1000,
    sampler: str = "ddim",
    steps: int = 50,
    seed: int = 0,
    progress: bool = True,
    dataset: str = "mnist",
) -> dict:
    """Classifier-free guidance (Ho & Salimans 2022) swept over ``ws``: accuracy on the requested
    class and classifier FID per weight, plus the unconditional (null-label) class histogram and the
    real-vs-real floor at the same ``n``."""
    labels = balanced_labels(n)
    floor = floors.real_floor(n, dataset=dataset)
    fid_key = f"{dataset}_classifier_fid"
    rows = []
    for w in ws:
        t0 = time.perf_counter()
        x = generate(
            model,
            config,
            labels,
            n,
            sampler=sampler,
            steps=steps,
            w=w,
            seed=seed,
            progress=progress,
        )
        secs = time.perf_counter() - t0
        r = image_metrics.evaluate_images(x, labels=labels, dataset=dataset)
        rows.append(
            {
                "w": w,
                "class_accuracy_pct": r["class_accuracy_pct"],
                fid_key: r[fid_key],
                "fid_over_floor": round(r[fid_key] / floor[fid_key], 2),
                "precision_pct": r["precision_pct"],
                "recall_pct": r["recall_pct"],
                "seconds_per_1000": round(1000 * secs / n, 1),
            }
        )
        if progress:
            print("row done:", rows[-1], flush=True)
    x = generate(model, config, None, n, sampler=sampler, steps=steps, seed=seed + 1, progress=progress)
    unc = image_metrics.evaluate_images(x, dataset=dataset)
    keep = (
        fid_key,
        "class_histogram_pct",
        "max_class_deviation_pct",
        "precision_pct",
        "recall_pct",
    )
    return {
        "n": n,
        "sampler": sampler,
        "steps": steps,
        "floor": floor,
        "rows": rows,
        "unconditional": {k: unc[k] for k in keep},
    }
