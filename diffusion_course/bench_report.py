"""Writing the sampler benchmark's results: CSV, JSON, the quality-vs-cost plot, the hardware record.

Used by :mod:`diffusion_course.bench`; ``result`` is the dict that ``bench.main`` builds (command,
hardware, date, ``rows``, ``floor``, ``floor_spread``...), stored as JSON unchanged.
"""
from __future__ import annotations

import csv
import json
import os
import platform
from pathlib import Path
from typing import Sequence

import torch

__all__ = ["hardware", "load_average", "output_paths", "write_results", "plot_results", "LINEAR_Y"]

LINEAR_Y = ("log_likelihood", "class_accuracy_pct")  # plotted on a linear y axis


def load_average() -> list[float] | None:
    """``os.getloadavg()`` (1, 5, 15 minutes), rounded; None where the OS has none."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def hardware(device: torch.device | str = "cpu") -> dict:
    """Where the numbers were measured: CPU, threads, GPU, load average."""
    device = torch.device(device)
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    names = [ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")]
    cpu = platform.processor() or (names[0] if names else "")
    return {"machine": platform.machine(), "processor": cpu, "system": platform.system(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "load_average_1_5_15min": load_average()}


def output_paths(out_dir: str | Path, model: str, overwrite: bool = False) -> dict[str, Path]:
    """``{csv, json, png}`` paths of ``bench_<model>``; FileExistsError if one exists and not ``overwrite``."""
    paths = {ext: Path(out_dir) / f"bench_{model}.{ext}" for ext in ("csv", "json", "png")}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"results exist ({', '.join(existing)}); pass --overwrite to replace them")
    return paths


def write_results(paths: dict[str, Path], result: dict, plot_metrics: Sequence[str]) -> None:
    """CSV (one row per sampler and step count, plus the floor), JSON (everything) and the plot."""
    paths["csv"].parent.mkdir(parents=True, exist_ok=True)
    spread = result["floor_spread"]
    rows = result["rows"] + [{"sampler": "floor", **result["floor"]},
                             {"sampler": "floor_min", **{k: v[0] for k, v in spread.items()}},
                             {"sampler": "floor_max", **{k: v[1] for k, v in spread.items()}}]
    cols = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, (list, dict))))
    with open(paths["csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    paths["json"].write_text(json.dumps(result, indent=1) + "\n")
    plot_results(result, plot_metrics, paths["png"])


def plot_results(result: dict, metrics: Sequence[str], path: str | Path) -> None:
    """Quality vs NFE and vs wall time per sample (log x), one line per sampler, floor dashed."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend (e.g. a notebook's) alone
    rows = result["rows"]
    fig = Figure(figsize=(11, 3.3 * len(metrics)))
    axes = fig.subplots(len(metrics), 2, squeeze=False)
    for i, m in enumerate(metrics):
        for j, xkey in enumerate(("nfe", "ms_per_sample")):
            ax = axes[i, j]
            for k, name in enumerate(dict.fromkeys(r["sampler"] for r in rows)):  # styles: overlaps stay visible
                rs = sorted((r for r in rows if r["sampler"] == name), key=lambda r: r["nfe"])
                ax.plot([r[xkey] for r in rs], [r[m] for r in rs], "os^vDx"[k % 6] + ["-", "--", ":"][k % 3],
                        ms=4, mfc="none", label=name)
            if m in result["floor_spread"]:
                ax.axhspan(*result["floor_spread"][m], color="gray", alpha=0.2, lw=0)
                ax.axhline(result["floor"][m], color="gray", ls="--", lw=1,
                           label=f"real data (floor; band: {len(result['floor_seeds'])} draws)")
            ax.set_xscale("log")
            if m not in LINEAR_Y and all(r[m] > 0 for r in rows):  # distances span decades
                ax.set_yscale("log")
            elif m not in LINEAR_Y and m in result["floor_spread"]:  # zeros; the unbiased MMD^2 dips below 0
                lin = max(abs(v) for v in result["floor_spread"][m]) or 1e-6
                ax.set_yscale("symlog", linthresh=lin)
                ax.set_ylim(bottom=1.2 * min(0.0, result["floor_spread"][m][0], *(r[m] for r in rows)))
            ax.set_xlabel({"nfe": "model evaluations per sample (NFE)",
                           "ms_per_sample": f"wall time per sample, ms ({result['hardware']['device']})"}[xkey])
            ax.set_ylabel(m)
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=7)
    load = result["hardware"]["load_average_1_5_15min"]
    fig.suptitle(f"bench {result['model']}: n={result['n']} per point, {result['date'][:10]}, "
                 f"torch threads {result['hardware']['torch_threads']}, load average {load[0] if load else '?'}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
