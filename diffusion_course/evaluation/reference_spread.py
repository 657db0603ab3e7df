"""How much a small-sample FID moves with the reference set, and what survives the move.

The classifier-FID of ``n`` samples is measured against ``n`` real test images. At ``n = 500``
another draw of those real images moves every FID by several points, and the real-vs-real floor
with it. Comparing two samplers on one reference draw can therefore show a gap that another draw
does not. :func:`fid_by_reference` measures every sample set against the same ``len(seeds)``
reference draws (and the floor of each draw: ``n`` real training images against it), and
:func:`paired_gap` reads a comparison of two sets *paired* by draw: the reference's own noise is
shared by both sets on each draw, so the difference is steadier than either FID.
"""

from __future__ import annotations

import statistics

from torch import Tensor, nn

from .features import floor_draw
from .image_metrics import default_classifier, extract, frechet_distance, reference_features

__all__ = ["fid_by_reference", "paired_gap"]


def fid_by_reference(
    samples: dict[str, Tensor],
    seeds: list[int],
    dataset: str = "mnist",
    classifier: nn.Module | None = None,
) -> list[dict]:
    """One row per reference seed: ``{"seed", "floor", name: FID, ...}`` for every set in ``samples``.

    Every set has the same number ``n`` of images in [-1, 1]; reference ``seed`` is ``n`` random test
    images drawn with that seed, and ``floor`` is ``n`` random training images (same seed) against it.
    """
    if not samples or not seeds:
        raise ValueError("need at least one sample set and one reference seed")
    sizes = {name: x.shape[0] for name, x in samples.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"every sample set needs the same number of images; got {sizes}")
    n = next(iter(sizes.values()))
    clf = classifier or default_classifier(dataset)
    feats = {name: extract(x, clf)[0] for name, x in samples.items()}
    rows = []
    for seed in seeds:
        ref = reference_features(n, seed=seed, classifier=clf, dataset=dataset)
        real = extract(floor_draw(dataset, n, seed), clf)[0]
        row = {"seed": seed, "floor": round(frechet_distance(ref, real), 2)}
        row.update({name: round(frechet_distance(ref, f), 2) for name, f in feats.items()})
        rows.append(row)
    return rows


def paired_gap(rows: list[dict], a: str, b: str) -> dict:
    """FID(a) - FID(b) per reference draw: mean, sample standard deviation, range, and draws where a is lower."""
    missing = [k for k in (a, b) if any(k not in r for r in rows)]
    if missing or not rows:
        have = sorted(rows[0]) if rows else []
        raise ValueError(f"rows lack the sample set(s) {missing or [a, b]}; they have {have}")
    gaps = [r[a] - r[b] for r in rows]
    return {
        "a": a,
        "b": b,
        "mean": round(statistics.fmean(gaps), 2),
        "std": round(statistics.stdev(gaps), 2) if len(gaps) > 1 else None,
        "min": round(min(gaps), 2),
        "max": round(max(gaps), 2),
        "a_lower": sum(g < 0 for g in gaps),
        "draws": len(gaps),
    }
