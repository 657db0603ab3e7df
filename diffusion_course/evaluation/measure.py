"""The common instruments for any model family: quality, diversity, sharpness, speed (one dict per checkpoint).

:func:`measure` draws ``n`` images with balanced labels from a checkpoint of any family registered
in :mod:`~diffusion_course.pipelines.families` and reads them with the same instruments, so a
diffusion model, a VAE and a GAN land in one table (the generative learning trilemma of Xiao et
al. 2022: quality, diversity, speed):

- quality: requested-class accuracy, classifier FID and its ratio to the real-vs-real floor at
  the same ``n`` (:func:`~.floors.real_floor`), precision (Kynkaanniemi et al. 2019);
- diversity: recall, the class histogram and its largest deviation from uniform;
- sharpness: gradient and high-frequency ratios to real images, with their real-vs-real spread
  (:mod:`.sharpness`);
- speed: wall milliseconds per image (after a warm-up batch) and network evaluations per image.

Families with an encoder (a VAE, an autoencoder: ``pipelines.families.RECONSTRUCTORS``) also get
their reconstructions measured: the floor's own ``n`` test images, encoded to the posterior mean,
decoded, and scored against the floor's ``n`` train images, so that a perfect autoencoder reads
exactly 1.0x the floor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from ..pipelines.families import FAMILIES, family_of, generate_any, reconstructor_of
from ..pipelines.generate import balanced_labels
from . import floors, image_metrics
from .features import real_images
from .sample_cache import draw_in_chunks, weights_fingerprint
from .sharpness import sharpness

__all__ = ["measure", "network_evaluations", "psnr"]

WARMUP_IMAGES = 2  # one small batch before the clock starts (lazy init, allocator, caches)
_KEEP = ("precision_pct", "recall_pct", "mean_confidence_pct", "max_class_deviation_pct", "class_histogram_pct")


def _diffusion_nfe(model: nn.Module, conditional: bool, options: dict) -> tuple[int, str]:
    from ..samplers.registry import nfe_for

    sampler, steps = options.get("sampler", "ddim"), int(options.get("steps", 50))
    nfe = nfe_for(sampler, steps)
    if conditional:
        return 2 * nfe, (
            f"{sampler} {steps} steps = {nfe} evaluations, doubled: classifier-free guidance runs the "
            "conditional and the null-label branch as one doubled batch (counted per image of that batch)"
        )
    return nfe, f"{sampler} {steps} steps = {nfe} evaluations (one branch: no labels, no guidance)"


def _latent_nfe(model: nn.Module, conditional: bool, options: dict) -> tuple[int, str]:
    nfe, note = _diffusion_nfe(model, conditional, options)
    return nfe, f"{note}; plus one decoder pass of the autoencoder per image (not counted)"


# Network evaluations per image by family: (model, conditional, generation options) -> (count, what is counted).
NFE: dict[str, Callable[[nn.Module, bool, dict], tuple[int, str]]] = {
    "diffusion": _diffusion_nfe,
    "latent-diffusion": _latent_nfe,
    "vae": lambda *_: (1, "one decoder pass per image (a prior draw decoded once)"),
    "gan": lambda *_: (1, "one generator pass per image"),
}


def network_evaluations(family: str, model: nn.Module, conditional: bool, options: dict) -> tuple[int | None, str]:
    """Forward passes of the network per image for ``family``, and a sentence saying what is counted."""
    if family not in NFE:
        return None, f"the {family!r} family does not report its network evaluations"
    return NFE[family](model, conditional, options)


def psnr(x: Tensor, ref: Tensor) -> Tensor:
    """Peak signal-to-noise ratio per image in dB for images in [-1, 1] (peak-to-peak 2): ``10 log10(4 / MSE)``;
    capped at 100 dB (a perfect copy)."""
    mse = (x.double() - ref.double()).square().flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(4e-10))


def _over_floor(value: float, floor: float) -> float:
    return round(value / floor, 2)


def _reconstructions(
    reconstruct: Callable[..., Tensor], model: nn.Module, n: int, dataset: str, floor: dict, fid: str, batch_size: int
) -> dict:
    # The floor is FID(n train images, n test images), both drawn with seed 0 (floors.real_floor);
    # reconstructing those very test images and scoring them against those train images makes a
    # perfect autoencoder read the floor exactly.
    x, y = real_images(dataset, False, n, torch.Generator().manual_seed(0))
    train, _ = real_images(dataset, True, n, torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    conditional = getattr(model, "num_classes", None) is not None
    rec = reconstruct(model, x, y if conditional else None, batch_size=batch_size)
    secs = time.perf_counter() - t0
    r = image_metrics.evaluate_images(rec, reference=train, labels=y, dataset=dataset)
    return {
        "n": n,
        "class_accuracy_pct": r["class_accuracy_pct"],
        fid: r[fid],
        "fid_over_floor": _over_floor(r[fid], floor[fid]),
        "psnr_db": round(float(psnr(rec, x).mean()), 2),
        "mse": round(float((rec.double() - x.double()).square().mean()), 5),
        "precision_pct": r["precision_pct"],
        "recall_pct": r["recall_pct"],
        "sharpness": sharpness(rec, dataset),
        "ms_per_image": round(1000 * secs / n, 2),
    }


def _chunk_note(timing: dict, chunk: int) -> dict:
    """How a cached measurement was drawn: chunks, how many came from earlier runs, their load averages."""
    return {
        "chunk_size": chunk,
        "chunks": timing["chunks"],
        "reused_from_earlier_runs": timing["chunks_reused"],
        "load_averages": timing["load_averages"],
    }


def measure(
    model: nn.Module,
    config: dict,
    *,
    dataset: str | None = None,
    n: int = 1000,
    seed: int = 0,
    batch_size: int = 500,
    progress: bool = False,
    cache: str | Path | None = None,
    chunk: int = 50,
    **options,
) -> dict:
    """Measure a checkpoint of any family with the course's common instruments; returns a dict (no IO).

    Draws ``n`` images with balanced labels (unlabelled when the model is unconditional) through
    :func:`~diffusion_course.pipelines.families.generate_any`; ``options`` go to the family's
    generator (diffusion: ``sampler``, ``steps``, ``w``, ...). ``dataset`` defaults to the
    config's ``data.name``, else ``"mnist"``. Timing is wall clock on the model's device after a
    warm-up of :data:`WARMUP_IMAGES` images; read it with the load average the result file
    records. With ``cache`` (a folder), the images are drawn in chunks of ``chunk`` that are saved
    there and reused by the next call (:func:`~.sample_cache.draw_in_chunks`), so an interrupted
    long measurement resumes; the time per image then sums the chunks' own times. See the module
    docstring for the fields.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 10:
        raise ValueError(f"n must be an int >= 10 (the real-vs-real floor needs 10 images); got {n!r}")
    family = family_of(config)
    dataset = dataset or (config.get("data") or {}).get("name") or "mnist"
    reconstruct = reconstructor_of(config)
    if family not in FAMILIES and reconstruct is not None:  # an autoencoder: reconstructions only
        floor = floors.real_floor(n, dataset=dataset)
        rec = _reconstructions(reconstruct, model, n, dataset, floor, f"{dataset}_classifier_fid", batch_size)
        return {"kind": "measure", "family": family, "dataset": dataset, "n": n, "reconstruction": rec, "floor": floor}
    classes = getattr(model, "num_classes", None)
    labels = balanced_labels(n, classes) if classes else None
    nfe, nfe_note = network_evaluations(family, model, labels is not None, options)

    def draw(first: int, count: int) -> Tensor:
        y = None if labels is None else labels[first : first + count]
        return generate_any(
            model, config, y, count, seed=seed, first=first, batch_size=batch_size, progress=progress, **options
        )

    timing = {}
    if cache is None:
        draw(0, min(n, WARMUP_IMAGES))
        t0 = time.perf_counter()
        x = draw(0, n)
        secs = time.perf_counter() - t0
    else:
        key = {"weights": weights_fingerprint(model), "family": family, "seed": seed, "options": options}
        key["labels"] = "balanced" if labels is not None else None
        x, timing = draw_in_chunks(draw, n, cache, key, chunk=chunk)
        secs = timing["seconds"]

    floor = floors.real_floor(n, dataset=dataset)
    fid = f"{dataset}_classifier_fid"
    r = image_metrics.evaluate_images(x, labels=labels, dataset=dataset)
    out = {
        "kind": "measure",
        "family": family,
        "dataset": dataset,
        "n": n,
        "seed": seed,
        "options": dict(options),
        "conditional": labels is not None,
        "ms_per_image": round(1000 * secs / n, 2),
        "generate_seconds": round(secs, 1),
        **({"chunks": _chunk_note(timing, chunk)} if timing else {}),
        "network_evaluations_per_image": nfe,
        "network_evaluations_counted": nfe_note,
        "class_accuracy_pct": r.get("class_accuracy_pct"),
        fid: r[fid],
        "fid_over_floor": _over_floor(r[fid], floor[fid]),
        f"{dataset}_classifier_kid": r[f"{dataset}_classifier_kid"],
        **{k: r[k] for k in _KEEP},
        "sharpness": sharpness(x, dataset),
        "floor": floor,
    }
    if reconstruct is not None:
        out["reconstruction"] = _reconstructions(reconstruct, model, n, dataset, floor, fid, batch_size)
    return out
