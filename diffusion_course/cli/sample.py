"""``python -m diffusion_course sample CHECKPOINT``: samples of any generative checkpoint, as PNG or .npz.

    python -m diffusion_course sample mnist-ddpm --n 80 --seed 0 --out grid.png
    python -m diffusion_course sample mnist-ddpm --n 1000 --label 3 --sampler dpm_solver_pp --steps 20 \\
        --w 0.5 --seed 1 --out threes.npz

A ``.png`` is one grid (one row per ``--n // 10`` images); a ``.npz`` holds ``arr_0``, the uint8
images as N x H x W x C, and ``arr_1``, their labels: the convention of the guided-diffusion
evaluation suite, so any FID tool reads the samples. With no ``--label``, a class-conditional
model gets labels cycling 0, 1, ..., 9. Image ``i`` depends only on ``(seed, i)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import Parser, fail, positive_int, run_guarded

PROG = "python -m diffusion_course sample"
FORMATS = (".png", ".npz")


def _parser() -> Parser:
    from ..samplers.registry import SAMPLERS

    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="manifest name (e.g. mnist-ddpm) or a .pt path")
    p.add_argument("--n", type=positive_int, default=80, help="number of images (default 80)")
    p.add_argument("--label", type=int, help="class of every image (default: cycle through the classes)")
    p.add_argument("--sampler", choices=sorted(SAMPLERS), help="diffusion: the sampler (default ddim)")
    p.add_argument("--steps", type=positive_int, help="diffusion: sampling steps (default 50)")
    p.add_argument("--w", type=float, help="diffusion: guidance weight w (Ho & Salimans; scale 1 + w; default 0.5)")
    p.add_argument("--temperature", type=float, help="vae: scale of the prior draw (default 1.0)")
    p.add_argument("--truncation", type=float, help="gan: scale of the latent draw (default 1.0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=positive_int, default=500)
    p.add_argument("--device", help="cpu, cuda, mps (default: automatic)")
    p.add_argument("--out", required=True, help="a .png grid or a .npz array file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-progress", action="store_true")
    return p


def _run(a) -> int:
    import torch

    from ..checkpoints import load_any
    from ..config import device as pick_device
    from ..pipelines import balanced_labels
    from ..pipelines.families import FAMILIES, family_of, generate_any
    from ..pipelines.save import save_grid, save_npz

    out = Path(a.out)
    dev = pick_device(a.device)
    model, config = load_any(a.checkpoint, map_location=dev)
    family = family_of(config)
    if family == "autoencoder":
        return fail(
            PROG,
            f"{a.checkpoint} is an autoencoder: it decodes latents but has no prior to sample; "
            "sample the latent diffusion model trained on it",
        )
    if family not in FAMILIES:
        return fail(PROG, f"{a.checkpoint} is a {family!r} checkpoint; this version samples {sorted(FAMILIES)}")
    diffusion = family in ("diffusion", "latent-diffusion")
    classes = getattr(model, "num_classes", None)
    if a.label is not None and classes is None:
        return fail(PROG, f"--label needs a class-conditional model; {a.checkpoint} is unconditional")
    if a.label is not None and not 0 <= a.label < classes:
        return fail(PROG, f"--label must be in 0..{classes - 1}; got {a.label}")
    given = {k for k in ("sampler", "steps", "w", "temperature", "truncation") if getattr(a, k) is not None}
    allowed = (
        {"sampler", "steps", "w"} if diffusion else {"vae": {"temperature"}, "gan": {"truncation"}}.get(family, set())
    )
    if given - allowed:
        return fail(PROG, f"--{sorted(given - allowed)[0]} does not apply to a {family!r} checkpoint")
    if diffusion:
        a.sampler, a.steps, a.w = a.sampler or "ddim", a.steps or 50, 0.5 if a.w is None else a.w
    if diffusion and a.steps > config["schedule"]["T"]:
        return fail(
            PROG,
            f"--steps must be in 1..{config['schedule']['T']} for this checkpoint; got {a.steps}",
        )
    labels = None
    if classes is not None:
        labels = torch.full((a.n,), a.label) if a.label is not None else balanced_labels(a.n, classes)
    options = {"sampler": a.sampler, "steps": a.steps, "w": a.w} if diffusion else {}
    if family == "vae" and a.temperature is not None:
        options["temperature"] = a.temperature
    if family == "gan" and a.truncation is not None:
        options["truncation"] = a.truncation
    x = generate_any(
        model, config, labels, a.n, seed=a.seed, batch_size=a.batch_size, progress=not a.no_progress, **options
    )
    if out.suffix == ".npz":
        save_npz(x, labels, out)
    else:
        save_grid(x, out, nrow=max(1, a.n // 10) if classes else None)
    how = f"{family}, {a.sampler} {a.steps} steps, w={a.w}, " if diffusion else f"{family}, "
    print(f"wrote {out}: {a.n} images, {how}seed {a.seed}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Draw samples from a checkpoint and save them as a PNG grid or an .npz array file."""
    a = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    out = Path(a.out)
    if out.suffix not in FORMATS:
        return fail(PROG, f"--out must end in one of {FORMATS}; got {a.out!r}")
    if out.exists() and not a.overwrite:
        return fail(PROG, f"{out} exists; pass --overwrite to replace it")
    return run_guarded(PROG, lambda: _run(a))
