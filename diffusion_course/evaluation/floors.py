"""What the image metrics' numbers mean: the real-vs-real floor and a corruption ladder, per dataset.

- ``real_floor(n)``: ``n`` *train* images evaluated against ``n`` *test* images of the dataset, the
  best a perfect generator can expect at that sample count (FID is biased upward at small n).
- ``corruption_ladder(n)``: the same train images with added Gaussian noise and with Gaussian
  blur at a few strengths, against the same test reference; strength 0 is the floor, so every
  row reads as "how much worse than real data".

Both take tens of seconds on a CPU at n = 10,000, so their results are cached as JSON under
``config.cache_dir() / "metrics"``, keyed by the sample count, the settings and the sha256 of
the classifier.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from . import image_metrics as im
from .features import floor_draw

NOISE_STDS = (0.1, 0.2, 0.4, 0.8)  # on the [-1, 1] pixel scale
BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0)  # in pixels


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images plus N(0, std^2) pixel noise, clamped back to [-1, 1]."""
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return (x + std * noise).clamp(-1, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with standard deviation ``sigma`` pixels (kernel radius ceil(3 sigma));
    the border is padded with the background value -1."""
    if sigma <= 0:
        return x.clone()
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = (k / k.sum()).reshape(1, 1, 1, -1)
    c = x.shape[1]
    y = F.pad(x + 1, (r, r, r, r))  # shift so the background is 0, then zero-pad
    y = F.conv2d(y, k.expand(c, 1, 1, -1), groups=c)
    y = F.conv2d(y, k.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return y - 1


def _cache_file(kind: str, settings: dict) -> Path:
    from ..config import cache_dir

    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "metrics" / f"{kind}_n{settings['n']}_{key}.json"


def _cached(kind: str, settings: dict, compute: Callable[[], Any], use_cache: bool) -> Any:
    path = _cache_file(kind, settings)
    if use_cache and path.exists():
        return json.loads(path.read_text())["result"]
    result = compute()
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"settings": settings, "result": result}, indent=1) + "\n")
    return result


def _settings(kind: str, n: int, seed: int, classifier, dataset: str, **extra) -> dict:
    out = {
        "kind": kind,
        "n": n,
        "seed": seed,
        "classifier_sha256": getattr(classifier, "sha256", None),
        "version": 1,
        **extra,
    }
    if dataset != "mnist":  # MNIST's cache keys predate the dataset field
        out["dataset"] = dataset
    return out


def real_floor(n: int = 10000, seed: int = 0, classifier=None, use_cache: bool = True, dataset: str = "mnist") -> dict:
    """Real-vs-real floor: ``n`` train images vs ``n`` test images of ``dataset`` (``evaluate_images``)."""
    if n < 10:
        raise ValueError(f"n must be >= 10, got {n}")
    clf = classifier or im.default_classifier(dataset)
    settings = _settings("real_floor", n, seed, clf, dataset)
    return _cached(
        "real_floor",
        settings,
        lambda: im.evaluate_images(floor_draw(dataset, n, seed), classifier=clf, dataset=dataset),
        use_cache and settings["classifier_sha256"] is not None,
    )


def corruption_ladder(
    n: int = 10000,
    noise_stds: Sequence[float] = NOISE_STDS,
    blur_sigmas: Sequence[float] = BLUR_SIGMAS,
    seed: int = 0,
    classifier=None,
    use_cache: bool = True,
    dataset: str = "mnist",
) -> list[dict]:
    """Corruption ladder: the floor's train images with Gaussian noise and with blur at each
    strength, evaluated against the test reference; one row per (corruption, strength),
    starting with ``("none", 0)``, the real-vs-real floor."""
    clf = classifier or im.default_classifier(dataset)
    settings = _settings(
        "corruption_ladder",
        n,
        seed,
        clf,
        dataset,
        noise=list(map(float, noise_stds)),
        blur=list(map(float, blur_sigmas)),
    )

    def compute() -> list[dict]:
        x, g = floor_draw(dataset, n, seed), torch.Generator().manual_seed(seed + 1)
        rows = [{"corruption": "none", "strength": 0.0, **real_floor(n, seed, clf, use_cache, dataset)}]
        cases = [("noise", float(s), add_noise(x, s, g)) for s in noise_stds]
        cases += [("blur", float(s), gaussian_blur(x, s)) for s in blur_sigmas]
        return rows + [
            {
                "corruption": c,
                "strength": s,
                **im.evaluate_images(xc, classifier=clf, dataset=dataset),
            }
            for c, s, xc in cases
        ]

    return _cached(
        "corruption_ladder",
        settings,
        compute,
        use_cache and settings["classifier_sha256"] is not None,
    )
