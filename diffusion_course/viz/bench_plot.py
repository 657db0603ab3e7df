"""The sampler benchmark's picture: sample quality against model evaluations and wall time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["LINEAR_Y", "plot_results"]

LINEAR_Y = ("log_likelihood", "class_accuracy_pct")  # plotted on a linear y axis


def plot_results(result: dict, metrics: Sequence[str], path: str | Path) -> None:
    """Quality vs NFE and vs wall time per sample (log x), one line per sampler, floor dashed."""
    from matplotlib.figure import (
        Figure,
    )  # no pyplot: leaves the caller's backend (e.g. a notebook's) alone

    rows = result["rows"]
    fig = Figure(figsize=(11, 3.3 * len(metrics)))
    axes = fig.subplots(len(metrics), 2, squeeze=False)
    for i, m in enumerate(metrics):
        for j, xkey in enumerate(("nfe", "ms_per_sample")):
            ax = axes[i, j]
            for k, name in enumerate(dict.fromkeys(r["sampler"] for r in rows)):  # styles: overlaps stay visible
                rs = sorted((r for r in rows if r["sampler"] == name), key=lambda r: r["nfe"])
                ax.plot(
                    [r[xkey] for r in rs],
                    [r[m] for r in rs],
                    "os^vDx"[k % 6] + ["-", "--", ":"][k % 3],
                    ms=4,
                    mfc="none",
                    label=name,
                )
            if m in result["floor_spread"]:
                ax.axhspan(*result["floor_spread"][m], color="gray", alpha=0.2, lw=0)
                ax.axhline(
                    result["floor"][m],
                    color="gray",
                    ls="--",
                    lw=1,
                    label=f"real data (floor; band: {len(result['floor_seeds'])} draws)",
                )
            ax.set_xscale("log")
            if m not in LINEAR_Y and all(r[m] > 0 for r in rows):  # distances span decades
                ax.set_yscale("log")
            elif m not in LINEAR_Y and m in result["floor_spread"]:  # zeros; the unbiased MMD^2 dips below 0
                lin = max(abs(v) for v in result["floor_spread"][m]) or 1e-6
                ax.set_yscale("symlog", linthresh=lin)
                ax.set_ylim(bottom=1.2 * min(0.0, result["floor_spread"][m][0], *(r[m] for r in rows)))
            ax.set_xlabel(
                {
                    "nfe": "model evaluations per sample (NFE)",
                    "ms_per_sample": f"wall time per sample, ms ({result['hardware']['device']})",
                }[xkey]
            )
            ax.set_ylabel(m)
            ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=7)
    load = result.get("load_average")
    fig.suptitle(
        f"bench {result['model']}: n={result['n']} per point, {result['date'][:10]}, "
        f"torch threads {result['hardware']['torch_threads']}, load average {load[0] if load else '?'}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
