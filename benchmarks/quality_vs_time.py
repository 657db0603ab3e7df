"""Quality against training time: snapshots of a pixel and a latent model trained for the same wall clock.

    python benchmarks/quality_vs_time.py --dataset cifar10 \
        --pixel 10=runs/cifar10-ddpm/snap_10min.pt 20=runs/cifar10-ddpm/snap_20min.pt \
                30=runs/cifar10-ddpm/snap_30min.pt \
        --latent 10=runs/cifar10-ldm/snap_10min.pt 20=runs/cifar10-ldm/snap_20min.pt \
                 30=runs/cifar10-ldm/snap_30min.pt \
        --n 200 --out quality_vs_time_cifar10

The snapshots come from training each recipe in segments of ``--max-minutes 10`` with exact
resume in between, copying the checkpoint after each segment (one CPU thread per run):

    python -m diffusion_course train cifar10-ldm --device cpu --max-minutes 10 --out F   # then, twice:
    python -m diffusion_course train cifar10-ldm --device cpu --max-minutes 10 --out F --resume

Each snapshot is measured with the common instruments (``evaluation.measure``: DDIM-50, guidance
w = 0.5, ``--n`` balanced samples): requested-class accuracy, classifier-FID over the floor at the
same n, recall. One result file through the results writer.
"""

from __future__ import annotations

import shlex
import sys

from diffusion_course.cli.common import Parser, fail, positive_int, run_guarded

PROG = "python benchmarks/quality_vs_time.py"


def _pairs(items: list[str], flag: str) -> list[tuple[float, str]]:
    out = []
    for item in items:
        minutes, sep, path = item.partition("=")
        try:
            value = float(minutes)
        except ValueError:
            value = -1.0
        if not sep or not path or value <= 0:
            raise ValueError(f"{flag} takes MINUTES=CHECKPOINT pairs with MINUTES > 0; got {item!r}")
        out.append((value, path))
    return out


def _run(a, argv: list[str]) -> int:
    import torch

    from diffusion_course.checkpoints import load_any, weights_sha256
    from diffusion_course.evaluation.measure import measure
    from diffusion_course.evaluation.results import provenance, result_path, write_result
    from diffusion_course.tables import format_table

    path = result_path(a.out, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    runs = [("pixel", m, p) for m, p in _pairs(a.pixel, "--pixel")] + [
        ("latent", m, p) for m, p in _pairs(a.latent, "--latent")
    ]
    prov = provenance(f"{PROG} " + shlex.join(argv), "cpu")
    rows = []
    for kind, minutes, ckpt in runs:
        model, config = load_any(ckpt)
        r = measure(model.eval(), config, dataset=a.dataset, n=a.n, sampler="ddim", steps=50, w=0.5, batch_size=100)
        fid = f"{a.dataset}_classifier_fid"
        rows.append(
            {
                "model": kind,
                "train_minutes": minutes,
                "train_steps": config.get("steps"),
                "class_accuracy_pct": r["class_accuracy_pct"],
                fid: r[fid],
                "fid_over_floor": r["fid_over_floor"],
                "recall_pct": r["recall_pct"],
                "precision_pct": r["precision_pct"],
                "checkpoint": ckpt,
                "weights_sha256": weights_sha256(ckpt),
            }
        )
        print(rows[-1], flush=True)
    cols = ["model", "train_minutes", "train_steps", "class_accuracy_pct", "fid_over_floor", "recall_pct"]
    print(format_table([{k: r[k] for k in cols} for r in rows], title=f"{a.dataset}: quality against training time"))
    result = {
        "kind": "quality_vs_time",
        "dataset": a.dataset,
        "n": a.n,
        "sampler": "ddim",
        "steps": 50,
        "w": 0.5,
        "rows": rows,
        "torch_threads": torch.get_num_threads(),
    }
    print(write_result(a.out, result, prov, root=a.results_dir, overwrite=a.overwrite, csv_rows=rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--dataset", required=True, choices=["mnist", "cifar10"])
    p.add_argument("--pixel", nargs="+", required=True, metavar="MINUTES=CHECKPOINT")
    p.add_argument("--latent", nargs="+", required=True, metavar="MINUTES=CHECKPOINT")
    p.add_argument("--n", type=positive_int, default=200)
    p.add_argument("--out", required=True)
    p.add_argument("--results-dir", default=None)
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    return run_guarded(PROG, lambda: _run(a, argv))


if __name__ == "__main__":
    sys.exit(main())
