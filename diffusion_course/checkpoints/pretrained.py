"""Loading shipped checkpoints by name (sha256-checked) or any checkpoint by path."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .files import load_checkpoint
from .manifest import _entry, sha256_file, verify

__all__ = ["load_pretrained", "load_any", "weights_sha256"]

PathLike = str | os.PathLike


def load_pretrained(
    name: str, map_location: str | torch.device = "cpu", *, manifest_path: PathLike | None = None
) -> tuple[nn.Module, dict]:
    """Load shipped checkpoint ``name`` from the manifest after checking its sha256."""
    path = verify(name, manifest_path=manifest_path)
    return load_checkpoint(path, map_location, model_class=_entry(name, manifest_path).get("class"))


def load_any(name_or_path: str, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """A checkpoint by manifest name (:func:`load_pretrained`, sha256-checked) or by file path."""
    if Path(name_or_path).suffix == ".pt" or Path(name_or_path).exists():
        return load_checkpoint(name_or_path, map_location=map_location)
    return load_pretrained(name_or_path, map_location=map_location)


def weights_sha256(name_or_path: str) -> str:
    """The sha256 of the weights :func:`load_any` reads, so that a result names what it measured."""
    if Path(name_or_path).suffix == ".pt" or Path(name_or_path).exists():
        return sha256_file(name_or_path)
    return _entry(name_or_path, None)["sha256"]
