"""Course-wide settings: QUICK mode, device choice, seeding, data and cache folders.

Environment variables (all optional):

- ``DIFFUSION_COURSE_QUICK``: ``1`` shrinks training and sample counts so that each notebook
  runs in about a minute on 2 CPU cores (the test command sets it).
- ``DIFFUSION_COURSE_DEVICE``: ``cpu``, ``cuda``, ``cuda:1``, ``mps``... overrides the automatic
  choice (CUDA, then Apple MPS, then CPU).
- ``DIFFUSION_COURSE_DATA``: where datasets live (default ``~/.cache/diffusion_course/data``,
  under ``$XDG_CACHE_HOME`` when set).
- ``DIFFUSION_COURSE_CACHE``: where trained models and other results are cached
  (default ``~/.cache/diffusion_course``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


QUICK: bool = _flag("DIFFUSION_COURSE_QUICK")


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "diffusion_course"


def cache_dir() -> Path:
    """The folder for cached models and results (``DIFFUSION_COURSE_CACHE``)."""
    return Path(os.environ.get("DIFFUSION_COURSE_CACHE") or _user_cache()).expanduser()


def data_dir() -> Path:
    """The data root (``DIFFUSION_COURSE_DATA``); MNIST lives in ``<root>/MNIST/raw``."""
    env = os.environ.get("DIFFUSION_COURSE_DATA")
    return Path(env).expanduser() if env else _user_cache() / "data"


def device(name: str | None = None) -> torch.device:
    """Pick the compute device: ``name``, else ``DIFFUSION_COURSE_DEVICE``, else CUDA, MPS, CPU."""
    name = name or os.environ.get("DIFFUSION_COURSE_DEVICE") or None
    if name:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use 'cpu'")
        if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"device {name!r} asked for, but Apple MPS is not available here; use 'cpu'")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded with ``seed``.

    Pass the returned generator explicitly to samplers and data functions: that, not the
    global seed, is what makes a result reproducible.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def quick(quick_value, full_value):
    """Return ``quick_value`` in QUICK mode and ``full_value`` otherwise (for sizes in notebooks)."""
    return quick_value if QUICK else full_value
