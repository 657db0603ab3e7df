"""Sample from a trained checkpoint and measure the samples with the MNIST-classifier metrics.

    python -m diffusion_course sample   mnist-ddpm --digit 3 --sampler ddim --steps 50 --out grid.png
    python -m diffusion_course evaluate mnist-ddpm --sampler ddim --steps 50 --n 1000 \
        --guidance 0 0.5 1 2 4 --out assets/results/mnist_guidance.json

Guidance follows Ho & Salimans (2022): ``eps = (1 + w) eps_cond - w eps_uncond``; ``w = 0`` is
the plain conditional model. The package's ``samplers.guided`` takes ``scale = 1 + w``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import samplers
from .config import device as pick_device
from .schedules import make_schedule

SAMPLERS = {"ddpm": samplers.ddpm, "ddim": samplers.ddim, "dpm_solver_pp": samplers.dpm_solver_pp,
            "heun": samplers.pf_ode_heun, "euler_maruyama": samplers.reverse_sde_em}


def load_model(name_or_path: str, map_location: str | torch.device = "cpu"):
    """A checkpoint by manifest name (``load_pretrained``) or by file path (``load_checkpoint``)."""
    from .checkpoints import load_checkpoint, load_pretrained

    if Path(name_or_path).suffix == ".pt" or Path(name_or_path).exists():
        return load_checkpoint(name_or_path, map_location=map_location)
    return load_pretrained(name_or_path, map_location=map_location)


def checkpoint_sha256(name_or_path: str) -> str:
    """The sha256 of the weights :func:`load_model` reads, so that a result names what it measured."""
    from .checkpoints import read_manifest, sha256_file

    if Path(name_or_path).suffix == ".pt" or Path(name_or_path).exists():
        return sha256_file(name_or_path)
    return read_manifest()[name_or_path]["sha256"]


def provenance(result: dict, name: str = "mnist-ddpm") -> str:
    """One line saying whether a results file measured the weights the manifest ships as ``name``."""
    from .checkpoints import read_manifest

    shipped, sha = read_manifest()[name]["sha256"], result.get("checkpoint_sha256")
    if sha is None:
        return f"the file does not record which weights it measured (shipped {name}: sha256 {shipped[:12]})"
    if sha == shipped:
        return f"measured on the shipped {name} weights (sha256 {sha[:12]})"
    note = result.get("checkpoint_note", "")
    return f"measured on other weights (sha256 {sha[:12]}) than the shipped {name} ({shipped[:12]})" + \
        (f"; the file says: {note}" if note else "")


def schedule_of(config: dict):
    """The NoiseSchedule a checkpoint was trained with."""
    s = config["schedule"]
    return make_schedule(s["name"], T=s["T"], zero_terminal_snr=s.get("zero_terminal_snr", False))


@torch.no_grad()
def generate(model, config: dict, labels: torch.Tensor | None, n: int, *, sampler: str = "ddim",
             steps: int = 50, w: float = 0.0, eta: float | None = None, seed: int = 0,
             batch_size: int = 500, progress: bool = True) -> torch.Tensor:
    """Draw ``n`` images from ``model``; ``labels`` (n,) for conditional samples, None for unconditional.

    Conditional samples use classifier-free guidance with weight ``w`` (scale ``1 + w``).
    Unconditional samples feed the null label. Seeds run through one explicit generator.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; expected one of {sorted(SAMPLERS)}")
    model.eval()
    dev = next(model.parameters()).device
    schedule = schedule_of(config)
    ts = schedule.timesteps(steps, "trailing" if steps < schedule.T else "leading")
    opts = {"eta": eta} if (sampler == "ddim" and eta is not None) else {}
    null = getattr(model, "null_label", None)
    shape = (model.in_channels, config.get("image_size", 28), config.get("image_size", 28))
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for start in tqdm(range(0, n, batch_size), desc=f"{sampler} {steps} steps w={w}", disable=not progress, leave=False):
        b = min(batch_size, n - start)
        x_T = torch.randn((b, *shape), generator=g).to(dev)
        if labels is None:
            fn = (lambda x, t: model(x, t, torch.full((x.shape[0],), null, device=x.device))) if null is not None else model
        else:
            fn = samplers.guided(model, labels[start:start + b].to(dev), 1.0 + w, null)
        out.append(SAMPLERS[sampler](fn, x_T, schedule, ts, prediction=config["prediction"],
                                     generator=g, clip_x0=1.0, **opts).cpu())
    return torch.cat(out).clamp(-1, 1)


def guidance_sweep(model, config: dict, ws=(0.0, 0.5, 1.0, 2.0, 4.0), n: int = 1000, sampler: str = "ddim",
                   steps: int = 50, seed: int = 0, progress: bool = True) -> dict:
    """Accuracy on the requested digit and MNIST-classifier FID against the guidance weight w,
    plus the unconditional (null-label) class histogram and the real-vs-real floor at the same n."""
    from . import image_metrics, metric_reports

    labels = torch.arange(n) % 10
    floor = metric_reports.real_floor(n)
    rows = []
    for w in ws:
        t0 = time.perf_counter()
        x = generate(model, config, labels, n, sampler=sampler, steps=steps, w=w, seed=seed, progress=progress)
        secs = time.perf_counter() - t0
        r = image_metrics.evaluate_images(x, labels=labels)
        rows.append({"w": w, "class_accuracy_pct": r["class_accuracy_pct"],
                     "mnist_classifier_fid": r["mnist_classifier_fid"],
                     "fid_over_floor": round(r["mnist_classifier_fid"] / floor["mnist_classifier_fid"], 2),
                     "precision_pct": r["precision_pct"], "recall_pct": r["recall_pct"],
                     "seconds_per_1000": round(1000 * secs / n, 1)})
        if progress:
            print("row done:", rows[-1], flush=True)
    x = generate(model, config, None, n, sampler=sampler, steps=steps, seed=seed + 1, progress=progress)
    unc = image_metrics.evaluate_images(x)
    return {"n": n, "sampler": sampler, "steps": steps, "floor": floor, "rows": rows,
            "unconditional": {k: unc[k] for k in ("mnist_classifier_fid", "class_histogram_pct",
                                                  "max_class_deviation_pct", "precision_pct", "recall_pct")}}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="manifest name (e.g. mnist-ddpm) or a .pt path")
    p.add_argument("--sampler", default="ddim", choices=sorted(SAMPLERS))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: automatic)")


def main(argv: list[str] | None = None) -> int:
    """``python -m diffusion_course evaluate``: the guidance sweep as a table and JSON."""
    from .metrics import format_table

    p = argparse.ArgumentParser(prog="python -m diffusion_course evaluate", description=main.__doc__)
    _common(p)
    p.add_argument("--n", type=int, default=1000, help="samples per guidance weight")
    p.add_argument("--guidance", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0], help="weights w")
    p.add_argument("--out", default=None, help="write the results as JSON here (refuses to overwrite)")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    if a.out and Path(a.out).exists() and not a.overwrite:
        p.error(f"{a.out} exists; pass --overwrite to replace it")
    dev = pick_device(a.device)
    model, config = load_model(a.checkpoint, map_location=dev)
    model.to(dev)
    t0 = time.perf_counter()
    res = guidance_sweep(model, config, a.guidance, a.n, a.sampler, a.steps, a.seed)
    res.update(command="python -m diffusion_course evaluate " + " ".join(argv or []), checkpoint=a.checkpoint,
               checkpoint_sha256=checkpoint_sha256(a.checkpoint), device=str(dev),
               hardware=f"{platform.machine()}, {torch.get_num_threads()} CPU threads"
               + (f", {torch.cuda.get_device_name()}" if dev.type == "cuda" else ""),
               date=str(date.today()), wall_seconds=round(time.perf_counter() - t0))
    print(format_table(res["rows"], title=f"{a.checkpoint}: {a.sampler} {a.steps} steps, n={a.n} per row; "
                       f"real-vs-real floor FID {res['floor']['mnist_classifier_fid']}"))
    print("unconditional (null label):", res["unconditional"])
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1))
        print("wrote", a.out)
    return 0


def sample_main(argv: list[str] | None = None) -> int:
    """``python -m diffusion_course sample``: a grid of samples saved as PNG."""
    from torchvision.utils import save_image

    p = argparse.ArgumentParser(prog="python -m diffusion_course sample", description=sample_main.__doc__)
    _common(p)
    p.add_argument("--digit", type=int, default=None, help="0-9; default: one row per digit")
    p.add_argument("--w", type=float, default=0.5, help="guidance weight w (scale 1 + w)")
    p.add_argument("--n", type=int, default=80)
    p.add_argument("--out", default="samples.png")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    if Path(a.out).exists() and not a.overwrite:
        p.error(f"{a.out} exists; pass --overwrite to replace it")
    if a.digit is not None and not 0 <= a.digit <= 9:
        p.error(f"--digit must be in 0..9, got {a.digit}")
    dev = pick_device(a.device)
    model, config = load_model(a.checkpoint, map_location=dev)
    model.to(dev)
    labels = torch.full((a.n,), a.digit) if a.digit is not None else torch.arange(a.n) // max(1, a.n // 10) % 10
    x = generate(model, config, labels, a.n, sampler=a.sampler, steps=a.steps, w=a.w, seed=a.seed)
    save_image((x + 1) / 2, a.out, nrow=max(1, a.n // 10))
    print("wrote", a.out)
    return 0
