"""Sampler overhead: each sampler's own arithmetic per model evaluation, as a % of one model call.

Workload: a batch of 16 MNIST-sized images (1x28x28) on the CPU. The model is the course UNet
(``--model unet``, default) or a plain conv stack of width 96 (``--model convstack``), timed on
its own. Each sampler then runs with a "replay" model that returns a precomputed prediction at no
cost, so the time measured is everything but the model: coefficient arithmetic, the update, noise
draws, prediction conversion, the timestep tensor, validation. Timings are the minimum over
``--repeats`` runs (robust to other processes on the machine). Goal: under 3%. It prints a table
and writes no file.

    python benchmarks/sampler_overhead.py [--model convstack] [--threads 2] [--device cuda]
    python benchmarks/sampler_overhead.py --model convstack --batch 2 --steps 5 --repeats 1   # a smoke test
"""

from __future__ import annotations

import functools
import os
import sys
import time

import torch
from torch import nn

from diffusion_course import samplers as S
from diffusion_course.cli.common import Parser, positive_int
from diffusion_course.config import device as pick_device
from diffusion_course.diffusion.guidance import guided
from diffusion_course.diffusion.schedules import make_schedule


class ConvStack(nn.Module):
    """A cheap stand-in denoiser: a few 3x3 convs of width ``width`` plus a time-embedding bias."""

    def __init__(self, width: int = 96, depth: int = 4, T: int = 1000):
        super().__init__()
        self.t_embed = nn.Embedding(T, width)
        self.inp = nn.Conv2d(1, width, 3, padding=1)
        self.body = nn.Sequential(
            *[m for _ in range(depth) for m in (nn.Conv2d(width, width, 3, padding=1), nn.SiLU())]
        )
        self.out = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, x, t, y=None):
        return self.out(self.body(self.inp(x) + self.t_embed(t)[:, :, None, None]))


def best_time(fn, repeats: int, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="sampler_overhead.py", description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("unet", "convstack"), default="unet")
    p.add_argument("--batch", type=positive_int, default=16)
    p.add_argument("--steps", type=positive_int, default=50)
    p.add_argument("--repeats", type=positive_int, default=7)
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--device", default="cpu", help="cpu (the goal's setting) or cuda")
    args = p.parse_args(argv)
    try:
        dev = pick_device(args.device)
    except (ValueError, RuntimeError) as err:
        p.error(str(err))
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    if args.model == "unet":
        from diffusion_course.models.unet import UNet

        net = UNet(in_channels=1, base_channels=32, num_classes=10, dropout=0.0)
    else:
        net = ConvStack()
    net = net.to(dev).eval()
    sched = make_schedule("linear")
    x = torch.randn(args.batch, 1, 28, 28, device=dev)
    t = torch.full((args.batch,), 500, device=dev)
    y = torch.zeros(args.batch, dtype=torch.long, device=dev)
    with torch.no_grad():
        model_s = best_time(lambda: net(x, t, y), args.repeats * 3, dev)
        model2_s = best_time(lambda: net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, y])), args.repeats, dev)
        replay_out = net(x, t, y)
    replay_out2 = torch.cat([replay_out, replay_out])

    def replay(x_t, t_, y_=None):  # returns the prediction without computing anything
        return replay_out2 if x_t.shape[0] == 2 * args.batch else replay_out

    replay_s = best_time(lambda: replay(x, t), 1000, dev)
    ts, n = sched.timesteps(args.steps), args.steps
    g = torch.Generator(dev).manual_seed(0)
    rows = [
        ("ddpm", S.ddpm, {}, n, model_s),
        ("ddim (eta=0)", S.ddim, {}, n, model_s),
        ("ddim (eta=1)", S.ddim, {"eta": 1.0}, n, model_s),
        ("dpm_solver_pp (order 2)", S.dpm_solver_pp, {}, n, model_s),
        ("dpm_solver_pp (order 3)", S.dpm_solver_pp, {"order": 3}, n, model_s),
        ("pf_ode_euler", S.pf_ode_euler, {}, n, model_s),
        ("pf_ode_heun", S.pf_ode_heun, {}, 2 * n - 1, model_s),
        ("reverse_sde_em", S.reverse_sde_em, {}, n, model_s),
        ("annealed_langevin (n_inner=4)", S.annealed_langevin, {"n_inner": 4}, 4 * n + 1, model_s),
        ("ddim + guided(scale=3)", S.ddim, {"guided": True}, n, model2_s),
    ]
    print(
        f"model: {args.model} on {dev}, batch {args.batch}x1x28x28, {args.threads} threads, {args.steps} steps; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"one model evaluation: {model_s * 1e3:.2f} ms (doubled batch for guidance: {model2_s * 1e3:.2f} ms); "
        f"replay model: {replay_s * 1e6:.1f} us\n"
    )
    print(f"{'sampler':32s} {'NFE':>5s} {'overhead/eval':>14s} {'% of a model eval':>18s}")
    worst = 0.0
    with torch.no_grad():
        for name, sampler, opts, nfe, per_eval_model_s in rows:
            opts = dict(opts)
            model = guided(replay, 3, 3.0, null_label=10) if opts.pop("guided", False) else replay
            total = best_time(functools.partial(sampler, model, x, sched, ts, generator=g, **opts), args.repeats, dev)
            per_eval = max(total / nfe - replay_s, 0.0)
            pct = 100 * per_eval / per_eval_model_s
            worst = max(worst, pct)
            print(f"{name:32s} {nfe:5d} {per_eval * 1e6:11.1f} us {pct:17.2f}%")
    print(f"\nworst: {worst:.2f}% (goal: under 3%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
