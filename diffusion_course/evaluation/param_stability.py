"""Is one training target more stable than another? eps, x0, v and score over seeds and learning rates.

Notebook 03 trains one seed per target (Ho et al. 2020's eps; x0; Salimans & Ho 2022's v; the score
of Song et al. 2021). :func:`param_run` trains notebook 03's network, ``MLPDenoiser(dim=2,
hidden=128, depth=3)``, on the ring of 8 Gaussians (``data.make_toy("gaussians8")``) with one target
at one learning rate and seed, with notebook 03's recipe through ``training.diffusion.train_diffusion``:
Adam, cosine decay, batch 256, uniform weighting, no warm-up, clipping or EMA. The seed sets the
initial weights, the batches, the timesteps and the noise. It measures on scales that compare
across targets:

- **loss in common units**: the final model's implied-eps MSE (Ho et al.'s L_simple) and
  implied-x0 MSE on one fixed evaluation set (the same x0, t and noise for every run, t evenly
  over 0..T-1); a raw loss of one target cannot be compared with another's;
- **sample quality**: sliced Wasserstein distance (``toy.metrics.sliced_wasserstein``) of DDIM-50
  and DDPM-200 samples, from the same starting noise in every run, to fresh data;
- **gradient balance over noise levels**: :func:`grad_norm_per_t`, the norm of the gradient of the
  training loss with respect to the weights on one batch whose timesteps are all ``t``, at
  timesteps evenly spaced in log-SNR, at initialization and after training; its coefficient of
  variation over those timesteps (population std / mean) says how unevenly the noise levels pull.

:func:`summarize` turns runs into, per target and learning rate, the mean and the std over seeds.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from ..data import make_toy
from ..diffusion.losses import diffusion_loss
from ..diffusion.parameterization import PREDICTIONS, check_prediction, to_eps, to_x0
from ..diffusion.schedules import NoiseSchedule, make_schedule
from ..diffusion.spacing import logsnr_timesteps
from ..models.mlp import MLPDenoiser
from ..samplers.ddim import ddim
from ..samplers.ddpm import ddpm
from ..tables import round_sig
from ..toy.metrics import sliced_wasserstein
from ..toy.oracle import GaussianMixture, MixtureDenoiser
from ..training.diffusion import train_diffusion
from ..training.guard import TrainingDivergedError
from .bench import RING

__all__ = ["TARGETS", "GRAD_BINS", "grad_norm_per_t", "coefficient_of_variation", "eval_set", "param_run", "summarize"]

TARGETS = PREDICTIONS  # ("eps", "x0", "v", "score")
GRAD_BINS = 8  # timesteps at which the gradient norm is taken, evenly spaced in log-SNR
METRICS = ("eps_mse", "x0_mse", "w2_ddim", "w2_ddpm", "grad_cv_init", "grad_cv_final")


def grad_norm_per_t(
    model: nn.Module,
    x0: Tensor,
    noise: Tensor,
    schedule: NoiseSchedule,
    prediction: str,
    timesteps,
    weighting: str = "uniform",
) -> Tensor:
    """Gradient norm of the diffusion loss (Ho et al. 2020, Algorithm 1) at fixed timesteps.

    For each ``t`` in ``timesteps``: the batch ``x0`` with the same ``noise`` and every timestep set
    to ``t``, the mean loss ``diffusion_loss(model, x0, schedule, prediction, weighting)``, and the
    L2 norm of its gradient over all trainable parameters. Returns a float64 tensor, one norm per
    timestep. Leaves the parameters' ``.grad`` untouched.
    """
    check_prediction(prediction)
    ts = [int(t) for t in torch.as_tensor(timesteps).reshape(-1).tolist()]
    if not ts or any(not 0 <= t < schedule.T for t in ts):
        raise ValueError(f"timesteps must be a non-empty list of ints in 0..{schedule.T - 1}; got {ts}")
    if noise.shape != x0.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} must equal x0 shape {tuple(x0.shape)}")
    params = [p for p in model.parameters() if p.requires_grad]
    norms = []
    for t in ts:
        t_batch = torch.full((x0.shape[0],), t, dtype=torch.long, device=x0.device)
        loss = diffusion_loss(model, x0, schedule, prediction, weighting, t=t_batch, noise=noise)
        grads = torch.autograd.grad(loss, params)
        norms.append(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    return torch.stack(norms).cpu()


def coefficient_of_variation(values: Tensor) -> float:
    """Population standard deviation over mean of ``values`` (0 for a constant)."""
    v = torch.as_tensor(values, dtype=torch.float64)
    if v.numel() == 0 or not bool(torch.isfinite(v).all()) or v.mean() <= 0:
        raise ValueError(f"need finite positive values; got {v.tolist()}")
    return (v.std(correction=0) / v.mean()).item()


def eval_set(schedule: NoiseSchedule, n: int = 2000, seed: int = 123) -> tuple[Tensor, Tensor, Tensor]:
    """The fixed evaluation set: ``n`` exact ring samples, timesteps evenly over 0..T-1, noise."""
    g = torch.Generator().manual_seed(seed)
    x0 = GaussianMixture.ring(**RING).sample(n, generator=g)[0]
    t = torch.arange(n) * schedule.T // n
    return x0, t, torch.randn(x0.shape, generator=g)


@torch.no_grad()
def implied_mse(model, prediction: str, schedule: NoiseSchedule, x0: Tensor, t: Tensor, noise: Tensor) -> dict:
    """Implied-eps and implied-x0 MSE per coordinate of ``model`` on ``(x0, t, noise)`` (common units)."""
    alpha, sigma = schedule.alpha(t), schedule.sigma(t)
    x_t = alpha.float()[:, None] * x0 + sigma.float()[:, None] * noise
    out = model(x_t, t)
    eps_hat, x0_hat = to_eps(out, prediction, x_t, alpha, sigma), to_x0(out, prediction, x_t, alpha, sigma)
    return {"eps_mse": ((eps_hat - noise) ** 2).mean().item(), "x0_mse": ((x0_hat - x0) ** 2).mean().item()}


def oracle_floor(schedule: NoiseSchedule, n_eval: int = 2000) -> dict:
    """The exact posterior mean's implied-eps and implied-x0 MSE on the evaluation set (the Bayes error)."""
    oracle = MixtureDenoiser(GaussianMixture.ring(**RING), schedule, prediction="eps")
    return {k: round_sig(v, 6) for k, v in implied_mse(oracle, "eps", schedule, *eval_set(schedule, n_eval)).items()}


def _data(seed: int) -> Tensor:
    return make_toy("gaussians8", 20000, generator=torch.Generator().manual_seed(1000 + seed))


@torch.no_grad()
def _w2(model, prediction: str, schedule: NoiseSchedule, n: int) -> tuple[float | None, float | None]:
    """Sliced W2 to fresh data of DDIM-50 and DDPM-200 samples from fixed noise (None: a sample not finite)."""
    x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(7))
    ref = GaussianMixture.ring(**RING).sample(n, generator=torch.Generator().manual_seed(99))[0]
    out = []
    for sampler, steps in ((ddim, 50), (ddpm, 200)):
        x = sampler(model, x_T, schedule, schedule.timesteps(steps, "leading"), prediction=prediction,
                    generator=torch.Generator().manual_seed(9))  # fmt: skip
        finite = bool(torch.isfinite(x).all())
        out.append(
            round_sig(sliced_wasserstein(x, ref, generator=torch.Generator().manual_seed(0)), 4) if finite else None
        )
    return out[0], out[1]


def param_run(
    prediction: str,
    lr: float,
    seed: int,
    steps: int = 3000,
    n: int = 2000,
    batch_size: int = 256,
    n_eval: int = 2000,
    grad_bins: int = GRAD_BINS,
) -> dict:
    """Train notebook 03's toy MLP with one ``prediction`` target at ``lr`` and ``seed``; measure it.

    Returns one row: the measures of the module docstring (4 significant digits, the MSEs 6), the
    gradient norms per timestep at initialization and at the end, the mean raw training loss of the
    last 100 steps, and ``diverged`` (the divergence guard stopped training; its measures are None).
    """
    check_prediction(prediction)
    if not lr > 0:
        raise ValueError(f"lr must be > 0; got {lr!r}")
    t0 = time.perf_counter()
    schedule = make_schedule("linear")
    torch.manual_seed(seed)
    model = MLPDenoiser(dim=2, hidden=128, depth=3)
    grad_t = logsnr_timesteps(schedule, grad_bins).flip(0)  # ascending t: clean to noisy
    g = torch.Generator().manual_seed(2000 + seed)
    x0_grad = GaussianMixture.ring(**RING).sample(batch_size, generator=g)[0]
    noise_grad = torch.randn(x0_grad.shape, generator=g)
    grad_init = grad_norm_per_t(model, x0_grad, noise_grad, schedule, prediction, grad_t)
    row = {"target": prediction, "lr": lr, "seed": seed, "steps": steps, "diverged": False}
    try:
        res = train_diffusion(
            model, _data(seed), schedule, prediction=prediction, weighting="uniform", steps=steps,
            batch_size=batch_size, lr=lr, ema_decay=0.0, grad_clip=None, warmup=0, lr_decay="cosine",
            p_uncond=0.0, seed=seed, progress=False,
        )  # fmt: skip
    except TrainingDivergedError as err:
        row.update({"diverged": True, "diverged_at": err.step, **dict.fromkeys(METRICS)})
        row.update({"final_train_loss": None, "grad_norm_init": _r(grad_init), "grad_norm_final": None})
        row["seconds"] = round(time.perf_counter() - t0, 1)
        return row
    model = res.model.eval()
    grad_final = grad_norm_per_t(model, x0_grad, noise_grad, schedule, prediction, grad_t)
    w2_ddim, w2_ddpm = _w2(model, prediction, schedule, n)
    mse = implied_mse(model, prediction, schedule, *eval_set(schedule, n_eval))
    row.update({k: round_sig(v, 6) for k, v in mse.items()})  # 6 digits: the gaps to the oracle are small
    row.update({"w2_ddim": w2_ddim, "w2_ddpm": w2_ddpm})
    row["grad_cv_init"] = round_sig(coefficient_of_variation(grad_init), 4)
    row["grad_cv_final"] = round_sig(coefficient_of_variation(grad_final), 4)
    row["final_train_loss"] = round_sig(sum(res.losses[-100:]) / len(res.losses[-100:]), 4)
    row["grad_norm_init"], row["grad_norm_final"] = _r(grad_init), _r(grad_final)
    row["grad_timesteps"] = grad_t.tolist()
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _r(values: Tensor) -> list[float]:
    return [round_sig(float(v), 4) for v in values]


def _mean_std(values: list[float], digits: int = 4) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    v = torch.tensor(values, dtype=torch.float64)
    std = v.std(correction=1).item() if len(values) > 1 else 0.0
    return round_sig(v.mean().item(), digits), round_sig(std, 3)


def summarize(rows: list[dict]) -> list[dict]:
    """Per (target, lr): runs, diverged runs, and the mean and std over seeds (n - 1) of each measure."""
    out = []
    for key in dict.fromkeys((r["target"], r["lr"]) for r in rows):
        group = [r for r in rows if (r["target"], r["lr"]) == key]
        ok = [r for r in group if not r["diverged"]]
        entry = {"target": key[0], "lr": key[1], "runs": len(group), "diverged": len(group) - len(ok)}
        for m in METRICS:
            vals = [r[m] for r in ok if r[m] is not None]
            entry[f"{m}_mean"], entry[f"{m}_std"] = _mean_std(vals, 6 if m.endswith("_mse") else 4)
        out.append(entry)
    return out
