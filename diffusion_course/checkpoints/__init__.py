"""Checkpoints: save and load models with their config, and a sha256 manifest of shipped files.

A checkpoint is ``torch.save`` of a plain dict, readable with ``torch.load(weights_only=True)``::

    {"format": 1,
     "config": {"model": {"class": "UNet", "module": "...", "kwargs": {...}},   # rebuilds the net
                "schedule": {...}, "prediction": "v", "steps": ..., "command": "...",
                "date": "...", "torch": "...", "state_dict_dtype": "float16", ...},  # JSON-able
     "state_dict": {name: tensor}}                                               # EMA weights

The shipped checkpoints live in ``assets/checkpoints`` and are listed in ``manifest.json`` as
``{name: {"file", "sha256", "bytes", "command", "description", "metrics"}}``;
:func:`load_pretrained` checks the sha256 before loading. Writing never replaces an existing
file unless asked, and never a shipped one unless ``allow_shipped=True``.
"""

from __future__ import annotations

from .files import FORMAT, atomic_save, load_checkpoint, save_checkpoint
from .manifest import MANIFEST_PATH, add_to_manifest, read_manifest, sha256_file, shipped_files, verify
from .pretrained import load_any, load_pretrained, weights_sha256
from .spec import CheckpointError, build_model, model_spec, register_model

__all__ = [
    "CheckpointError",
    "MANIFEST_PATH",
    "FORMAT",
    "register_model",
    "model_spec",
    "build_model",
    "save_checkpoint",
    "load_checkpoint",
    "atomic_save",
    "sha256_file",
    "read_manifest",
    "add_to_manifest",
    "verify",
    "load_pretrained",
    "shipped_files",
    "load_any",
    "weights_sha256",
]
