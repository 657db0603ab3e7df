"""Diffusion training loop (Ho et al. 2020, Algorithm 1) with AdamW, EMA, clipping, resume.

:func:`train_diffusion` trains any ``model(x_t, t[, y])`` for any prediction type with
``losses.diffusion_loss``. All randomness (data order, timesteps, noise, label dropout) comes
from one CPU ``torch.Generator`` seeded by ``seed``, so a run is reproducible, and a run of N
steps resumed to N+M equals a run of N+M steps (for in-memory tensor data; the resume file
also restores torch's global RNG, which dropout uses).

Files: ``checkpoint_path`` gets the EMA weights and the config (``checkpoints.save_checkpoint``,
small, shippable); ``<stem>.resume.pt`` next to it gets what resuming needs (raw and EMA
weights in float32, AdamW state, step, generator state, loss history).

Recipes and the command line (``python -m diffusion_course train RECIPE``) live in
``diffusion_course.recipes``.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from ._batching import make_batches
from .checkpoints import CheckpointError, atomic_save, model_spec, save_checkpoint, shipped_files
from .forward import sample_timesteps
from .losses import diffusion_loss
from .schedules import NoiseSchedule

__all__ = ["TrainingDivergedError", "TrainResult", "train_diffusion", "ema_update", "resume_path", "main",
           "RECIPES"]


class TrainingDivergedError(ValueError):
    """The loss became NaN/inf or exploded; ``.step`` and ``.loss`` say where."""

    def __init__(self, step: int, loss: float, reason: str, lr: float) -> None:
        self.step, self.loss = step, loss
        super().__init__(f"training diverged at step {step}: loss {loss:.4g} ({reason}). Lower the learning "
                         f"rate (lr={lr:g}), keep grad_clip on, and check that the data lies in [-1, 1]")


@dataclass
class TrainResult:
    """What :func:`train_diffusion` returns: the EMA and raw models, per-step losses, timing."""
    ema: nn.Module
    model: nn.Module
    losses: list[float]
    step: int
    seconds: float
    config: dict = field(default_factory=dict)


def resume_path(checkpoint_path: str | Path) -> Path:
    """The resume-state file that goes with a checkpoint: ``run/x.pt`` -> ``run/x.resume.pt``."""
    p = Path(checkpoint_path)
    return p.with_name(p.stem + ".resume.pt")


@torch.no_grad()
def ema_update(ema: nn.Module | list, model: nn.Module | list, decay: float) -> None:
    """Exponential moving average of weights (Polyak averaging): ``ema <- decay ema + (1 - decay) w``.

    ``ema`` and ``model`` are modules, or lists of their tensors (parameters and buffers, in the
    same order) that the training loop gathers once.
    """
    e_t = _tensors(ema) if isinstance(ema, nn.Module) else ema
    m_t = _tensors(model) if isinstance(model, nn.Module) else model
    floats = [(e, m) for e, m in zip(e_t, m_t) if e.is_floating_point()]
    if floats:
        torch._foreach_lerp_([e for e, _ in floats], [m for _, m in floats], 1.0 - decay)  # as swa_utils' EMA
    for e, m in zip(e_t, m_t):
        if not e.is_floating_point():
            e.copy_(m)


def _tensors(module: nn.Module) -> list[Tensor]:
    return [p.detach() for p in module.parameters()] + list(module.buffers())


def _ema_decay(step: int, decay: float) -> float:
    """EMA decay with warm-up ``min(decay, (1 + n) / (10 + n))``, so short runs average recent weights."""
    return min(decay, (1.0 + step) / (10.0 + step))


def _lr_at(step: int, lr: float, warmup: int, total: int, decay: str) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    if decay == "cosine":
        frac = (step - warmup) / max(1, total - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))
    return lr


class _Guard:
    """NaN / explosion guard: raise when a loss is not finite or the smoothed loss grows 1000x."""

    def __init__(self, factor: float = 1e3, beta: float = 0.9, patience: int = 20) -> None:
        self.factor, self.beta, self.patience = factor, beta, patience
        self.smooth, self.best, self.n = None, math.inf, 0

    def check(self, step: int, loss: float, grad_finite: bool, lr: float) -> None:
        if not math.isfinite(loss) or not grad_finite:
            raise TrainingDivergedError(step, loss, "not finite" if not math.isfinite(loss) else "gradient not finite", lr)
        self.smooth = loss if self.smooth is None else self.beta * self.smooth + (1 - self.beta) * loss
        self.n += 1
        if self.n > self.patience and self.smooth > self.factor * self.best:
            raise TrainingDivergedError(step, loss, f"smoothed loss {self.smooth:.3g} is over {self.factor:g}x its "
                                                    f"best {self.best:.3g}", lr)
        if self.n >= self.patience // 2:
            self.best = min(self.best, self.smooth)


def _save_samples(images: Tensor, path: Path, nrow: int) -> None:
    from torchvision.utils import save_image
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image((images.float().clamp(-1, 1) + 1) / 2, str(path), nrow=nrow)


def train_diffusion(model: nn.Module, data, schedule: NoiseSchedule, *, prediction: str = "eps",
                    weighting: str = "uniform", steps: int = 1000, batch_size: int = 128, lr: float = 2e-4,
                    weight_decay: float = 0.0, ema_decay: float = 0.999, grad_clip: float | None = 1.0,
                    p_uncond: float = 0.1, null_label: int | None = None, warmup: int = 0,
                    lr_decay: str = "constant", device: str | torch.device | None = None, seed: int = 0,
                    bf16: bool = False, log_every: int = 50, check_every: int | None = None, progress: bool = True,
                    callback: Callable[[dict], None] | None = None, sample_every: int = 0,
                    sample_fn: Callable[[nn.Module, int], Tensor] | None = None, run_dir: str | Path | None = None,
                    checkpoint_path: str | Path | None = None, checkpoint_every: int = 0, resume: bool = False,
                    overwrite: bool = False, allow_shipped: bool = False, config: dict | None = None) -> TrainResult:
    """Train a diffusion model (Ho et al. 2020, Algorithm 1) with AdamW, EMA weights and clipping.

    Each step draws a minibatch, ``t ~ U{0..T-1}`` and noise from one CPU generator seeded by
    ``seed``, replaces labels by ``null_label`` (default ``model.null_label``) with probability
    ``p_uncond`` for classifier-free guidance (Ho & Salimans 2022), and minimises
    ``losses.diffusion_loss``. ``steps`` is the total step count (also when resuming; with
    ``lr_decay="cosine"`` the learning rate depends on it, so only a constant rate lets a
    finished run be extended exactly, while an interrupted run resumes exactly either way).
    ``data``: a float tensor, ``(x, y)`` tensors, a ``TensorDataset`` or a ``DataLoader``.
    Every ``log_every`` steps ``callback({"step", "loss", "lr"})`` is called; every
    ``sample_every`` steps ``sample_fn(ema, step)`` images go to ``run_dir`` as a PNG grid (and
    to the callback as ``"samples"``). A NaN or exploding loss raises :class:`TrainingDivergedError`;
    losses are read back every ``check_every`` steps (default: every step on the CPU, every
    ``log_every`` steps on a GPU, where each read is a synchronisation) and before any save.
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    if lr_decay not in ("constant", "cosine"):
        raise ValueError(f"unknown lr_decay {lr_decay!r}; expected one of ('constant', 'cosine')")
    if not 0.0 <= p_uncond < 1.0 or not 0.0 <= ema_decay < 1.0 or steps < 0 or batch_size < 1:
        raise ValueError(f"need 0 <= p_uncond < 1, 0 <= ema_decay < 1, steps >= 0, batch_size >= 1; got "
                         f"{p_uncond}, {ema_decay}, {steps}, {batch_size}")
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    if ckpt is not None and not allow_shipped and ckpt.resolve() in shipped_files():
        raise CheckpointError(f"{ckpt} is a shipped checkpoint; pass allow_shipped=True to retrain it")
    if ckpt is not None and ckpt.exists() and not (overwrite or resume):
        raise CheckpointError(f"{ckpt} exists; pass overwrite=True to replace it or resume=True to continue it")
    if resume and ckpt is None:
        raise ValueError("resume=True needs checkpoint_path")
    null_label = getattr(model, "null_label", None) if null_label is None else null_label
    model = model.to(dev).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    params, ema_t, model_t = list(model.parameters()), _tensors(ema), _tensors(model)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)
    gen = torch.Generator().manual_seed(seed)
    batches = make_batches(data, batch_size, gen, dev)
    losses: list[float] = []
    start = 0
    cfg = {**(config or {}), "prediction": prediction, "weighting": weighting, "batch_size": batch_size,
           "lr": lr, "weight_decay": weight_decay, "ema_decay": ema_decay, "grad_clip": grad_clip,
           "p_uncond": p_uncond, "warmup": warmup, "lr_decay": lr_decay, "seed": seed, "bf16": bf16}
    cfg.setdefault("schedule", {"T": schedule.T})
    if resume:
        start = _load_resume(resume_path(ckpt), model, ema, opt, gen, batches, losses, prediction)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and dev.type == "cuda" else nullcontext()
    guard, pending = _Guard(), []
    check_every = check_every or (1 if dev.type == "cpu" else log_every)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=start, desc="train", dynamic_ncols=True)
    t0 = time.perf_counter()
    for step in range(start, steps):
        cur_lr = _lr_at(step, lr, warmup, steps, lr_decay)
        for group in opt.param_groups:
            group["lr"] = cur_lr
        x0, y = batches.next()
        x0 = x0.to(dev)
        t = sample_timesteps(x0.shape[0], schedule, gen).to(dev)
        noise = torch.randn(x0.shape, generator=gen, dtype=x0.dtype).to(dev)
        if y is not None and null_label is not None:
            drop = (torch.rand(x0.shape[0], generator=gen) < p_uncond).to(dev)
            y = torch.where(drop, torch.full_like(y.to(dev), null_label), y.to(dev))
        with autocast:
            loss = diffusion_loss(model, x0, schedule, prediction, weighting, y=y, t=t, noise=noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, grad_clip) if grad_clip else loss.new_zeros(())
        opt.step()
        ema_update(ema_t, model_t, _ema_decay(step, ema_decay))
        pending.append(torch.stack([loss.detach().float(), gnorm.detach().float()]))
        done = step + 1
        sample_due = sample_fn is not None and sample_every and done % sample_every == 0
        ckpt_due = ckpt is not None and checkpoint_every and done % checkpoint_every == 0 and done < steps
        if done % check_every == 0 or done % log_every == 0 or done == steps or sample_due or ckpt_due:
            # read the losses back (a GPU sync) only now; check them before anything is saved
            for i, (lv, gv) in enumerate(torch.stack(pending).cpu().tolist()):
                guard.check(done - len(pending) + i, lv, math.isfinite(gv), cur_lr)
                losses.append(lv)
            pending = []
        if bar is not None and (done % 10 == 0 or done == steps):
            if losses:
                bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}", lr=f"{cur_lr:.2g}")
            bar.update(done - bar.n)
        info = {"step": done, "loss": losses[-1] if losses else float("nan"), "lr": cur_lr}
        if sample_due:
            info["samples"] = images = sample_fn(ema, done).detach().cpu()
            model.train()
            if run_dir is not None:
                _save_samples(images, Path(run_dir) / f"samples_{done:07d}.png", nrow=int(math.sqrt(len(images)) + 0.5))
        if ckpt_due:
            _save_all(ckpt, model, ema, opt, gen, batches, losses, done, cfg, allow_shipped)
        if callback is not None and (done % log_every == 0 or "samples" in info):
            callback(info)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    final = sum(losses[-100:]) / max(1, len(losses[-100:]))
    cfg.update(steps=max(steps, start), final_loss=final, train_seconds=round(seconds, 1), device=str(dev))
    if ckpt is not None:
        _save_all(ckpt, model, ema, opt, gen, batches, losses, max(steps, start), cfg, allow_shipped)
    return TrainResult(ema=ema, model=model, losses=losses, step=max(steps, start), seconds=seconds, config=cfg)


def _save_all(ckpt: Path, model, ema, opt, gen, batches, losses, step: int, cfg: dict, allow_shipped: bool) -> None:
    """Write the EMA checkpoint (float16) and the resume state (float32, optimizer, RNG states)."""
    cfg = {**cfg, "steps": step}
    state = {"format": 1, "step": step, "model": model.state_dict(), "ema": ema.state_dict(),
             "optimizer": opt.state_dict(), "generator": gen.get_state(), "batches": batches.state(),
             "losses": list(losses), "torch_rng": torch.get_rng_state(), "spec": model_spec(model), "config": cfg}
    dev = next(model.parameters()).device
    if dev.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(dev)
    atomic_save(state, resume_path(ckpt))
    save_checkpoint(ckpt, ema, cfg, overwrite=True, allow_shipped=allow_shipped)


def _load_resume(path: Path, model, ema, opt, gen, batches, losses, prediction: str) -> int:
    if not path.exists():
        raise CheckpointError(f"cannot resume: no training state at {path} (it is written next to the checkpoint)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable resume file: {type(err).__name__}: {err}") from err
    if state.get("spec") != model_spec(model):
        raise CheckpointError(f"cannot resume from {path}: it holds {state.get('spec')}, but the model is "
                              f"{model_spec(model)}")
    if state["config"].get("prediction") != prediction:
        raise CheckpointError(f"cannot resume from {path}: trained for prediction "
                              f"{state['config'].get('prediction')!r}, asked for {prediction!r}")
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    batches.load(state["batches"])
    torch.set_rng_state(state["torch_rng"])
    dev = next(model.parameters()).device
    if dev.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], dev)
    losses.extend(state["losses"])
    return int(state["step"])


def __getattr__(name: str):
    if name == "RECIPES":  # defined with the command line, which imports this module
        from .recipes import RECIPES
        return RECIPES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """``python -m diffusion_course train RECIPE [options]``: see ``diffusion_course.recipes``."""
    from .recipes import main as recipes_main
    return recipes_main(argv)
