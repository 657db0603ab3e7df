"""Generation: sample a checkpoint's model with any registered sampler, then decode when it is latent.

A :class:`Pipeline` knows what the samplers do not: the shape of one sample, whether predicted x0
is clipped (pixels in [-1, 1]: ``clip_x0 = 1``; latents: no clipping), and, for a latent model,
the decoder and the latent scale factor (Rombach et al. 2022) that map samples back to images.
Each image ``i`` is drawn from its own random stream seeded by ``(seed, i)`` (as EDM's
``generate.py`` does), so an image does not change with the batch size or the batch split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..diffusion.guidance import guided, scale_of
from ..diffusion.schedules import NoiseSchedule, schedule_from_config
from ..diffusion.seeds import PerImageGenerator
from ..samplers.registry import SAMPLERS, get_sampler
from .request import check_first

__all__ = ["Pipeline", "pipeline_from_checkpoint", "generate", "balanced_labels"]


@dataclass
class Pipeline:
    """Everything between a trained model and images: schedule, prediction, shape, clipping, decoder."""

    model: nn.Module
    schedule: NoiseSchedule
    prediction: str
    shape: tuple[int, ...]
    clip_x0: float | None = 1.0
    decoder: Callable[[Tensor], Tensor] | None = None
    latent_scale: float = 1.0

    @property
    def null_label(self) -> int | None:
        return getattr(self.model, "null_label", None)

    def to_images(self, x: Tensor) -> Tensor:
        """Samples to images in [-1, 1]: undo the latent scale and decode, or clamp pixels."""
        if self.decoder is not None:
            x = self.decoder(x / self.latent_scale)
        return x.clamp(-1, 1)


def pipeline_from_checkpoint(
    model: nn.Module, config: dict, decoder: Callable[[Tensor], Tensor] | None = None
) -> Pipeline:
    """The :class:`Pipeline` a checkpoint's config describes.

    The sample shape is ``config["data_shape"]`` when present, else ``(model.in_channels,
    image_size, image_size)`` with ``config["image_size"]`` (default 28). Latent checkpoints set
    ``clip_x0`` to None and carry ``latent_scale``; their ``decoder`` is passed in.
    """
    if "data_shape" in config:
        shape = tuple(int(s) for s in config["data_shape"])
    else:
        size = int(config.get("image_size", 28))
        shape = (int(model.in_channels), size, size)
    return Pipeline(
        model=model,
        schedule=schedule_from_config(config),
        prediction=config["prediction"],
        shape=shape,
        clip_x0=config.get("clip_x0", 1.0),
        decoder=decoder,
        latent_scale=float(config.get("latent_scale", 1.0)),
    )


def balanced_labels(n: int, num_classes: int = 10) -> Tensor:
    """Labels ``0, 1, ..., K-1, 0, 1, ...``: class shares as even as ``n`` allows."""
    return torch.arange(n) % num_classes


def _denoiser(pipe: Pipeline, labels: Tensor | None, w: float, dev: torch.device) -> Callable:
    model, null = pipe.model, pipe.null_label
    if labels is None:
        if null is None:
            return model
        return lambda x, t: model(x, t, torch.full((x.shape[0],), null, device=x.device))
    if null is None:
        raise ValueError("labels were given, but the model is not class-conditional (it has no null_label)")
    return guided(model, labels.to(dev), scale_of(w), null)


@torch.no_grad()
def generate(
    model: nn.Module | Pipeline,
    config: dict | None,
    labels: Tensor | None,
    n: int,
    *,
    sampler: str = "ddim",
    steps: int = 50,
    w: float = 0.0,
    eta: float | None = None,
    seed: int = 0,
    batch_size: int = 500,
    spacing: str = "trailing",
    progress: bool = True,
    decoder: Callable[[Tensor], Tensor] | None = None,
    first: int = 0,
) -> Tensor:
    """Draw ``n`` images; ``labels`` (n,) for class-conditional samples, None for unconditional ones.

    Conditional samples use classifier-free guidance with weight ``w`` (Ho & Salimans 2022;
    scale ``1 + w``); unconditional samples feed the null label. ``sampler`` is a name of the
    sampler registry (``eta`` overrides DDIM's). Image ``i`` depends only on ``(seed, i)``; ``first``
    numbers the images from ``first`` on (images ``first .. first + n - 1`` of the run ``seed``), so a
    long run can be drawn in pieces.
    Returns images in [-1, 1] on the CPU.
    """
    pipe = model if isinstance(model, Pipeline) else pipeline_from_checkpoint(model, config or {}, decoder)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {sorted(SAMPLERS)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must hold one label per image ({n}); got {len(labels)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    check_first(first)
    pipe.model.eval()
    dev = next(pipe.model.parameters()).device
    ts = pipe.schedule.timesteps(steps, spacing)
    run = get_sampler(sampler)
    opts = {"eta": eta} if (sampler == "ddim" and eta is not None) else {}
    bar = None
    if progress:  # one tick per sampler step of each batch: a long batch shows its progress too
        from tqdm.auto import tqdm

        batches = -(-n // batch_size)
        bar = tqdm(total=batches * len(ts), desc=f"{sampler} {steps} steps w={w}", unit="step", leave=False)
    out = []
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        g = PerImageGenerator(seed, range(first + idx.start, first + idx.stop))
        x_T = g.randn((len(idx), *pipe.shape)).to(dev)
        fn = _denoiser(pipe, None if labels is None else labels[idx.start : idx.stop], w, dev)
        x = run(
            fn,
            x_T,
            pipe.schedule,
            ts,
            prediction=pipe.prediction,
            generator=g,
            clip_x0=pipe.clip_x0,
            callback=None if bar is None else (lambda info: bar.update(1)),
            **opts,
        )
        out.append(pipe.to_images(x).cpu())
    if bar is not None:
        bar.close()
    return torch.cat(out)
