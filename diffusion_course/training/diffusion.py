"""The diffusion trainer (Ho et al. 2020, Algorithm 1) on top of the shared training loop."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..diffusion.forward import sample_timesteps
from ..diffusion.losses import diffusion_loss
from ..diffusion.schedules import NoiseSchedule
from .batches import make_batches
from .callbacks import sample_grid
from .loop import Every, Phase, run_loop

__all__ = ["TrainResult", "train_diffusion", "diffusion_phase"]


@dataclass
class TrainResult:
    """What :func:`train_diffusion` returns: the EMA and raw models, per-step losses, timing."""

    ema: nn.Module
    model: nn.Module
    losses: list[float]
    step: int
    seconds: float
    config: dict = field(default_factory=dict)
    stopped: bool = False


def diffusion_phase(
    model: nn.Module,
    schedule: NoiseSchedule,
    optimizer: torch.optim.Optimizer,
    lr: float,
    *,
    generator: torch.Generator,
    prediction: str,
    weighting: str,
    p_uncond: float,
    null_label: int | None,
    device: torch.device,
) -> Phase:
    """One phase: ``t ~ U{0..T-1}``, noise, label dropout, then ``diffusion_loss`` (all from ``generator``)."""

    def loss(batch: tuple[Tensor, Tensor | None]) -> Tensor:
        x0, y = batch
        x0 = x0.to(device)
        t = sample_timesteps(x0.shape[0], schedule, generator).to(device)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(device)
        if y is not None and null_label is not None:
            drop = (torch.rand(x0.shape[0], generator=generator) < p_uncond).to(device)
            y = torch.where(drop, torch.full_like(y.to(device), null_label), y.to(device))
        return diffusion_loss(model, x0, schedule, prediction, weighting, y=y, t=t, noise=noise)

    return Phase("diffusion", loss, optimizer, lr)


def train_diffusion(
    model: nn.Module,
    data,
    schedule: NoiseSchedule,
    *,
    prediction: str = "eps",
    weighting: str = "uniform",
    steps: int = 1000,
    batch_size: int = 128,
    lr: float = 2e-4,
    weight_decay: float = 0.0,
    ema_decay: float = 0.999,
    grad_clip: float | None = 1.0,
    p_uncond: float = 0.1,
    null_label: int | None = None,
    warmup: int = 0,
    lr_decay: str = "constant",
    device: str | torch.device | None = None,
    seed: int = 0,
    bf16: bool = False,
    log_every: int = 50,
    check_every: int | None = None,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
    sample_every: int = 0,
    sample_fn: Callable[[nn.Module, int], Tensor] | None = None,
    run_dir: str | Path | None = None,
    callbacks: list[Every] | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    allow_shipped: bool = False,
    config: dict | None = None,
) -> TrainResult:
    """Train a diffusion model (Ho et al. 2020, Algorithm 1) with AdamW, EMA weights and clipping.

    Each step draws a minibatch, ``t ~ U{0..T-1}`` and noise from one CPU generator seeded by
    ``seed``, replaces labels by ``null_label`` (default ``model.null_label``) with probability
    ``p_uncond`` for classifier-free guidance (Ho & Salimans 2022), and minimises
    ``diffusion.losses.diffusion_loss``. ``steps`` is the total step count (also when resuming;
    with ``lr_decay="cosine"`` the learning rate depends on it, so only a constant rate lets a
    finished run be extended exactly, while an interrupted run resumes exactly either way).
    ``data``: a float tensor, ``(x, y)`` tensors, a ``TensorDataset`` or a ``DataLoader``.
    Every ``log_every`` steps ``callback(info)`` is called with ``info["step"], ["loss"], ["lr"]``;
    every ``sample_every`` steps ``sample_fn(ema, step)`` images go to ``run_dir`` as a PNG grid
    (and to the callback as ``info["samples"]``). ``callbacks`` are further
    :class:`~diffusion_course.training.loop.Every` hooks (e.g. ``callbacks.stop_when``). A NaN or
    exploding loss raises :class:`~diffusion_course.training.guard.TrainingDivergedError`.
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    if not 0.0 <= p_uncond < 1.0 or not 0.0 <= ema_decay < 1.0 or steps < 0 or batch_size < 1:
        raise ValueError(
            f"need 0 <= p_uncond < 1, 0 <= ema_decay < 1, steps >= 0, batch_size >= 1; got "
            f"{p_uncond}, {ema_decay}, {steps}, {batch_size}"
        )
    null_label = getattr(model, "null_label", None) if null_label is None else null_label
    model = model.to(dev).train()
    opt = torch.optim.AdamW(list(model.parameters()), lr=lr, weight_decay=weight_decay, foreach=True)
    gen = torch.Generator().manual_seed(seed)
    batches = make_batches(data, batch_size, gen, dev)
    cfg = {
        **(config or {}),
        "prediction": prediction,
        "weighting": weighting,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "ema_decay": ema_decay,
        "grad_clip": grad_clip,
        "p_uncond": p_uncond,
        "warmup": warmup,
        "lr_decay": lr_decay,
        "seed": seed,
        "bf16": bf16,
    }
    cfg.setdefault("schedule", {"T": schedule.T})
    phase = diffusion_phase(
        model,
        schedule,
        opt,
        lr,
        generator=gen,
        prediction=prediction,
        weighting=weighting,
        p_uncond=p_uncond,
        null_label=null_label,
        device=dev,
    )
    hooks = []
    if sample_fn is not None and sample_every:
        hooks.append(sample_grid(sample_every, sample_fn, run_dir))
    if callback is not None:
        every = math.gcd(log_every, sample_every) if (sample_fn is not None and sample_every) else log_every
        hooks.append(
            Every(
                every,
                lambda info: callback(info) if (info["step"] % log_every == 0 or "samples" in info) else None,
            )
        )
    hooks += list(callbacks or [])
    res = run_loop(
        [phase],
        models={"model": model},
        batches=batches,
        generator=gen,
        steps=steps,
        ema_decays={"model": ema_decay},
        export="model",
        warmup=warmup,
        lr_decay=lr_decay,
        grad_clip=grad_clip,
        device=dev,
        bf16=bf16,
        log_every=log_every,
        check_every=check_every,
        progress=progress,
        callbacks=hooks,
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        resume=resume,
        overwrite=overwrite,
        allow_shipped=allow_shipped,
        config=cfg,
    )
    losses = res.losses["diffusion"]
    final = sum(losses[-100:]) / max(1, len(losses[-100:]))
    cfg.update(steps=res.step, final_loss=final, train_seconds=round(res.seconds, 1), device=str(dev))
    return TrainResult(
        ema=res.emas["model"],
        model=model,
        losses=losses,
        step=res.step,
        seconds=res.seconds,
        config=cfg,
        stopped=res.stopped,
    )
