"""Training throughput of the MNIST UNet (recipe mnist-ddpm's model), in images per second, per speed option.

    python benchmarks/train_throughput.py                      # the recipe's batch (512), 2 + 10 steps each
    python benchmarks/train_throughput.py --quick              # batch 32, 1 + 3 steps: a check that it runs
    python benchmarks/train_throughput.py --out assets/results # also write train_throughput/result.json
    python benchmarks/train_throughput.py --variants fp32 2proc 2proc+channels_last --device cpu

Each variant trains the recipe's UNet (same seed, same synthetic MNIST-shaped batches, the
recipe's settings: v-prediction, AdamW, EMA, clipping) through the unchanged trainer
``train_diffusion`` and the shared loop, one after another in this run: ``--warmup`` steps
untimed (first calls, ``torch.compile``'s compilation), then ``--steps`` timed steps; the
throughput is global batch x timed steps / seconds. A variant is ``+``-joined options:

- ``fp32``: today's default (float32, contiguous, eager);
- ``channels_last``, ``bf16`` (autocast, on the CPU too), ``compile`` (``torch.compile``);
- ``2proc``: two processes under torchrun (gloo on the CPU, NCCL on 2 GPUs), each with half the
  threads and half of every global batch; the 1-process variants use all ``--threads``, or one
  with ``1thread`` (which tells the gain of more cores from that of fewer threads per process).

A variant that fails (``torch.compile`` without a working compiler, two processes without two
GPUs) is reported with its error instead of a number. Each row also gives the mean training
loss of the timed steps (the same batches and draws for every variant). In a run this short it
matches fp32 to four decimals whatever the precision, because the UNet's output layer starts at
zero and the learning rate is still warming up: it shows that every variant trains on the same
data, not that bf16 keeps fp32's numerics. ``benchmarks/precision_curves.py`` trains long enough
for that. The numbers are wall-clock: run on idle cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from diffusion_course.cli.common import Parser, fail, positive_int
from diffusion_course.config import device as pick_device
from diffusion_course.evaluation.results import ResultError, provenance, result_path, write_result
from diffusion_course.tables import format_table
from diffusion_course.training.diffusion import train_diffusion
from diffusion_course.training.distributed import is_main, local_device
from diffusion_course.training.loop import Every
from diffusion_course.training.recipes import build_recipe
from diffusion_course.training.speed import speed_options

PROG = "python benchmarks/train_throughput.py"
RECIPE = "mnist-ddpm"
OPTIONS = ("fp32", "channels_last", "bf16", "compile", "2proc", "1thread")
DEFAULT_VARIANTS = ["fp32", "fp32+1thread", "channels_last", "bf16", "channels_last+bf16", "compile", "2proc"]


def _options(variant: str) -> set[str]:
    opts = set(variant.split("+"))
    unknown = sorted(opts - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} in variant {variant!r}; join options from {OPTIONS} with '+'")
    return opts - {"fp32"}


class _At(Every):
    """A loop callback due at the given steps only (so the loop reads back and syncs there alone)."""

    def __init__(self, steps: set[int], fn) -> None:
        super().__init__(0, fn)
        self.steps = steps

    def due(self, step: int) -> bool:
        return step in self.steps


def measure(opts: set[str], batch_size: int, warmup: int, steps: int, device: torch.device, seed: int = 0) -> dict:
    """Train ``warmup + steps`` steps with the options ``opts``; images per second over the last ``steps``."""
    model, schedule, recipe = build_recipe(RECIPE, seed)
    tr = {**recipe["train"], "steps": warmup + steps, "batch_size": batch_size}
    g = torch.Generator().manual_seed(seed)
    n = batch_size * 4
    data = (torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g))
    marks: dict[int, float] = {}
    clock = _At({warmup, warmup + steps}, lambda info: marks.setdefault(info["step"], time.perf_counter()))
    t0 = time.perf_counter()
    with speed_options(bf16="bf16" in opts, channels_last="channels_last" in opts, compile="compile" in opts):
        res = train_diffusion(model, data, schedule, device=device, seed=seed, progress=False, callbacks=[clock], **tr)
    if not is_main():
        return {}
    start = marks.get(warmup, t0)
    seconds = marks[warmup + steps] - start
    timed = res.losses[warmup:]
    return {
        "images_per_s": round(batch_size * steps / seconds, 2),
        "s_per_step": round(seconds / steps, 4),
        "warmup_s": round(start - t0, 1),
        "loss": round(sum(timed) / len(timed), 4),
        "losses": [round(v, 5) for v in res.losses],
    }


def _two_processes(opts: set[str], a, threads: int) -> dict:
    """The same measurement under ``torchrun --nproc_per_node 2``; rank 0's numbers come back in a file."""
    if a.device.type == "cuda" and torch.cuda.device_count() < 2:
        raise ValueError(f"2 processes on CUDA need 2 GPUs; this machine has {torch.cuda.device_count()}")
    variant = "+".join(sorted(opts - {"2proc", "1thread"})) or "fp32"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__]
        cmd += ["--worker", str(out), "--variants", variant, "--batch-size", str(a.batch_size)]
        cmd += ["--warmup", str(a.warmup), "--steps", str(a.steps), "--device", str(a.device.type)]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // 2))}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            tail = [line for line in (proc.stderr + proc.stdout).splitlines() if "Error" in line or "error" in line]
            raise RuntimeError(tail[-1] if tail else f"torchrun exited with status {proc.returncode}")
        return json.loads(out.read_text())


def _worker(a) -> int:
    """One process under torchrun: measure, and rank 0 writes its numbers to ``--worker``."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    row = measure(_options(a.variants[0]), a.batch_size, a.warmup, a.steps, local_device(a.device))
    if is_main():
        Path(a.worker).write_text(json.dumps(row))
    return 0


def _parser() -> Parser:
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help=f"'+'-joined options from {OPTIONS}")
    p.add_argument("--batch-size", type=positive_int, help="global batch (default: the recipe's, 512)")
    p.add_argument("--warmup", type=positive_int, default=2, help="untimed steps first (compilation happens there)")
    p.add_argument("--steps", type=positive_int, default=10, help="timed steps")
    p.add_argument("--quick", action="store_true", help="batch 32, 1 warm-up and 3 timed steps")
    p.add_argument("--threads", type=positive_int, default=os.cpu_count(), help="CPU threads in all (default: all)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--out", help="results root: write <out>/<experiment>/result.json (e.g. assets/results)")
    p.add_argument("--experiment", default="train_throughput")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one process under torchrun
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = _parser().parse_args(argv)
    try:
        for v in a.variants:
            _options(v)
        a.device = pick_device(a.device)
    except ValueError as err:
        return fail(PROG, str(err))
    if a.quick:
        a.batch_size, a.warmup, a.steps = a.batch_size or 32, 1, 3
    a.batch_size = a.batch_size or build_recipe(RECIPE)[2]["train"]["batch_size"]
    if a.worker:
        return _worker(a)
    if a.out is not None:
        try:
            path = result_path(a.experiment, a.out)
        except ResultError as err:
            return fail(PROG, str(err))
        if path.exists() and not a.overwrite:
            return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    torch.set_num_threads(a.threads)
    prov = provenance(f"{PROG} " + shlex.join(argv), a.device)
    rows = []
    for variant in a.variants:
        opts = _options(variant)
        threads = 1 if "1thread" in opts else a.threads
        row = {"variant": variant, "processes": 2 if "2proc" in opts else 1}
        row["threads_per_process"] = max(1, threads // 2) if "2proc" in opts else threads
        try:
            if "2proc" in opts:
                row.update(_two_processes(opts, a, threads))
            else:
                torch.set_num_threads(threads)
                row.update(measure(opts, a.batch_size, a.warmup, a.steps, a.device))
        except Exception as err:  # a variant that cannot run here is reported, not hidden
            row["error"] = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        finally:
            torch.set_num_threads(a.threads)
        rows.append(row)
        print({k: v for k, v in row.items() if k != "losses"}, flush=True)
    base = next((r.get("images_per_s") for r in rows if r["variant"] == "fp32"), None)
    for r in rows:
        if base and "images_per_s" in r:
            r["speedup_vs_fp32"] = round(r["images_per_s"] / base, 2)
    hw = prov["hardware"]
    where = f"{hw.get('gpu') or hw.get('processor')} ({a.device}, {hw.get('cpu_count')} CPUs)"
    where += f", load average {prov['load_average']} before the run"
    title = f"{RECIPE} UNet training throughput, global batch {a.batch_size}, on {where}"
    print(format_table([{k: v for k, v in r.items() if k != "losses"} for r in rows], title=title))
    if a.out is not None:
        result = {
            "kind": "train_throughput",
            "recipe": RECIPE,
            "batch_size": a.batch_size,
            "warmup_steps": a.warmup,
            "timed_steps": a.steps,
            "threads": a.threads,
            "rows": rows,
        }
        print(write_result(a.experiment, result, prov, root=a.out, overwrite=a.overwrite, csv_rows=rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
