"""Loss curves of the MNIST UNet under each speed option, side by side: do bf16 and channels_last train the same?

    python benchmarks/precision_curves.py --out assets/results          # 400 steps x 32 per variant, ~25 CPU min
    python benchmarks/precision_curves.py --quick                       # 6 steps x 8: a check that it runs

Every variant trains recipe mnist-ddpm's UNet through the unchanged trainer ``train_diffusion``
with the same seed, so the same MNIST batches, timesteps and noise draws, on real MNIST digits
(a fixed ``--n-data`` subset of the training set), for ``--steps`` steps at ``--batch-size``. The
recipe's settings are kept (v-prediction, AdamW, EMA, clipping, cosine decay) with the warm-up
scaled to the shorter run. A variant is ``+``-joined options from ``fp32``, ``bf16`` (autocast,
on the CPU too), ``channels_last`` and ``compile``.

What "within noise" means is measured, not assumed: ``fp32`` is also trained with another seed
(``--noise-seed``), and the gap between the two fp32 runs is the yardstick. For each variant the
table gives the mean loss over the last ``--window`` steps, its gap to fp32, and the ratio of
that gap to the seed-to-seed gap (below 1: closer to fp32 than a different seed is). With
``--out`` the per-step losses go to ``<out>/precision_curves/result.json`` through the results
writer, and the picture (moving averages, one line per variant) to ``curves.png`` beside it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import torch

from diffusion_course.cli.common import Parser, fail, positive_int
from diffusion_course.config import device as pick_device
from diffusion_course.evaluation.results import ResultError, provenance, result_path, write_result
from diffusion_course.tables import format_table
from diffusion_course.training.diffusion import train_diffusion
from diffusion_course.training.recipes import build_recipe
from diffusion_course.training.speed import speed_options

PROG = "python benchmarks/precision_curves.py"
RECIPE = "mnist-ddpm"
OPTIONS = ("fp32", "bf16", "channels_last", "compile")
DEFAULT_VARIANTS = ["fp32", "bf16", "channels_last", "channels_last+bf16"]


def _options(variant: str) -> set[str]:
    opts = set(variant.split("+"))
    unknown = sorted(opts - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} in variant {variant!r}; join options from {OPTIONS} with '+'")
    return opts - {"fp32"}


def mnist_subset(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random subset of ``n`` MNIST training digits, in [-1, 1], with their labels."""
    from diffusion_course.data import mnist

    return mnist(train=True, n=n, generator=torch.Generator().manual_seed(seed))


def train_curve(opts: set[str], data, steps: int, batch_size: int, device: torch.device, seed: int) -> list[float]:
    """The per-step training losses of the recipe's UNet trained ``steps`` steps with the options ``opts``."""
    model, schedule, recipe = build_recipe(RECIPE, seed)
    tr = {**recipe["train"], "steps": steps, "batch_size": batch_size, "warmup": max(1, steps // 10)}
    with speed_options(bf16="bf16" in opts, channels_last="channels_last" in opts, compile="compile" in opts):
        res = train_diffusion(model, data, schedule, device=device, seed=seed, progress=False, **tr)
    return [float(v) for v in res.losses]


def window_mean(losses: list[float], window: int) -> float:
    """The mean of the last ``window`` losses (all of them when there are fewer)."""
    tail = losses[-window:]
    return sum(tail) / len(tail)


def moving_average(values: list[float], k: int) -> list[float]:
    """The trailing moving average over up to ``k`` values (shorter at the start)."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= k:
            acc -= values[i - k]
        out.append(acc / min(i + 1, k))
    return out


def compare(curves: dict[str, list[float]], reference: str, other_seed: str, window: int) -> list[dict]:
    """Per variant: the last-window mean loss, its gap to ``reference``, and that gap over the seed-to-seed gap."""
    ref = window_mean(curves[reference], window)
    noise = abs(window_mean(curves[other_seed], window) - ref)
    rows = []
    for name, losses in curves.items():
        m = window_mean(losses, window)
        gap = abs(m - ref)
        rows.append(
            {
                "variant": name,
                "final_loss": round(m, 5),
                "gap_to_fp32": round(gap, 5),
                "gap_over_seed_gap": round(gap / noise, 2) if noise > 0 else None,
            }
        )
    return rows


def plot_curves(curves: dict[str, list[float]], k: int, path: Path, title: str) -> None:
    """Moving averages of the loss curves, one line per variant, written to ``path``."""
    from matplotlib.figure import Figure  # no pyplot: leaves any caller's backend alone

    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    for i, (name, losses) in enumerate(curves.items()):
        ax.plot(range(1, len(losses) + 1), moving_average(losses, k), ["-", "--", ":", "-."][i % 4], label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"training loss ({k}-step moving average)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _parser() -> Parser:
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help=f"'+'-joined options from {OPTIONS}")
    p.add_argument("--steps", type=positive_int, default=400)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--n-data", type=positive_int, default=10000, help="MNIST training digits used (default 10000)")
    p.add_argument("--window", type=positive_int, default=100, help="last steps averaged for the final loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise-seed", type=int, default=1, help="fp32 trained again with this seed: the yardstick")
    p.add_argument("--quick", action="store_true", help="6 steps x 8 on 64 digits: a check that it runs")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", help="results root: write <out>/precision_curves/result.json and curves.png")
    p.add_argument("--experiment", default="precision_curves")
    p.add_argument("--overwrite", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    try:
        for v in a.variants:
            _options(v)
        a.device = pick_device(a.device)
        if a.seed == a.noise_seed:
            raise ValueError(f"--noise-seed must differ from --seed (both {a.seed}): it measures seed-to-seed noise")
    except ValueError as err:
        return fail(PROG, str(err))
    if a.quick:
        a.steps, a.batch_size, a.n_data, a.window = 6, 8, 64, 3
    if a.out is not None:
        try:
            path = result_path(a.experiment, a.out)
        except ResultError as err:
            return fail(PROG, str(err))
        if path.exists() and not a.overwrite:
            return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        data = mnist_subset(a.n_data, a.seed)
    except (FileNotFoundError, RuntimeError) as err:
        return fail(PROG, str(err).splitlines()[0])
    prov = provenance(f"{PROG} " + shlex.join(argv), a.device)
    reference, other = "fp32", f"fp32 (seed {a.noise_seed})"
    runs = [(v, _options(v), a.seed) for v in dict.fromkeys(["fp32", *a.variants])] + [(other, set(), a.noise_seed)]
    curves: dict[str, list[float]] = {}
    for name, opts, seed in runs:
        curves[name] = train_curve(opts, data, a.steps, a.batch_size, a.device, seed)
        print(f"{name}: last-{a.window} mean loss {window_mean(curves[name], a.window):.5f}", flush=True)
    rows = compare(curves, reference, other, a.window)
    title = (
        f"{RECIPE} UNet, {a.steps} steps x {a.batch_size} on {a.n_data} MNIST digits, {a.device}; "
        f"final loss = mean of the last {a.window} steps"
    )
    print(format_table(rows, title=title))
    if a.out is not None:
        result = {
            "kind": "precision_curves",
            "recipe": RECIPE,
            "steps": a.steps,
            "batch_size": a.batch_size,
            "n_data": a.n_data,
            "window": a.window,
            "reference": reference,
            "seed_reference": other,
            "rows": rows,
            "losses": {k: [round(v, 5) for v in c] for k, c in curves.items()},
        }
        print(write_result(a.experiment, result, prov, root=a.out, overwrite=a.overwrite, csv_rows=rows))
        png = result_path(a.experiment, a.out, name="curves.png")
        plot_curves(curves, max(1, a.window // 4), png, title)
        print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
