"""Saving generated images: a PNG grid, or the .npz convention of the guided-diffusion evaluation suite."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["to_uint8_nhwc", "save_npz", "save_grid"]


def to_uint8_nhwc(x: Tensor) -> np.ndarray:
    """Images in [-1, 1], (N, C, H, W), as uint8 (N, H, W, C): ``round((x + 1) * 127.5)``."""
    if x.ndim != 4:
        raise ValueError(f"expected images shaped (N, C, H, W); got {tuple(x.shape)}")
    u8 = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return u8.permute(0, 2, 3, 1).contiguous().numpy()


def save_npz(x: Tensor, labels: Tensor | None, path: str | Path) -> Path:
    """``arr_0``: uint8 N x H x W x C images; ``arr_1``: int64 labels (-1 when unconditional). Atomic write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lab = np.full(len(x), -1, dtype=np.int64) if labels is None else torch.as_tensor(labels).long().cpu().numpy()
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
    np.savez(tmp, to_uint8_nhwc(x), lab)
    os.replace(tmp, path)
    return path


def save_grid(x: Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """One PNG grid of images in [-1, 1] (torchvision ``save_image``)."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(len(x) ** 0.5 + 0.5))
    save_image((x.float().clamp(-1, 1) + 1) / 2, str(path), nrow=nrow)
    return path
