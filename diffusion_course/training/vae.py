"""The VAE trainer (Kingma & Welling 2014, Algorithm 1, with a beta weight) on top of the shared training loop.

One phase per step: a minibatch, one reparameterized draw ``z = mu + exp(logvar / 2) eps`` per
image (``eps`` from the loop's generator), and the negative ELBO ``recon + beta * kl``
(:func:`~diffusion_course.training.objectives.negative_elbo`) minimised by AdamW. EMA weights,
warm-up and decay, clipping, the NaN guard, exact resume and the progress bar come from
:func:`~diffusion_course.training.loop.run_loop`. At the end the EMA model's reconstruction term
and KL (nats per image, at ``beta = 1`` the negative ELBO is their sum) are measured on a fixed
subset of the training data and recorded in the config and the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..checkpoints import load_checkpoint, save_checkpoint
from ..pipelines.vae import generate_vae
from .batches import make_batches
from .distributed import is_main
from .loop import Every, Phase, run_loop
from .objectives import GAUSSIAN_SIGMA, negative_elbo

__all__ = ["VAETrainResult", "train_vae", "vae_phase", "elbo_terms", "vae_grid_sampler"]


@dataclass
class VAETrainResult:
    """What :func:`train_vae` returns: the EMA and raw models, per-step losses, final terms, timing."""

    ema: nn.Module
    model: nn.Module
    losses: list[float]
    step: int
    seconds: float
    config: dict = field(default_factory=dict)
    stopped: bool = False


def vae_phase(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    lr: float,
    *,
    generator: torch.Generator,
    beta: float,
    likelihood: str,
    sigma: float,
    device: torch.device,
) -> Phase:
    """One phase: encode, reparameterize with ``eps`` from ``generator``, decode, ``negative_elbo``."""

    def loss(batch: tuple[Tensor, Tensor | None]) -> Tensor:
        x, y = batch
        x = x.to(device)
        out, mu, logvar = model(x, None if y is None else y.to(device), generator=generator)
        return negative_elbo(x, out, mu, logvar, beta=beta, likelihood=likelihood, sigma=sigma)[0]

    return Phase("vae", loss, optimizer, lr)


@torch.no_grad()
def elbo_terms(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None = None,
    *,
    sigma: float = GAUSSIAN_SIGMA,
    seed: int = 0,
    batch_size: int = 500,
) -> dict:
    """Mean reconstruction term and KL (nats per image) of ``model`` on ``(x, y)``, one draw of ``z`` each."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    recon = kl = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(dev)
        yb = None if y is None else y[i : i + batch_size].to(dev)
        out, mu, logvar = model(xb, yb, generator=g)
        _, r, k = negative_elbo(xb, out, mu, logvar, likelihood=model.likelihood, sigma=sigma, reduction="none")
        recon, kl = recon + float(r.sum()), kl + float(k.sum())
    model.train(was_training)
    n = len(x)
    return {"recon": recon / n, "kl": kl / n, "neg_elbo": (recon + kl) / n}


def vae_grid_sampler(per_class: int = 10, seed: int = 0, temperature: float = 1.0):
    """``sample_fn(ema, step)``: prior samples of the EMA model, ``per_class`` per class (or 100 unconditional)."""

    def sample_fn(ema: nn.Module, step: int) -> Tensor:
        k = ema.num_classes
        labels = None if k is None else torch.arange(k).repeat(per_class)
        n = 100 if labels is None else len(labels)
        return generate_vae(ema, {}, labels, n, seed=seed, progress=False, temperature=temperature)

    return sample_fn


def _split(data) -> tuple[Tensor, Tensor | None]:
    from torch.utils.data import TensorDataset

    if isinstance(data, TensorDataset):
        data = tuple(data.tensors)
    if isinstance(data, Tensor):
        return data, None
    if isinstance(data, (tuple, list)) and data and isinstance(data[0], Tensor):
        return data[0], (data[1] if len(data) > 1 else None)
    raise ValueError("train_vae takes images as a float tensor, (x, y) tensors or a TensorDataset")


def train_vae(
    model: nn.Module,
    data,
    *,
    beta: float = 1.0,
    likelihood: str | None = None,
    sigma: float = GAUSSIAN_SIGMA,
    steps: int = 1000,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    ema_decay: float = 0.999,
    warmup: int = 0,
    lr_decay: str = "constant",
    grad_clip: float | None = 1.0,
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
    eval_n: int = 2000,
) -> VAETrainResult:
    """Train a VAE (Kingma & Welling 2014; beta-VAE, Higgins et al. 2017) by the negative ELBO with AdamW and EMA.

    ``data``: images ``x`` in [-1, 1] or ``(x, y)`` (labels needed by a class-conditional model).
    ``likelihood`` must be the model's own (``model.likelihood``, the default); ``sigma`` is the
    fixed decoder std of the Gaussian likelihood. ``steps`` counts all steps (also when
    resuming). Minibatches and every ``eps`` come from one CPU generator seeded by ``seed``, so
    a run is deterministic and an interrupted one resumes exactly. ``callbacks`` are
    :class:`~diffusion_course.training.loop.Every` hooks (e.g. ``callbacks.sample_grid`` with
    :func:`vae_grid_sampler`). The checkpoint config records ``family: "vae"``, the likelihood,
    beta, the data and command passed in ``config``, and the final ``recon``/``kl`` of the EMA
    model on the first ``eval_n`` training images (nats per image).
    """
    likelihood = likelihood or model.likelihood
    if likelihood != model.likelihood:
        raise ValueError(
            f"the model was built for the {model.likelihood!r} likelihood; asked to train it with {likelihood!r}"
        )
    if beta < 0 or sigma <= 0 or steps < 0 or batch_size < 1 or not 0.0 <= ema_decay < 1.0:
        raise ValueError(
            f"need beta >= 0, sigma > 0, steps >= 0, batch_size >= 1, 0 <= ema_decay < 1; got "
            f"{beta}, {sigma}, {steps}, {batch_size}, {ema_decay}"
        )
    x, y = _split(data)
    if model.num_classes is not None and y is None:
        raise ValueError(f"the model is class-conditional ({model.num_classes} classes); pass data as (x, y)")
    if model.num_classes is None:
        y = None
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(dev).train()
    opt = torch.optim.AdamW(list(model.parameters()), lr=lr, weight_decay=weight_decay, foreach=True)
    gen = torch.Generator().manual_seed(seed)
    batches = make_batches(x if y is None else (x, y), batch_size, gen, dev)
    cfg = {
        **(config or {}),
        "family": (config or {}).get("family", "vae"),  # "autoencoder" for a KL-f4 autoencoder
        "likelihood": likelihood,
        "beta": beta,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "ema_decay": ema_decay,
        "grad_clip": grad_clip,
        "warmup": warmup,
        "lr_decay": lr_decay,
        "seed": seed,
    }
    if likelihood == "gaussian":
        cfg["gaussian_sigma"] = sigma
    phase = vae_phase(model, opt, lr, generator=gen, beta=beta, likelihood=likelihood, sigma=sigma, device=dev)
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
        log_every=log_every,
        progress=progress,
        callbacks=list(callbacks or []),
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        resume=resume,
        overwrite=overwrite,
        allow_shipped=allow_shipped,
        config=cfg,
        desc="vae",
    )
    ema = res.emas["model"]
    n = min(eval_n, len(x))
    terms = elbo_terms(ema, x[:n], None if y is None else y[:n], sigma=sigma, seed=seed)
    losses = res.losses["vae"]
    final = sum(losses[-100:]) / max(1, len(losses[-100:]))
    cfg.update(
        steps=res.step,
        final_loss=final,
        final_recon=round(terms["recon"], 3),
        final_kl=round(terms["kl"], 3),
        final_neg_elbo=round(terms["neg_elbo"], 3),
        final_eval_n=n,
        train_seconds=round(res.seconds, 1),
        device=str(dev),
    )
    if checkpoint_path is not None and is_main():  # add the measured terms to the checkpoint rank 0 wrote
        _, saved = load_checkpoint(checkpoint_path)
        keys = ("final_recon", "final_kl", "final_neg_elbo", "final_eval_n")
        saved.update({k: cfg[k] for k in keys})
        save_checkpoint(checkpoint_path, ema, saved, overwrite=True, allow_shipped=allow_shipped)
    return VAETrainResult(
        ema=ema, model=model, losses=losses, step=res.step, seconds=res.seconds, config=cfg, stopped=res.stopped
    )
