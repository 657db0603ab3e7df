"""Training a GAN (Goodfellow et al. 2014) through the shared loop: two phases, two optimizers.

Each step runs the discriminator's phase, then the generator's (:func:`~.loop.run_loop` with two
:class:`~.loop.Phase` objects): Adam with ``betas = (0.5, 0.999)`` for both (Radford et al. 2016),
an EMA copy of the generator (Karras et al. 2018; it is what the checkpoint exports), the NaN
guard per phase, progress, and exact resume of both networks and both optimizers. The noise
``z`` and the fake labels come from the loop's seeded generator. The options a notebook
measures are switches: the loss (``minimax``, ``non_saturating``, ``hinge``), the R1 penalty
weight ``r1_gamma`` (Mescheder et al. 2018), the mode-seeking weight ``mode_seeking`` (Mao et al.
2019), the auxiliary-classifier weight ``aux_weight`` (Odena et al. 2017, AC-GAN: the
discriminator learns to classify real images, and the generator is rewarded when its fakes are
classified as their requested label) and spectral norm (a discriminator option, set on
the network).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..pipelines.gan import generate_gan
from .batches import make_batches
from .loop import Every, Phase, run_loop
from .objectives import GAN_LOSSES, discriminator_loss, generator_loss, r1_penalty

__all__ = ["GANTrainResult", "gan_phases", "mode_seeking_penalty", "train_gan", "coverage_monitor"]


@dataclass
class GANTrainResult:
    """What :func:`train_gan` returns."""

    ema: nn.Module
    generator: nn.Module
    discriminator: nn.Module
    losses: dict[str, list[float]]
    step: int
    seconds: float
    config: dict = field(default_factory=dict)
    stopped: bool = False


def _split(data) -> tuple[Tensor, Tensor | None]:
    if isinstance(data, (tuple, list)):
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None


def check_aux_classifier(generator: nn.Module, discriminator: nn.Module, aux_weight: float) -> None:
    """AC-GAN (Odena et al. 2017) needs labels to request and a class head to grade them: refuse a pair without."""
    conditional = getattr(generator, "num_classes", None) is not None
    if aux_weight > 0 and (not conditional or getattr(discriminator, "classifier", None) is None):
        raise ValueError(
            "aux_weight > 0 (AC-GAN) needs a class-conditional generator and a discriminator built with "
            "aux_classifier=True"
        )


def gan_phases(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    lr_g: float,
    lr_d: float,
    *,
    generator_rng: torch.Generator,
    loss: str = "non_saturating",
    r1_gamma: float = 0.0,
    mode_seeking: float = 0.0,
    aux_weight: float = 0.0,
    device: torch.device | None = None,
) -> list[Phase]:
    """The discriminator's phase, then the generator's, as loop phases (noise from ``generator_rng``)."""
    if loss not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; expected one of {GAN_LOSSES}")
    dev = device or next(generator.parameters()).device
    k = generator.latent_shape[0]
    conditional = getattr(generator, "num_classes", None) is not None
    check_aux_classifier(generator, discriminator, aux_weight)

    def noise(n: int) -> Tensor:
        return torch.randn(n, k, generator=generator_rng).to(dev)

    def labels(y: Tensor | None) -> Tensor | None:
        return y if conditional else None

    def d_step(batch) -> Tensor:
        x, y = batch
        y = labels(y)
        with torch.no_grad():
            fake = generator(noise(x.shape[0]), y)
        if r1_gamma > 0:
            x = x.detach().requires_grad_(True)
        if aux_weight > 0:  # the class head learns on real images only (fakes would teach it their errors)
            real_logits, real_classes = discriminator.score_and_classes(x, y)
            out = discriminator_loss(loss, real_logits, discriminator(fake, y))
            out = out + aux_weight * F.cross_entropy(real_classes, y)
        else:
            real_logits = discriminator(x, y)
            out = discriminator_loss(loss, real_logits, discriminator(fake, y))
        if r1_gamma > 0:
            out = out + 0.5 * r1_gamma * r1_penalty(real_logits, x)
        return out

    def g_step(batch) -> Tensor:
        x, y = batch
        y = labels(y)
        z = noise(x.shape[0])
        fake = generator(z, y)
        if aux_weight > 0:
            fake_logits, fake_classes = discriminator.score_and_classes(fake, y)
            out = generator_loss(loss, fake_logits) + aux_weight * F.cross_entropy(fake_classes, y)
        else:
            out = generator_loss(loss, discriminator(fake, y))
        if mode_seeking > 0:  # a second draw for the same labels; no discriminator pass needed
            z2 = noise(x.shape[0])
            out = out + mode_seeking * mode_seeking_penalty(fake, generator(z2, y), z, z2)
        return out

    return [Phase("discriminator", d_step, opt_d, lr_d), Phase("generator", g_step, opt_g, lr_g)]


def mode_seeking_penalty(fake: Tensor, fake2: Tensor, z: Tensor, z2: Tensor, eps: float = 1e-5) -> Tensor:
    """Mode seeking (Mao et al. 2019, MSGAN): ``1 / (mean |G(z) - G(z')| / mean |z - z'|)``.

    Small when two latents for the same label give images as far apart as the latents are; large
    when the generator maps every ``z`` of a label to one image (the collapse that ignores ``z``).
    """
    ratio = (fake - fake2).abs().flatten(1).mean(1) / (z - z2).abs().flatten(1).mean(1)
    return 1.0 / (ratio.mean() + eps)


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data,
    *,
    loss: str = "non_saturating",
    r1_gamma: float = 0.0,
    mode_seeking: float = 0.0,
    aux_weight: float = 0.0,
    steps: int = 1000,
    batch_size: int = 64,
    lr_g: float = 2e-4,
    lr_d: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    ema_decay: float = 0.999,
    warmup: int = 0,
    lr_decay: str = "constant",
    grad_clip: float | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    log_every: int = 50,
    progress: bool = True,
    callbacks: list[Every] | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    allow_shipped: bool = False,
    config: dict | None = None,
) -> GANTrainResult:
    """Train a GAN (Goodfellow et al. 2014) with Adam (Radford et al. 2016) and a generator EMA.

    ``data``: images (or 2-D points) in their training range, or ``(x, y)`` for a class-conditional
    pair (the generator draws the batch's labels). Returns the EMA generator, both networks and
    the per-phase losses; with ``checkpoint_path`` the EMA generator is exported there (config
    ``family: "gan"``) and the resume file holds both networks and both optimizers.
    """
    if steps < 0 or batch_size < 1 or r1_gamma < 0 or mode_seeking < 0 or aux_weight < 0:
        raise ValueError(
            "need steps >= 0, batch_size >= 1, r1_gamma >= 0, mode_seeking >= 0, aux_weight >= 0; "
            f"got {steps}, {batch_size}, {r1_gamma}, {mode_seeking}, {aux_weight}"
        )
    x, y = _split(data)
    if getattr(generator, "num_classes", None) is not None and y is None:
        raise ValueError(f"the generator is class-conditional ({generator.num_classes} classes); pass data as (x, y)")
    check_aux_classifier(generator, discriminator, aux_weight)
    dev = torch.device(device) if device is not None else next(generator.parameters()).device
    generator, discriminator = generator.to(dev).train(), discriminator.to(dev).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)
    gen = torch.Generator().manual_seed(seed)
    batches = make_batches(x if y is None else (x, y), batch_size, gen, dev)
    phases = gan_phases(
        generator,
        discriminator,
        opt_g,
        opt_d,
        lr_g,
        lr_d,
        generator_rng=gen,
        loss=loss,
        r1_gamma=r1_gamma,
        mode_seeking=mode_seeking,
        aux_weight=aux_weight,
        device=dev,
    )
    cfg = {
        **(config or {}),
        "family": "gan",
        "loss": loss,
        "r1_gamma": r1_gamma,
        "mode_seeking": mode_seeking,
        "aux_weight": aux_weight,
        "spectral_norm": bool(getattr(discriminator, "config", {}).get("spectral_norm", False)),
        "discriminator": getattr(discriminator, "config", {}),
        "batch_size": batch_size,
        "lr_g": lr_g,
        "lr_d": lr_d,
        "betas": list(betas),
        "ema_decay": ema_decay,
        "seed": seed,
    }
    res = run_loop(
        phases,
        models={"generator": generator, "discriminator": discriminator},
        batches=batches,
        generator=gen,
        steps=steps,
        ema_decays={"generator": ema_decay},
        export="generator",
        warmup=warmup,
        lr_decay=lr_decay,
        grad_clip=grad_clip,
        device=dev,
        log_every=log_every,
        progress=progress,
        callbacks=list(callbacks or []),
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        resume=resume,
        overwrite=overwrite,
        allow_shipped=allow_shipped,
        config=cfg,
        desc="gan",
    )
    cfg.update(steps=res.step, train_seconds=round(res.seconds, 1), device=str(dev))
    return GANTrainResult(
        ema=res.emas["generator"],
        generator=generator,
        discriminator=discriminator,
        losses=res.losses,
        step=res.step,
        seconds=res.seconds,
        config=cfg,
        stopped=res.stopped,
    )


def coverage_monitor(
    every: int,
    measure: Callable[[Tensor, Tensor | None], dict],
    n: int = 500,
    seed: int = 0,
    log: list | None = None,
    model: str = "generator",
    printer: Callable[[str], None] | None = None,
) -> Every:
    """The collapse detector: every ``every`` steps draw ``n`` samples from the current (not EMA)
    generator, with balanced labels when it is conditional, and record ``measure(images, labels)``.

    ``measure`` returns a dict (for example class coverage from the dataset's classifier, or the
    modes covered on a 2-D toy); ``{"step": ..., **result}`` goes to ``info["coverage"]``, to ``log``
    and, with ``printer``, to one printed line. Sampling leaves the generator in training mode.
    """

    def fn(info: dict) -> None:
        g = info["models"][model]
        k = getattr(g, "num_classes", None)
        labels = None if k is None else torch.arange(n) % k
        images = generate_gan(g, None, labels, n, seed=seed, progress=False)
        g.train()
        info["coverage"] = row = {"step": info["step"], **measure(images, labels)}
        if log is not None:
            log.append(row)
        if printer is not None:
            printer(", ".join(f"{key} {value}" for key, value in row.items() if not isinstance(value, (list, dict))))

    return Every(every, fn)
