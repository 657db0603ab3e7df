"""``python -m diffusion_course evaluate CHECKPOINT``: the guidance sweep, measured and written as a result.

    python -m diffusion_course evaluate mnist-ddpm --sampler ddim --steps 50 --n 1000 --w 0 0.5 1 2 4 \\
        --out mnist_guidance

Guidance follows Ho & Salimans (2022): ``eps = (1 + w) eps_cond - w eps_uncond``; ``w = 0`` is
the plain conditional model. ``--out`` names the experiment folder under ``assets/results``
(or ``--results-dir``).
"""

from __future__ import annotations

import argparse
import sys
import time

from .common import Parser, add_result_options, command_line, positive_int, refuse_to_overwrite, run_guarded

PROG = "python -m diffusion_course evaluate"


def _parser() -> Parser:
    from ..samplers.registry import SAMPLERS

    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="manifest name (e.g. mnist-ddpm) or a .pt path")
    p.add_argument("--sampler", default="ddim", choices=sorted(SAMPLERS))
    p.add_argument("--steps", type=positive_int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: automatic)")
    p.add_argument("--n", type=positive_int, default=1000, help="samples per guidance weight")
    p.add_argument("--w", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0], help="guidance weights w")
    add_result_options(p, required=False)
    p.add_argument("--no-progress", action="store_true")
    return p


def _run(a, argv: list[str]) -> int:
    from ..checkpoints import load_any, weights_sha256
    from ..config import device as pick_device
    from ..evaluation.guidance import guidance_sweep
    from ..evaluation.results import provenance, write_result
    from ..tables import format_table

    refuse_to_overwrite(a.out, a.results_dir, a.overwrite)
    dev = pick_device(a.device)
    model, config = load_any(a.checkpoint, map_location=dev)
    prov = provenance(command_line("evaluate", argv), dev, weights_sha256(a.checkpoint))
    t0 = time.perf_counter()
    res = guidance_sweep(model, config, a.w, a.n, a.sampler, a.steps, a.seed, progress=not a.no_progress)
    res.update(checkpoint=a.checkpoint, wall_seconds=round(time.perf_counter() - t0))
    fid = next(k for k in res["floor"] if k.endswith("_classifier_fid"))
    print(
        format_table(
            res["rows"],
            title=f"{a.checkpoint}: {a.sampler} {a.steps} steps, n={a.n} per row; "
            f"real-vs-real floor FID {res['floor'][fid]}",
        )
    )
    print("unconditional (null label):", res["unconditional"])
    if a.out:
        print("wrote", write_result(a.out, res, prov, root=a.results_dir, overwrite=a.overwrite))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The guidance sweep as a table, and as a result file with ``--out``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    return run_guarded(PROG, lambda: _run(a, argv))
