"""Putting MNIST and CIFAR-10 under the data root: offline from ../shared/data, else by download.

The command line is ``python -m diffusion_course data prepare [--root DIR]``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .. import config

__all__ = ["SHARED_PREPARE", "prepare"]

SHARED_PREPARE = config.REPO_ROOT.parent / "shared" / "data" / "prepare_data.py"


def prepare(root: str | Path | None = None) -> Path:
    """Put MNIST and CIFAR-10 under the data root: from ../shared/data when present, else download."""
    root = Path(root) if root is not None else config.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    if SHARED_PREPARE.exists():
        subprocess.run([sys.executable, str(SHARED_PREPARE), str(root)], check=True)
    else:
        from torchvision.datasets import CIFAR10, MNIST

        for train in (True, False):
            MNIST(str(root), train=train, download=True)
            CIFAR10(str(root), train=train, download=True)
    return root
