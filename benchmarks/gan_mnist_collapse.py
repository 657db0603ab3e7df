"""Mode collapse on MNIST: an unconditional GAN's class coverage and recall over training, across seeds.

    python benchmarks/gan_mnist_collapse.py --seeds 0 1 2 --steps 2000 --every 250 --width 32 --n 500

Trains the ``mnist-gan`` recipe's networks without labels, once per seed, logging every
``--every`` steps the classes covered, the class histogram, recall and precision of ``--n``
samples (``evaluation.gan_collapse``). The shipped diffusion model's unconditional samples (null
label, DDIM-50) are measured the same way as the reference. One result file through the results
writer, with each seed's final samples saved as a PNG grid beside it.
"""

from __future__ import annotations

import shlex
import sys

import torch

from diffusion_course.cli.common import Parser, fail, positive_int, run_guarded

PROG = "python benchmarks/gan_mnist_collapse.py"


def _run(a, argv: list[str]) -> int:
    from torchvision.utils import save_image

    from diffusion_course import data
    from diffusion_course.checkpoints import load_pretrained, weights_sha256
    from diffusion_course.evaluation.gan_collapse import collapse_run, coverage_row
    from diffusion_course.evaluation.results import provenance, result_path, write_result
    from diffusion_course.pipelines import generate
    from diffusion_course.tables import format_table

    path = result_path(a.out, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    if a.every > a.steps:
        return fail(PROG, f"--every ({a.every}) must be at most --steps ({a.steps})")
    prov = provenance(f"{PROG} " + shlex.join(argv), "cpu")
    x, _ = data.mnist(train=True)
    runs = []
    for seed in a.seeds:
        run = collapse_run(x, seed, a.steps, a.every, n=a.n, width=a.width, progress=not a.no_progress)
        grid = run.pop("grid")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid * 0.5 + 0.5, path.parent / f"gan_seed{seed}.png", nrow=8)
        runs.append(run)
        print(
            format_table(
                [{k: v for k, v in r.items() if k != "class_histogram_pct"} for r in run["rows"]],
                title=f"unconditional GAN, seed {seed}",
            ),
            flush=True,
        )
    model, config = load_pretrained("mnist-ddpm")
    images = generate(model, config, None, a.n, sampler="ddim", steps=50, seed=0, progress=False)
    reference = {
        "model": "mnist-ddpm",
        "sampler": "ddim",
        "steps": 50,
        "labels": "null (unconditional)",
        "weights_sha256": weights_sha256("mnist-ddpm"),
        **coverage_row(images),
    }
    print("diffusion reference:", {k: v for k, v in reference.items() if k != "class_histogram_pct"})
    result = {
        "kind": "gan_mnist_collapse",
        "steps": a.steps,
        "every": a.every,
        "n": a.n,
        "width": a.width,
        "runs": runs,
        "final": [{"seed": r["seed"], **r["rows"][-1]} for r in runs],
        "diffusion_reference": reference,
        "torch_threads": torch.get_num_threads(),
    }
    rows = [
        {"seed": r["seed"], **{k: v for k, v in row.items() if k != "class_histogram_pct"}}
        for r in runs
        for row in r["rows"]
    ]
    print(write_result(a.out, result, prov, root=a.results_dir, overwrite=a.overwrite, csv_rows=rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=positive_int, default=2000)
    p.add_argument("--every", type=positive_int, default=250)
    p.add_argument("--width", type=positive_int, default=32, help="both networks' width (the shipped GAN: 64)")
    p.add_argument("--n", type=positive_int, default=500, help="samples per check")
    p.add_argument("--out", default="gan_mnist_collapse")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    return run_guarded(PROG, lambda: _run(a, argv))


if __name__ == "__main__":
    sys.exit(main())
