"""``python -m diffusion_course arena --dataset mnist|cifar10``: every model family, the same instruments.

    python -m diffusion_course arena --dataset mnist --n 1000 --n-slow 200 --device cpu --out arena_mnist

Measures each shipped model of the dataset (``evaluation.arena.ROSTER``: pixel diffusion with
DDPM-1000, DDIM-50 and DPM-Solver++-20, latent diffusion, the GAN, the VAE) in one run on one
machine: quality (requested class, classifier-FID over the floor, precision), diversity (recall,
class-share deviation) and speed (ms per image, network evaluations per image) on ``--n``
balanced samples (``--n-slow`` for DDPM-1000). A checkpoint that is not shipped yet is listed as
missing. Writes ``assets/results/<out>/result.json``.
"""

from __future__ import annotations

import argparse
import sys
import time

from .common import Parser, add_result_options, command_line, positive_int, refuse_to_overwrite, run_guarded

PROG = "python -m diffusion_course arena"


def _parser() -> Parser:
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=["mnist", "cifar10"])
    p.add_argument("--n", type=positive_int, default=1000, help="samples per row (default 1000)")
    p.add_argument("--n-slow", type=positive_int, default=200, help="samples for DDPM-1000 (default 200)")
    p.add_argument("--only", nargs="+", help="measure only the rows whose name contains one of these words")
    p.add_argument(
        "--replace-rows",
        action="store_true",
        help="with --only: measure those rows again and replace them in the existing --out result, keeping its "
        "other rows (each replaced row records the command, date and load of its own run)",
    )
    p.add_argument("--batch-size", type=positive_int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: automatic)")
    add_result_options(p, required=True)
    return p


def _run(a, argv: list[str]) -> int:
    from ..checkpoints import load_pretrained, read_manifest, weights_sha256
    from ..config import device as pick_device
    from ..evaluation.arena import arena
    from ..evaluation.results import provenance, write_result
    from ..tables import format_table

    old = _result_to_update(a) if a.replace_rows else None
    if old is None:
        refuse_to_overwrite(a.out, a.results_dir, a.overwrite)
    if a.n < 10 or a.n_slow < 10:
        raise ValueError(f"--n and --n-slow must be at least 10 (the floor needs 10 images); got {a.n}, {a.n_slow}")
    dev = pick_device(a.device)
    manifest = read_manifest()

    def load(name: str):
        return load_pretrained(name, map_location=dev) if name in manifest else None

    prov = provenance(command_line("arena", argv), dev)
    t0 = time.perf_counter()
    rows, missing = arena(
        a.dataset, load, a.n, a.n_slow, seed=a.seed, batch_size=a.batch_size, only=a.only, printer=print
    )
    if not rows:
        raise ValueError(f"no shipped {a.dataset} model to measure (missing: {', '.join(missing) or 'none'})")
    for r in rows:
        r["weights_sha256"] = weights_sha256(r["checkpoint"])
    cols = [
        "name",
        "fid_over_floor",
        "class_accuracy_pct",
        "recall_pct",
        "ms_per_image",
        "network_evaluations_per_image",
    ]
    print(format_table([{k: r[k] for k in cols} for r in rows], title=f"arena, {a.dataset}"))
    if missing:
        print("not shipped yet:", ", ".join(missing))
    res = {
        "kind": "arena",
        "dataset": a.dataset,
        "n": a.n,
        "n_slow": a.n_slow,
        "rows": rows,
        "missing_checkpoints": missing,
        "wall_seconds": round(time.perf_counter() - t0),
    }
    if old is not None:
        res, prov = merge_rows(old, res, prov)
    out = write_result(
        a.out, res, prov, root=a.results_dir, overwrite=a.overwrite or old is not None, csv_rows=res["rows"]
    )
    print("wrote", out)
    return 0


def _result_to_update(a) -> dict:
    """The existing result that ``--replace-rows`` updates, checked to be an arena run with the same settings."""
    from ..evaluation.results import read_result

    if not a.only:
        raise ValueError("--replace-rows needs --only: the words naming the rows to measure again")
    old = read_result(a.out, a.results_dir)
    have = (old.get("kind"), old.get("dataset"), old.get("n"), old.get("n_slow"))
    if have != ("arena", a.dataset, a.n, a.n_slow):
        raise ValueError(
            f"{a.out} is not an arena run with these settings (kind, dataset, n, n_slow = {have}; this run's "
            f"{('arena', a.dataset, a.n, a.n_slow)}); its rows would not be comparable"
        )
    return old


def merge_rows(old: dict, new: dict, prov: dict) -> tuple[dict, dict]:
    """An arena result with ``new``'s rows in place of ``old``'s of the same name, and ``old``'s provenance.

    Each replaced row, and the file's ``row_updates`` list, records the command, commit, date, hardware
    and load of the run that measured it again: its times were taken there, not in the first run.
    """
    from ..evaluation.results import PROVENANCE_FIELDS

    stamp = {k: prov[k] for k in ("command", "git_commit", "date", "hardware", "load_average")}
    fresh = {r["name"]: {**r, "remeasured": stamp} for r in new["rows"]}
    rows = [fresh.pop(r["name"], r) for r in old["rows"]] + list(fresh.values())
    kept = {k: v for k, v in old.items() if k not in PROVENANCE_FIELDS}
    updates = kept.get("row_updates", []) + [{**stamp, "rows": [r["name"] for r in new["rows"]]}]
    return {**kept, "rows": rows, "row_updates": updates}, {k: old[k] for k in PROVENANCE_FIELDS}


def main(argv: list[str] | None = None) -> int:
    """Measure every shipped model family of a dataset and write the result file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    return run_guarded(PROG, lambda: _run(a, argv))
