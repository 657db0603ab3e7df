"""The one training loop of the course: phases, AdamW-style optimizers, EMA, clipping, resume.

Every model family trains through :func:`run_loop`. A training step is a list of
:class:`Phase` objects, each a loss minimised by one optimizer (a diffusion model or a
classifier has one phase; a GAN has two, the discriminator's then the generator's; a VAE has
one). Per step the loop, for each phase in order: sets the learning rate (linear warm-up, then
constant or cosine decay), computes the loss, backpropagates, clips the gradient norm, steps the
optimizer. Then it updates the EMA copies (with the warm-up ``min(decay, (1 + n) / (10 + n))``),
checks the losses (the NaN guard), advances the progress bar, saves checkpoints, and calls the
callbacks; a callback that returns :data:`STOP` ends training cleanly (a checkpoint is written
at the step reached).

All randomness of a step comes from one CPU ``torch.Generator`` that the loop checkpoints, with
the batch order and torch's global RNG (dropout), so an interrupted run resumed from its
``<stem>.resume.pt`` continues exactly as if it had not stopped.

Under ``torchrun`` the same loop trains data-parallel (:mod:`.distributed`): the batch source gives
the *global* batch, each rank trains on its rows of it and draws the randomness of the whole
batch (:mod:`.shards`), the gradients are summed over the ranks before clipping, and only rank 0
writes files, shows progress and runs the callbacks. A run on N processes is the one-process run
up to float rounding, and its checkpoint and resume file are a one-process run's. The speed
options (bf16 autocast, channels_last, ``torch.compile``) are in :mod:`.speed`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from ..checkpoints import CheckpointError, shipped_files
from .distributed import DataParallel
from .ema import ema_decay_at, ema_update, module_tensors
from .guard import DivergenceGuard
from .resume import RESUME_FORMAT, load_state, resume_path, save_state
from .speed import Speed, apply_speed, autocast, current_speed, to_channels_last, undo_speed

__all__ = [
    "STOP",
    "Phase",
    "Every",
    "LoopResult",
    "run_loop",
    "lr_at",
    "resume_path",
    "RESUME_FORMAT",
]

STOP = "stop"  # a callback returns this to end training cleanly


@dataclass
class Phase:
    """One optimisation phase of a step: ``loss(batch)`` minimised by ``optimizer``.

    ``batch`` is ``(x, y)`` from the batch source (``y`` may be None). The loss closes over the
    models and the loop's generator. ``lr`` is the phase's base learning rate.
    """

    name: str
    loss: Callable[[tuple[Tensor, Tensor | None]], Tensor]
    optimizer: torch.optim.Optimizer
    lr: float
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None  # when set, it owns the learning rate


@dataclass
class Every:
    """Call ``fn(info)`` every ``n`` steps (``n = 0``: never); ``fn`` may return :data:`STOP`."""

    n: int
    fn: Callable[[dict], object]

    def due(self, step: int) -> bool:
        return bool(self.n) and step % self.n == 0


@dataclass
class LoopResult:
    """What :func:`run_loop` returns: the EMA copies, per-phase losses, the step reached, timing."""

    emas: dict[str, nn.Module]
    losses: dict[str, list[float]]
    step: int
    seconds: float
    stopped: bool = False
    extra: dict = field(default_factory=dict)


def lr_at(step: int, lr: float, warmup: int, total: int, decay: str) -> float:
    """Learning rate at ``step``: linear warm-up over ``warmup`` steps, then constant or cosine to 0.1 lr."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if decay == "cosine":
        frac = (step - warmup) / max(1, total - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))
    return lr


def _check_args(steps: int, lr_decay: str, ema_decays: dict[str, float]) -> None:
    if lr_decay not in ("constant", "cosine"):
        raise ValueError(f"unknown lr_decay {lr_decay!r}; expected one of ('constant', 'cosine')")
    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps}")
    for name, d in ema_decays.items():
        if not 0.0 <= d < 1.0:
            raise ValueError(f"ema decay of {name!r} must be in [0, 1); got {d}")


def _check_paths(ckpt: Path | None, resume: bool, overwrite: bool, allow_shipped: bool) -> None:
    if ckpt is not None and not allow_shipped and ckpt.resolve() in shipped_files():
        raise CheckpointError(f"{ckpt} is a shipped checkpoint; pass allow_shipped=True to retrain it")
    if ckpt is not None and ckpt.exists() and not (overwrite or resume):
        raise CheckpointError(f"{ckpt} exists; pass overwrite=True to replace it or resume=True to continue it")
    if resume and ckpt is None:
        raise ValueError("resume=True needs checkpoint_path")


def run_loop(
    phases: list[Phase],
    *,
    models: dict[str, nn.Module],
    batches,
    generator: torch.Generator,
    steps: int,
    ema_decays: dict[str, float] | None = None,
    export: str | None = None,
    warmup: int = 0,
    lr_decay: str = "constant",
    grad_clip: float | None = 1.0,
    device: torch.device | None = None,
    bf16: bool = False,
    speed: Speed | None = None,
    log_every: int = 50,
    check_every: int | None = None,
    progress: bool = True,
    callbacks: list[Every] | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    allow_shipped: bool = False,
    config: dict | None = None,
    checkpoint_half: bool = True,
    desc: str = "train",
) -> LoopResult:
    """Run ``steps`` training steps of ``phases`` (see the module docstring); returns a :class:`LoopResult`.

    ``models`` names every trained module (all are checkpointed in the resume file);
    ``ema_decays`` names those that get an EMA copy. ``export`` names the module whose weights
    (its EMA copy when it has one) go to ``checkpoint_path`` with ``config``. Losses are read
    back to the host every ``check_every`` steps (default: each step on the CPU, every
    ``log_every`` on a GPU) and checked by the NaN guard before anything is saved.
    ``speed`` (default: the enclosing :func:`~.speed.speed_options`; ``bf16=True`` adds bf16
    autocast) picks the speed options, which the checkpoint config records with ``world_size``.
    Under several processes only rank 0's ``checkpoint_path`` counts (others may pass None).
    """
    ema_decays = dict(ema_decays or {})
    _check_args(steps, lr_decay, ema_decays)
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    dev = device or next(next(iter(models.values())).parameters()).device
    par = DataParallel(dev)
    par.on_main(lambda: _check_paths(ckpt, resume, overwrite, allow_shipped))
    ckpt_on = par.broadcast(ckpt is not None)  # rank 0's checkpoint path decides when to save
    speed = speed or current_speed()
    speed = replace(speed, bf16=True) if bf16 else speed
    for m in models.values():
        m.to(dev).train()
    par.sync_start(models, generator, batches)
    emas = {k: copy.deepcopy(models[k]).eval().requires_grad_(False) for k in ema_decays}
    losses: dict[str, list[float]] = {p.name: [] for p in phases}
    start = 0
    if resume:
        with par.main_file(resume_path(ckpt) if ckpt is not None else None) as path:
            start = load_state(path, models, emas, phases, generator, batches, losses, config or {})
    apply_speed(speed, models)
    pairs = [(module_tensors(emas[k]), module_tensors(models[k]), d) for k, d in ema_decays.items()]
    amp = autocast(speed, dev)
    guards = {p.name: DivergenceGuard() for p in phases}
    pending: list[Tensor] = []
    check_every = check_every or (1 if dev.type == "cpu" else log_every)
    bar = None
    if progress and par.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, desc=desc, dynamic_ncols=True)
    state = {
        "models": models,
        "emas": emas,
        "phases": phases,
        "generator": generator,
        "batches": batches,
        "losses": losses,
        "ckpt": ckpt,
        "export": export,
        "config": {**(config or {}), **speed.as_config(), "world_size": par.size},
        "allow_shipped": allow_shipped,
        "half": checkpoint_half,
    }
    t0, done, stopped, cur_lr = time.perf_counter(), start, False, 0.0
    for step in range(start, steps):
        shard = par.shard(to_channels_last(speed, batches.next()))
        row = []
        for ph in phases:
            if ph.scheduler is None:
                cur_lr = lr_at(step, ph.lr, warmup, steps, lr_decay)
                for group in ph.optimizer.param_groups:
                    group["lr"] = cur_lr
            else:
                cur_lr = ph.optimizer.param_groups[0]["lr"]
            with amp, par.draws(shard, generator):
                loss = ph.loss(shard.batch)
            ph.optimizer.zero_grad(set_to_none=True)
            par.backward(loss, shard)
            params = [p for g in ph.optimizer.param_groups for p in g["params"]]
            par.reduce_gradients(params)
            gnorm = torch.nn.utils.clip_grad_norm_(params, grad_clip) if grad_clip else loss.new_zeros(())
            ph.optimizer.step()
            if ph.scheduler is not None:
                ph.scheduler.step()
            row += [par.share(loss.detach().float(), shard), gnorm.detach().float()]
        for e_t, m_t, d in pairs:
            ema_update(e_t, m_t, ema_decay_at(step, d))
        pending.append(torch.stack(row))
        done = step + 1
        due = [cb for cb in (callbacks or []) if cb.due(done)]
        ckpt_due = ckpt_on and checkpoint_every and done % checkpoint_every == 0 and done < steps
        if done % check_every == 0 or done % log_every == 0 or done == steps or due or ckpt_due:
            _read_back(pending, done, phases, losses, guards, cur_lr, par)
            pending = []
        if bar is not None and (done % 10 == 0 or done == steps):
            recent = losses[phases[0].name][-50:]
            if recent:
                bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", lr=f"{cur_lr:.2g}")
            bar.update(done - bar.n)
        if ckpt_due and par.is_main:
            save_state(state, done)
        info = {
            "step": done,
            "lr": cur_lr,
            "models": models,
            "emas": emas,
            **{f"loss_{k}" if len(phases) > 1 else "loss": (v[-1] if v else float("nan")) for k, v in losses.items()},
        }
        if due and par.on_main(partial(_callbacks, due, info)):  # rank 0 runs them; all ranks stop together
            stopped = True
        for m in models.values():
            m.train()
        if stopped:
            break
    if pending:
        _read_back(pending, done, phases, losses, guards, cur_lr, par)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    undo_speed(speed, models)
    final = max(done, start)
    if ckpt_on:
        first = losses[phases[0].name][-100:]
        state["config"].update(
            final_loss=sum(first) / max(1, len(first)),
            train_seconds=round(seconds, 1),
            device=str(dev),
        )
        if len(phases) > 1:
            state["config"]["final_losses"] = {k: sum(v[-100:]) / max(1, len(v[-100:])) for k, v in losses.items()}
        if par.is_main:
            save_state(state, final)
    par.barrier()  # the files are written before any rank goes on
    return LoopResult(emas=emas, losses=losses, step=final, seconds=seconds, stopped=stopped)


def _callbacks(due: list[Every], info: dict) -> bool:
    """Call the callbacks that are due; True when one of them returned :data:`STOP`."""
    stop = False
    for cb in due:
        if cb.fn(info) == STOP:
            stop = True
    return stop


def _read_back(
    pending: list[Tensor], done: int, phases: list[Phase], losses: dict, guards: dict, lr: float, par: DataParallel
) -> None:
    """Move the pending losses to the host (one sync; summed over the ranks) and check them before anything is saved."""
    values = par.sum_losses(torch.stack(pending), slice(0, None, 2)).cpu().tolist()
    for i, row in enumerate(values):
        step = done - len(values) + i
        for j, ph in enumerate(phases):
            lv, gv = row[2 * j], row[2 * j + 1]
            guards[ph.name].check(step, lv, math.isfinite(gv), lr, phase=ph.name if len(phases) > 1 else None)
            losses[ph.name].append(lv)
