"""``python -m diffusion_course compare-latent --dataset mnist|cifar10``: pixel against latent diffusion.

    python -m diffusion_course compare-latent --dataset mnist --n 1000 --device cpu --out compare_latent_mnist

Measures the dataset's shipped pixel and latent diffusion checkpoints (or ``--pixel``/``--latent``)
in one run with the same instruments: wall time and activation memory of a training step,
FLOPs and wall time per sample (decode included) at DDIM ``--steps`` with guidance ``--w``, and
quality (requested-class accuracy, classifier-FID over the floor, precision, recall) on ``--n``
balanced samples. Writes ``assets/results/<out>/result.json``.
"""

from __future__ import annotations

import argparse
import sys
import time

from .common import Parser, add_result_options, command_line, positive_int, refuse_to_overwrite, run_guarded

PROG = "python -m diffusion_course compare-latent"
SHIPPED = {
    "mnist": ("mnist-ddpm", "mnist-ldm"),
    "cifar10": ("cifar10-ddpm", "cifar10-ldm"),
}


def _parser() -> Parser:
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=sorted(SHIPPED), help="mnist or cifar10")
    p.add_argument("--pixel", help="pixel-space checkpoint (default: the dataset's shipped one)")
    p.add_argument("--latent", help="latent checkpoint (default: the dataset's shipped one)")
    p.add_argument("--n", type=positive_int, default=1000, help="samples per model for quality (default 1000)")
    p.add_argument("--steps", type=positive_int, default=50, help="DDIM steps (default 50)")
    p.add_argument("--w", type=float, default=0.5, help="guidance weight w (default 0.5)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="training-step batch (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: automatic)")
    add_result_options(p, required=True)
    return p


def _run(a, argv: list[str]) -> int:
    from ..checkpoints import load_any, read_manifest, weights_sha256
    from ..config import device as pick_device
    from ..evaluation.compare_latent import compare_latent, ratios
    from ..evaluation.results import provenance, write_result
    from ..pipelines.families import family_of

    refuse_to_overwrite(a.out, a.results_dir, a.overwrite)
    if a.n < 10:
        raise ValueError(f"--n must be at least 10 (the real-vs-real floor needs 10 images); got {a.n}")
    pixel, latent = a.pixel or SHIPPED[a.dataset][0], a.latent or SHIPPED[a.dataset][1]
    dev = pick_device(a.device)
    manifest = read_manifest()
    models = {}
    for role, name, want in (("pixel", pixel, "diffusion"), ("latent", latent, "latent-diffusion")):
        model, config = load_any(name, map_location=dev)
        if family_of(config) != want:
            raise ValueError(f"--{role} {name} is a {family_of(config)!r} checkpoint; expected a {want!r} one")
        config = {**config, "train_minutes": (manifest.get(name) or {}).get("train_minutes")}
        models[name] = (model, config)
    prov = provenance(command_line("compare-latent", argv), dev, weights_sha256(latent))
    t0 = time.perf_counter()
    rows = compare_latent(
        models, a.dataset, n=a.n, options={"steps": a.steps, "w": a.w}, batch_size=a.batch_size, seed=a.seed
    )
    res = {
        "kind": "compare_latent",
        "dataset": a.dataset,
        "pixel": pixel,
        "latent": latent,
        "options": {"sampler": "ddim", "steps": a.steps, "w": a.w},
        "models": rows,
        "latent_vs_pixel": ratios(rows, pixel, latent),
        "wall_seconds": round(time.perf_counter() - t0),
    }
    fid = f"{a.dataset}_classifier_fid"
    for name, r in rows.items():
        q, s, t = r["quality"], r["sample"], r["train_step"]
        print(
            f"{name}: {q['class_accuracy_pct']}% requested class, {fid} {q['fid_over_floor']}x floor, "
            f"{s['ms_per_image']} ms/sample, {s['gflops_per_image']} GFLOP/sample, train step {t['ms_per_step']} ms, "
            f"activations {t['activation_mb']} MB (batch {t['batch_size']})"
        )
    print("latent vs pixel:", res["latent_vs_pixel"])
    print("wrote", write_result(a.out, res, prov, root=a.results_dir, overwrite=a.overwrite))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Compare pixel and latent diffusion checkpoints and write the result file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    return run_guarded(PROG, lambda: _run(a, argv))
