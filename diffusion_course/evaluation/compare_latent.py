"""Pixel against latent diffusion (Rombach et al. 2022), measured in one run on one machine.

For each checkpoint :func:`compare_latent` measures:

- one training step (the diffusion loss on a batch of the model's own inputs, forward and
  backward): wall time after warm-up steps, and activation memory, the bytes autograd saves for
  backward (:func:`~.cost.saved_tensor_bytes`; on CUDA also the allocator's peak). A latent
  model's step starts from latents encoded once before training, as the recipes do: encoding is
  a one-off cost, reported separately per image;
- one sample: model FLOPs per image at the given sampler, steps and guidance (the network's
  forward FLOPs times its evaluations, plus the decoder's for a latent model), and the wall time
  per image, decode included, from :func:`~.measure.measure`;
- quality at the same guidance, from :func:`~.measure.measure` (requested-class accuracy,
  classifier-FID over the real-vs-real floor, precision, recall) on ``n`` balanced samples.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from ..diffusion.losses import diffusion_loss
from ..diffusion.schedules import schedule_from_config
from ..pipelines.families import family_of
from ..pipelines.latent import autoencoder_of, encode_images
from .cost import forward_flops, peak_cuda_bytes, saved_tensor_bytes
from .features import real_images
from .measure import measure, network_evaluations

__all__ = ["train_step_cost", "sample_flops", "compare_latent", "ratios"]


def _inputs(model: nn.Module, config: dict, dataset: str, batch_size: int) -> tuple[Tensor, Tensor | None]:
    """A batch of the model's own training inputs: pixels, or scaled latents of real images."""
    x, y = real_images(dataset, True, batch_size, torch.Generator().manual_seed(0))
    if family_of(config) == "latent-diffusion":
        x = encode_images(autoencoder_of(config), x) * float(config["latent_scale"])
    return x, (y if getattr(model, "num_classes", None) else None)


def train_step_cost(
    model: nn.Module, config: dict, dataset: str, batch_size: int = 64, repeats: int = 5, warmup: int = 2
) -> dict:
    """Wall seconds and activation bytes of one training step (diffusion loss, forward + backward).

    The model's weights are restored afterwards (no optimizer step is taken).
    """
    dev = next(model.parameters()).device
    x, y = _inputs(model, config, dataset, batch_size)
    x, y = x.to(dev), (None if y is None else y.to(dev))
    schedule = schedule_from_config(config)
    g = torch.Generator().manual_seed(0)
    was_training = model.training
    model.train()

    def loss() -> Tensor:
        return diffusion_loss(model, x, schedule, config["prediction"], y=y, generator=g)

    params = list(model.parameters())
    activation = saved_tensor_bytes(loss, exclude=params)
    seconds = []
    for i in range(warmup + repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        loss().backward()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i >= warmup:
            seconds.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    cuda_peak = peak_cuda_bytes(lambda: loss().backward(), dev)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {
        "batch_size": batch_size,
        "input_shape": list(x.shape[1:]),
        "ms_per_step": round(1000 * sorted(seconds)[len(seconds) // 2], 1),
        "activation_bytes": activation,
        "activation_mb": round(activation / 2**20, 2),
        "cuda_peak_bytes": cuda_peak,
    }


@torch.no_grad()
def sample_flops(model: nn.Module, config: dict, dataset: str, options: dict) -> dict:
    """Model FLOPs per image: one forward pass times the network evaluations, plus the decoder's pass."""
    dev = next(model.parameters()).device
    x, y = _inputs(model, config, dataset, 1)
    x = x.to(dev)
    t = torch.full((1,), 500, device=dev, dtype=torch.long)
    args = (x, t) if y is None else (x, t, y.to(dev))
    per_call = forward_flops(lambda: model(*args))
    nfe, _ = network_evaluations(family_of(config), model, y is not None, options)
    decode = 0
    if family_of(config) == "latent-diffusion":
        ae = autoencoder_of(config).to(dev)
        decode = forward_flops(lambda: ae.decode(x / float(config["latent_scale"])))
    return {
        "flops_per_network_call": per_call,
        "network_evaluations": nfe,
        "decoder_flops": decode,
        "gflops_per_image": round((per_call * nfe + decode) / 1e9, 3),
        "parameters": sum(p.numel() for p in model.parameters()),
        "positions": int(x[0, 0].numel()),
    }


def _encode_ms_per_image(config: dict, dataset: str, n: int = 256) -> float | None:
    if family_of(config) != "latent-diffusion":
        return None
    x, _ = real_images(dataset, True, n, torch.Generator().manual_seed(1))
    ae = autoencoder_of(config)
    encode_images(ae, x[:8])
    t0 = time.perf_counter()
    encode_images(ae, x)
    return round(1000 * (time.perf_counter() - t0) / n, 3)


def compare_latent(
    models: dict[str, tuple[nn.Module, dict]],
    dataset: str,
    *,
    n: int = 1000,
    options: dict | None = None,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Measure each ``name -> (model, config)`` with the same instruments; returns ``{name: row}``."""
    options = {"sampler": "ddim", "steps": 50, "w": 0.5, **(options or {})}
    rows = {}
    for name, (model, config) in models.items():
        q = measure(model, config, dataset=dataset, n=n, seed=seed, progress=progress, **options)
        fid = f"{dataset}_classifier_fid"
        rows[name] = {
            "family": family_of(config),
            "train_step": train_step_cost(model, config, dataset, batch_size),
            "sample": {
                **sample_flops(model, config, dataset, options),
                "ms_per_image": q["ms_per_image"],
                "encode_ms_per_image": _encode_ms_per_image(config, dataset),
            },
            "quality": {
                "n": n,
                "class_accuracy_pct": q["class_accuracy_pct"],
                fid: q[fid],
                "fid_over_floor": q["fid_over_floor"],
                "precision_pct": q["precision_pct"],
                "recall_pct": q["recall_pct"],
                "gradient_ratio": q["sharpness"]["gradient_ratio"],
            },
            "train_minutes": config.get("train_minutes"),
            "train_steps": config.get("steps"),
        }
    return rows


def ratios(rows: dict, pixel: str, latent: str) -> dict:
    """How many times cheaper the latent model is than the pixel one, per instrument."""
    p, q = rows[pixel], rows[latent]
    return {
        "sample_speedup": round(p["sample"]["ms_per_image"] / q["sample"]["ms_per_image"], 2),
        "sample_flops_ratio": round(p["sample"]["gflops_per_image"] / q["sample"]["gflops_per_image"], 1),
        "train_step_speedup": round(p["train_step"]["ms_per_step"] / q["train_step"]["ms_per_step"], 2),
        "activation_memory_ratio": round(p["train_step"]["activation_bytes"] / q["train_step"]["activation_bytes"], 1),
    }
