"""Re-read cached sample sets against several reference draws: which FID gaps survive another draw of real images?

    python benchmarks/fid_reference_spread.py \
        --cache ddpm1000=runs/cache/mnist_ddpm_ddpm1000_n500 --cache ddim50=runs/cache/mnist_ddpm_ddim50_n500 \
        --cache dpm_solver_pp20=runs/cache/mnist_ddpm_dpm_solver_pp20_n500 --seeds 0 1 2 3 4 --out assets/results

Each ``--cache NAME=DIR`` is a finished ``measure --cache`` folder (every image of the run). Nothing
is sampled again: the images are re-read and measured against ``len(--seeds)`` draws of ``n`` real
test images (:func:`diffusion_course.evaluation.reference_spread.fid_by_reference`), with the
real-vs-real floor of each draw, and every set's gap to the first one is summarised per draw
(:func:`~diffusion_course.evaluation.reference_spread.paired_gap`). The caches must hold the weights
of ``--checkpoint`` (their key's fingerprint is checked). With ``--out`` the table goes through the
results writer to ``<out>/<experiment>/result.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from diffusion_course.checkpoints import load_pretrained, weights_sha256
from diffusion_course.cli.common import Parser
from diffusion_course.evaluation.reference_spread import fid_by_reference, paired_gap
from diffusion_course.evaluation.results import ResultError, provenance, result_path, write_result
from diffusion_course.evaluation.sample_cache import read_cache, weights_fingerprint
from diffusion_course.tables import format_table

PROG = "python benchmarks/fid_reference_spread.py"


def _named_cache(text: str) -> tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR; got {text!r}")
    return name, Path(folder)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=_named_cache, action="append", required=True, metavar="NAME=DIR")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="reference draws (default 0-4)")
    p.add_argument("--checkpoint", default="mnist-ddpm", help="the shipped checkpoint the caches were drawn from")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--out", help="results folder (e.g. assets/results); without it, only print")
    p.add_argument("--experiment", default="mnist_sampler_fid_spread")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")
    a = p.parse_args(argv)
    names = [name for name, _ in a.cache]
    if len(set(names)) != len(names):
        p.error(f"each --cache needs its own NAME; got {names}")
    if len(set(a.seeds)) != len(a.seeds):
        p.error(f"--seeds must be distinct; got {a.seeds}")
    if a.out:
        try:
            out = result_path(a.experiment, a.out)
        except ResultError as err:
            p.error(str(err))
        if out.exists() and not a.overwrite:
            p.error(f"{out} exists; pass --overwrite to replace it")
    try:
        model, _ = load_pretrained(a.checkpoint)
        fingerprint = weights_fingerprint(model)
        samples, keys = {}, {}
        for name, folder in a.cache:
            samples[name], keys[name] = read_cache(folder)
            if keys[name].get("weights") != fingerprint:
                got = keys[name].get("weights")
                p.error(f"{folder} was drawn from other weights ({got}) than {a.checkpoint} ({fingerprint})")
        rows = fid_by_reference(samples, a.seeds, dataset=a.dataset)
    except ValueError as err:
        p.error(str(err))
    first = names[0]
    gaps = [paired_gap(rows, first, other) for other in names[1:]]
    n = next(iter(samples.values())).shape[0]
    title = f"{a.dataset}-classifier FID of n = {n} images against {len(a.seeds)} reference draws"
    print(format_table(rows, title=title))
    for g in gaps:
        print(
            f"{g['a']} - {g['b']}: mean {g['mean']:+.1f} (sd {g['std']}, range {g['min']:+.1f} .. {g['max']:+.1f}); "
            f"{g['a']} lower on {g['a_lower']} of {g['draws']} draws"
        )
    if a.out:
        command = shlex.join(["python", "benchmarks/fid_reference_spread.py", *argv])
        prov = provenance(command, "cpu", weights_sha256(a.checkpoint))
        result = {
            "kind": "reference_spread",
            "checkpoint": a.checkpoint,
            "dataset": a.dataset,
            "n": n,
            "caches": keys,
            "rows": rows,
            "gaps": gaps,
        }
        print("wrote", write_result(a.experiment, result, prov, root=a.out, csv_rows=rows, overwrite=a.overwrite))
    return 0


if __name__ == "__main__":
    sys.exit(main())
