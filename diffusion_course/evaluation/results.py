"""The results writer: one schema for every measured number the course commits.

A result lives in ``assets/results/<experiment>/result.json`` (with ``result.csv`` and
``result.png`` beside it when the experiment has a table or a plot). Every file carries the same
provenance fields, written here and nowhere else:

    command          the exact command line that produced it
    git_commit       the commit of the code that measured it ("+dirty" when the tree had changes)
    date             ISO date and time
    hardware         {"machine", "processor", "system", "cpu_count", "torch_threads", "device", "gpu"}
    load_average     os.getloadavg() at the start (1, 5, 15 minutes), to judge wall times
    torch            torch.__version__
    device           where the tensors ran
    weights_sha256   sha256 of the weights measured (None for an exact oracle or data alone)

The README's table of measured numbers is generated from these files
(``python -m diffusion_course report``), so no number is copied by hand.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from ..config import ASSETS_DIR, REPO_ROOT

__all__ = [
    "PROVENANCE_FIELDS",
    "RESULTS_DIR",
    "ResultError",
    "hardware",
    "load_average",
    "git_commit",
    "provenance",
    "result_path",
    "write_result",
    "read_result",
    "list_results",
    "weights_provenance",
]

RESULTS_DIR = ASSETS_DIR / "results"
PROVENANCE_FIELDS = (
    "command",
    "git_commit",
    "date",
    "hardware",
    "load_average",
    "torch",
    "device",
    "weights_sha256",
)
HARDWARE_FIELDS = ("machine", "processor", "system", "cpu_count", "torch_threads", "device", "gpu")


class ResultError(ValueError):
    """A results file is missing, unreadable, lacks provenance fields, or would be overwritten."""


def load_average() -> list[float] | None:
    """``os.getloadavg()`` (1, 5, 15 minutes), rounded; None where the OS has none."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def hardware(device: torch.device | str = "cpu") -> dict:
    """Where the numbers were measured: CPU, threads, device and GPU name (one shape for every file)."""
    device = torch.device(device)
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    names = [ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")]
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or (names[0] if names else ""),
        "system": platform.system(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def git_commit(repo: Path = REPO_ROOT) -> str | None:
    """``git rev-parse HEAD`` of the checkout, with ``+dirty`` when tracked files have changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def provenance(command: str, device: torch.device | str = "cpu", weights_sha256: str | None = None) -> dict:
    """The provenance fields of a result measured now, by ``command``, on ``device``."""
    return {
        "command": command,
        "git_commit": git_commit(),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "hardware": hardware(device),
        "load_average": load_average(),
        "torch": torch.__version__,
        "device": str(torch.device(device)),
        "weights_sha256": weights_sha256,
    }


def result_path(experiment: str, root: str | Path | None = None, name: str = "result.json") -> Path:
    """``<root>/<experiment>/<name>`` with ``root`` defaulting to ``assets/results``."""
    if not experiment or "/" in experiment or experiment.startswith("."):
        raise ResultError(f"experiment must be a plain folder name; got {experiment!r}")
    return Path(root or RESULTS_DIR) / experiment / name


def _csv_rows(rows: list[dict], path: Path) -> None:
    cols = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, (list, dict))))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def write_result(
    experiment: str,
    result: dict,
    prov: dict,
    *,
    root: str | Path | None = None,
    csv_rows: list[dict] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``result`` with the provenance ``prov`` to ``<root>/<experiment>/result.json``.

    ``prov`` comes from :func:`provenance` and must hold every field of :data:`PROVENANCE_FIELDS`.
    ``csv_rows`` also go to ``result.csv``. Refuses to replace an existing file unless
    ``overwrite``. Returns the JSON path.
    """
    missing = [k for k in PROVENANCE_FIELDS if k not in prov]
    if missing:
        raise ResultError(f"provenance lacks {missing}; build it with results.provenance(...)")
    clash = sorted(set(result) & set(PROVENANCE_FIELDS))
    if clash:
        raise ResultError(f"result fields {clash} are provenance fields; pass them in prov")
    path = result_path(experiment, root)
    if path.exists() and not overwrite:
        raise ResultError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({**{k: prov[k] for k in PROVENANCE_FIELDS}, **result}, indent=1) + "\n")
    os.replace(tmp, path)
    if csv_rows is not None:
        _csv_rows(csv_rows, path.with_suffix(".csv"))
    return path


def read_result(experiment: str, root: str | Path | None = None) -> dict:
    """Read ``<root>/<experiment>/result.json`` and check that it carries every provenance field."""
    path = result_path(experiment, root)
    if not path.exists():
        raise ResultError(f"no result at {path}; the README's table lists the command that makes it")
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ResultError(f"{path} is not valid JSON: {err}") from err
    missing = [k for k in PROVENANCE_FIELDS if k not in result]
    if missing:
        raise ResultError(f"{path} lacks the provenance fields {missing}")
    hw_missing = [k for k in HARDWARE_FIELDS if k not in (result["hardware"] or {})]
    if hw_missing:
        raise ResultError(f"{path}: hardware lacks {hw_missing}")
    return result


def list_results(root: str | Path | None = None) -> list[str]:
    """The experiments that have a ``result.json`` under ``root``, sorted."""
    base = Path(root or RESULTS_DIR)
    return sorted(p.parent.name for p in base.glob("*/result.json"))


def weights_provenance(result: dict, name: str = "mnist-ddpm") -> str:
    """One line saying whether a result measured the weights the manifest ships as ``name``."""
    from ..checkpoints import read_manifest

    shipped, sha = read_manifest()[name]["sha256"], result.get("weights_sha256")
    if sha is None:
        return f"the file does not record which weights it measured (shipped {name}: sha256 {shipped[:12]})"
    if sha == shipped:
        return f"measured on the shipped {name} weights (sha256 {sha[:12]})"
    note = result.get("weights_note", "")
    return f"measured on other weights (sha256 {sha[:12]}) than the shipped {name} ({shipped[:12]})" + (
        f"; the file says: {note}" if note else ""
    )
