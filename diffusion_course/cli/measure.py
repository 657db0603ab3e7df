"""``python -m diffusion_course measure CHECKPOINT``: any generative checkpoint, measured by the common instruments.

    python -m diffusion_course measure mnist-ddpm --n 1000 --sampler ddim --steps 50 --w 0.5 \\
        --device cpu --out measure_mnist_ddpm

Draws ``--n`` images with balanced labels from the checkpoint (any family: diffusion, VAE, ...),
then measures requested-class accuracy, classifier FID over the real-vs-real floor at the same
n, precision/recall, class coverage, sharpness against real images (with the real-vs-real
spread), wall milliseconds per image and network evaluations per image; a model with
encode/decode also gets its reconstructions measured. ``--sampler``, ``--steps`` and ``--w``
apply to diffusion checkpoints (defaults: ddim, 50, 0.5), ``--temperature`` to VAE checkpoints
(default 1). ``--out`` names the experiment folder under ``assets/results`` (or ``--results-dir``).

A long measurement (DDPM-1000 on hundreds of images is hours on a CPU) can be cut into pieces:
``--cache DIR`` draws the images in chunks of ``--chunk`` (default 50) saved in DIR; run the same
command again after an interruption and it reuses the chunks already drawn. The time per image
then sums the chunks' own times, and the result records each chunk's load average.

    python -m diffusion_course measure mnist-ddpm --n 500 --sampler ddpm --steps 1000 \\
        --cache runs/cache/mnist_ddpm1000 --device cpu --out measure_mnist_ddpm1000
"""

from __future__ import annotations

import argparse
import sys
import time

from .common import Parser, add_result_options, command_line, positive_int, refuse_to_overwrite, run_guarded

PROG = "python -m diffusion_course measure"
# Generation options per family: the flags each family takes, with their defaults.
FAMILY_OPTIONS = {
    "diffusion": {"sampler": "ddim", "steps": 50, "w": 0.5},
    "latent-diffusion": {"sampler": "ddim", "steps": 50, "w": 0.5},
    "vae": {"temperature": 1.0},
    "autoencoder": {},
    "gan": {"truncation": 1.0},
}


def _parser() -> Parser:
    from ..samplers.registry import SAMPLERS

    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="manifest name (e.g. mnist-ddpm) or a .pt path")
    p.add_argument("--n", type=positive_int, default=1000, help="images to draw and measure (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler", default=None, choices=sorted(SAMPLERS), help="diffusion only (default ddim)")
    p.add_argument("--steps", type=positive_int, default=None, help="diffusion only (default 50)")
    p.add_argument("--w", type=float, default=None, help="guidance weight w, diffusion only (default 0.5)")
    p.add_argument("--temperature", type=float, default=None, help="prior temperature, VAE only (default 1)")
    p.add_argument("--truncation", type=float, default=None, help="latent truncation, GAN only (default 1)")
    p.add_argument("--dataset", default=None, help="dataset of the feature network (default: the checkpoint's)")
    p.add_argument("--batch-size", type=positive_int, default=500)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: automatic)")
    p.add_argument("--cache", default=None, help="folder of sample chunks: resume an interrupted measurement")
    p.add_argument("--chunk", type=positive_int, default=50, help="images per cached chunk (default 50)")
    add_result_options(p, required=True)
    p.add_argument("--no-progress", action="store_true")
    return p


def _options(a, family: str, config: dict) -> dict:
    defaults = FAMILY_OPTIONS.get(family, {})
    flags = {k for opts in FAMILY_OPTIONS.values() for k in opts}
    given = {k: getattr(a, k) for k in sorted(flags) if getattr(a, k) is not None}
    foreign = [k for k in given if k not in defaults]
    if foreign:
        takes = f"it takes {', '.join('--' + k for k in defaults)}" if defaults else "it takes no generation options"
        raise ValueError(f"{', '.join('--' + k for k in foreign)} do not apply to a {family!r} checkpoint; {takes}")
    opts = {**defaults, **given}
    if family in ("diffusion", "latent-diffusion") and opts["steps"] > int(config["schedule"]["T"]):
        raise ValueError(f"--steps must be in 1..{config['schedule']['T']} for this checkpoint; got {opts['steps']}")
    return opts


def _reconstruction_line(rec: dict) -> str:
    return (
        f"  reconstructions: {rec['fid_over_floor']}x the floor, PSNR {rec['psnr_db']} dB, "
        f"gradient {rec['sharpness']['gradient_ratio']}x real"
    )


def _summary(res: dict) -> str:
    fid = f"{res['dataset']}_classifier_fid"
    if "options" not in res:  # an autoencoder: reconstructions only
        return f"{res['family']} on {res['dataset']}, n = {res['n']}\n" + _reconstruction_line(res["reconstruction"])
    sh = res["sharpness"]
    lines = [
        f"{res['family']} on {res['dataset']}, n = {res['n']}, options {res['options']}",
        f"  requested class {res['class_accuracy_pct']}%, {fid} {res[fid]} = {res['fid_over_floor']}x the floor "
        f"({res['floor'][fid]}), precision {res['precision_pct']}%, recall {res['recall_pct']}%",
        f"  sharpness: gradient {sh['gradient_ratio']}x real (real spread {sh['real_spread']['gradient_ratio']}), "
        f"high-frequency {sh['high_freq_ratio']}x (spread {sh['real_spread']['high_freq_ratio']})",
        f"  {res['ms_per_image']} ms per image, {res['network_evaluations_per_image']} network evaluations per image",
    ]
    rec = res.get("reconstruction")
    if rec:
        lines.append(_reconstruction_line(rec))
    return "\n".join(lines)


def _run(a, argv: list[str]) -> int:
    from ..checkpoints import load_any, weights_sha256
    from ..config import device as pick_device
    from ..evaluation.measure import measure
    from ..evaluation.results import load_average, provenance, write_result
    from ..pipelines.families import FAMILIES, RECONSTRUCTORS, family_of

    refuse_to_overwrite(a.out, a.results_dir, a.overwrite)
    if a.n < 10:
        raise ValueError(f"--n must be at least 10 (the real-vs-real floor needs 10 images); got {a.n}")
    dev = pick_device(a.device)
    model, config = load_any(a.checkpoint, map_location=dev)
    family = family_of(config)
    if family not in FAMILIES and family not in RECONSTRUCTORS:
        known = sorted(set(FAMILIES) | set(RECONSTRUCTORS))
        raise ValueError(f"{a.checkpoint} is a {family!r} checkpoint; this version measures {known}")
    opts = _options(a, family, config)
    prov = provenance(command_line("measure", argv), dev, weights_sha256(a.checkpoint))
    t0 = time.perf_counter()
    res = measure(
        model,
        config,
        dataset=a.dataset,
        n=a.n,
        seed=a.seed,
        batch_size=a.batch_size,
        progress=not a.no_progress,
        cache=a.cache,
        chunk=a.chunk,
        **opts,
    )
    # the provenance's load average is read at the start; the end one shows whether the cores were shared meanwhile
    res.update(checkpoint=a.checkpoint, wall_seconds=round(time.perf_counter() - t0), load_average_end=load_average())
    print(_summary(res))
    print("wrote", write_result(a.out, res, prov, root=a.results_dir, overwrite=a.overwrite))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Measure a checkpoint with the common instruments and write the result file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    return run_guarded(PROG, lambda: _run(a, argv))
