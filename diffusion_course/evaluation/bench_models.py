"""The models the sampler benchmark measures: the exact 2-D oracle, a trained toy MLP, the shipped MNIST UNet."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable

import torch
from torch import Tensor

from ..config import cache_dir
from ..diffusion.guidance import guided, scale_of
from ..diffusion.schedules import schedule_from_config
from ..tables import round_sig
from ..toy.metrics import evaluate_2d
from .bench import RING, Bench

__all__ = ["oracle_bench", "toy_model", "toy_bench", "mnist_bench"]


def _bench_2d(name: str, description: str, model: Callable, schedule, prediction: str) -> Bench:
    from ..toy.oracle import GaussianMixture

    mix = GaussianMixture.ring(**RING)
    # "outliers_pct": % of samples where log p(x) is below the 0.1% quantile of log p over real data
    # (so real data scores about 0.1); a few far-off points dominate mean log-likelihood and W2
    real = mix.sample(100_000, generator=torch.Generator().manual_seed(999))[0]
    threshold = torch.quantile(mix.log_prob(real), 0.001)

    def ev(x: Tensor) -> dict:
        out = evaluate_2d(x, mix, generator=torch.Generator().manual_seed(0))
        return {
            **out,
            "outliers_pct": round_sig(100 * float((mix.log_prob(x) < threshold).double().mean()), 2),
        }

    floor = lambda n, seed: ev(mix.sample(n, generator=torch.Generator().manual_seed(12345 + seed))[0])  # noqa: E731
    return Bench(
        name,
        description,
        schedule,
        prediction,
        (2,),
        lambda sl: model,
        ev,
        floor,
        ("sliced_w2", "mmd_rbf", "log_likelihood", "outliers_pct"),
    )


def oracle_bench() -> Bench:
    """The exact eps of GaussianMixture.ring(8, 2.0, 0.15) under the toy recipe's linear schedule."""
    from ..toy.oracle import GaussianMixture, MixtureDenoiser
    from ..training.recipes import RECIPES

    s = RECIPES["toy-ddpm"]["schedule"]
    schedule = schedule_from_config(RECIPES["toy-ddpm"])
    den = MixtureDenoiser(GaussianMixture.ring(**RING), schedule, "eps")
    return _bench_2d(
        "oracle",
        "exact MixtureDenoiser (eps) of GaussianMixture.ring(8, radius=2.0, std=0.15), "
        f"{s['name']} schedule T={s['T']} (toy-ddpm recipe's): sampler error only",
        den,
        schedule,
        "eps",
    )


def toy_model(seed: int = 0, train_steps: int | None = None, device=None, progress: bool = True):
    """The toy-ddpm recipe's MLP trained on gaussians8 (Ho et al. 2020, Algorithm 1), cached under
    ``config.cache_dir()/bench`` by a hash of its settings. Returns ``(EMA model, config)``."""
    from ..checkpoints import load_checkpoint, save_checkpoint
    from ..training.diffusion import train_diffusion
    from ..training.recipes import build_recipe, load_data

    model, schedule, recipe = build_recipe("toy-ddpm", seed)
    tr, data = dict(recipe["train"]), {"name": "toy", "toy": "gaussians8", "n": 20000}
    tr["steps"] = train_steps or tr["steps"]
    key = json.dumps(
        {
            "model": recipe["model"],
            "schedule": recipe["schedule"],
            "train": tr,
            "data": data,
            "seed": seed,
        },
        sort_keys=True,
    )
    path = cache_dir() / "bench" / f"toy-gaussians8-{hashlib.sha256(key.encode()).hexdigest()[:12]}.pt"
    if path.exists():
        return load_checkpoint(path, map_location=device or "cpu")
    print(f"training the toy model ({tr['steps']} steps; cached at {path})", file=sys.stderr)
    config = {
        "recipe": "toy-ddpm",
        "data": data,
        "schedule": recipe["schedule"],
        "description": "toy-ddpm recipe's MLP trained on gaussians8 by diffusion_course.bench",
    }
    res = train_diffusion(
        model,
        load_data(data, seed),
        schedule,
        device=device,
        seed=seed,
        progress=progress,
        config=config,
        **tr,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, res.ema, res.config, half=False, overwrite=True)
    return res.ema.eval(), res.config


def toy_bench(seed: int = 0, train_steps: int | None = None, device=None, progress: bool = True) -> Bench:
    """A trained MLP (toy-ddpm recipe on gaussians8): sampler error plus model error."""
    model, config = toy_model(seed, train_steps, device, progress)
    desc = (
        f"MLPDenoiser {model.config} trained {config['steps']} steps on gaussians8 "
        f"(toy-ddpm recipe, {config['prediction']}, {config['schedule']['name']} schedule)"
    )
    return _bench_2d("toy", desc, model, schedule_from_config(config), config["prediction"])


def mnist_bench(n: int, w: float = 0.5, device=None) -> Bench:
    """The shipped class-conditional MNIST UNet with classifier-free guidance weight ``w``
    (scale 1 + w; Ho & Salimans 2022), labels ``arange(n) % 10``."""
    from ..checkpoints import load_any
    from . import floors, image_metrics

    model, config = load_any("mnist-ddpm", map_location=device or "cpu")
    labels = torch.arange(n) % 10
    dev = next(model.parameters()).device
    size = config.get("image_size", 28)
    return Bench(
        "mnist",
        f"shipped mnist-ddpm checkpoint, guidance w={w} (scale {1 + w}), labels balanced "
        "over digits; metrics on the course's MNIST classifier features (not Inception FID)",
        schedule_from_config(config),
        config["prediction"],
        (model.in_channels, size, size),
        lambda sl: guided(model, labels[sl].to(dev), scale_of(w), model.null_label),
        lambda x: image_metrics.evaluate_images(x, labels=labels),
        lambda n, seed: floors.real_floor(n, seed),
        ("mnist_classifier_fid", "class_accuracy_pct"),
        1.0,
        floor_seeds=3,
    )
