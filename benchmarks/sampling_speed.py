"""Milliseconds per image of every shipped generator of a dataset, side by side in one run.

    python benchmarks/sampling_speed.py --dataset mnist --n 200 --batch-size 100 --out sampling_speed_mnist

The GAN and the VAE draw an image with one network pass; pixel diffusion is timed with DDPM-1000,
DDIM-50 and DPM-Solver++-20 (guidance w = 0.5, so each step is a doubled batch), latent diffusion
with DDIM-50 plus its decoder. Every entry gets the same balanced labels, the same batch size and
one warm-up batch, one after another in this process (``evaluation.speed``); the rows are the arena's
(``evaluation.arena.ROSTER``). A shipped checkpoint
that is not in the manifest yet is skipped and listed as missing. One result file through the
results writer.
"""

from __future__ import annotations

import shlex
import sys

import torch

from diffusion_course.cli.common import Parser, fail, positive_int, run_guarded

PROG = "python benchmarks/sampling_speed.py"


def _run(a, argv: list[str]) -> int:
    from diffusion_course.checkpoints import load_any, read_manifest, weights_sha256
    from diffusion_course.evaluation.arena import GUIDANCE_W, ROSTER
    from diffusion_course.evaluation.results import provenance, result_path, write_result
    from diffusion_course.evaluation.speed import SpeedEntry, speed_table
    from diffusion_course.tables import format_table

    path = result_path(a.out, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    manifest = read_manifest()
    entries, missing, loaded = [], [], {}
    for row, name, options in ROSTER[a.dataset]:
        if a.only and not any(word.lower() in row.lower() for word in a.only):
            continue
        if name not in manifest:
            missing.append(name)
            continue
        if name not in loaded:
            loaded[name] = load_any(name, map_location=a.device)
        model, config = loaded[name]
        entries.append(SpeedEntry(row, model.eval(), config, options))
    if not entries:
        return fail(PROG, f"no shipped {a.dataset} generator is in the manifest (or matches --only)")
    prov = provenance(f"{PROG} " + shlex.join(argv), a.device)
    rows = speed_table(entries, a.n, a.batch_size, a.seed, printer=lambda r: print(r, flush=True))
    for r, e in zip(rows, entries, strict=True):
        name = next(m for row, m, _ in ROSTER[a.dataset] if row == e.name)
        r.update(checkpoint=name, weights_sha256=weights_sha256(name))
    cols = ["name", "ms_per_image", "network_evaluations_per_image", "times_faster_than_slowest"]
    print(format_table([{k: r[k] for k in cols} for r in rows], title=f"{a.dataset}: ms per image, one run"))
    result = {
        "kind": "sampling_speed",
        "dataset": a.dataset,
        "n": a.n,
        "batch_size": a.batch_size,
        "guidance_w": GUIDANCE_W,
        "rows": rows,
        "missing_checkpoints": sorted(set(missing)),
        "torch_threads": torch.get_num_threads(),
    }
    print(write_result(a.out, result, prov, root=a.results_dir, overwrite=a.overwrite, csv_rows=rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--dataset", required=True, choices=["mnist", "cifar10"])
    p.add_argument("--n", type=positive_int, default=200, help="images per entry (default 200)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="the same batch for every entry")
    p.add_argument("--only", nargs="+", help="time only the rows whose name contains one of these words")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="experiment name: writes assets/results/<out>/result.json")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    return run_guarded(PROG, lambda: _run(a, argv))


if __name__ == "__main__":
    sys.exit(main())
