"""Checkpoint files: save and load a model with its config, atomically, with ``weights_only`` loading."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .manifest import MANIFEST_PATH, shipped_files
from .spec import CheckpointError, _jsonable, build_model, model_spec

__all__ = ["FORMAT", "atomic_save", "save_checkpoint", "load_checkpoint"]

FORMAT = 1
PathLike = str | os.PathLike


def atomic_save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace`` it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _compact(state: dict, half: bool) -> dict:
    """CPU copies of the tensors, floating ones as float16 when ``half`` and that stays finite."""
    out = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            h = v.to(torch.float16)
            v = h if torch.isfinite(h).all() or not torch.isfinite(v).all() else v.float()
        out[k] = v.clone()
    return out


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    config: dict | None = None,
    *,
    overwrite: bool = False,
    allow_shipped: bool = False,
    half: bool = True,
    manifest_path: PathLike | None = None,
) -> Path:
    """Write ``model``'s weights and ``config`` (plus its architecture) to ``path``, atomically.

    ``half`` stores floating weights as float16 (half the size; :func:`load_checkpoint` restores
    float32). Refuses an existing file unless ``overwrite``, and a file listed in the manifest
    unless ``allow_shipped``.
    """
    path = Path(path)
    if not allow_shipped and path.resolve() in shipped_files(manifest_path):
        raise CheckpointError(
            f"{path} is a shipped checkpoint listed in {manifest_path or MANIFEST_PATH}; "
            "pass allow_shipped=True (CLI: --overwrite-shipped) to replace it"
        )
    if path.exists() and not overwrite:
        raise CheckpointError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    cfg = _jsonable(dict(config or {}), "config")
    cfg["model"] = model_spec(model)
    cfg.setdefault("date", _dt.datetime.now().isoformat(timespec="seconds"))
    cfg.setdefault("torch", str(torch.__version__))
    cfg["state_dict_dtype"] = "float16" if half else "float32"
    ckpt = {
        "format": FORMAT,
        "config": _jsonable(cfg, "config"),
        "state_dict": _compact(model.state_dict(), half),
    }
    return atomic_save(ckpt, path)


def _read(path: Path, map_location) -> dict:
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling errors, truncated zip archives, foreign objects
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated, or not written by "
            f"save_checkpoint): {type(err).__name__}: {str(err)[:300]}"
        ) from err
    if (
        not isinstance(ckpt, dict)
        or not isinstance(ckpt.get("state_dict"), dict)
        or not isinstance(ckpt.get("config"), dict)
    ):
        raise CheckpointError(f"{path} is not a checkpoint: expected a dict with 'config' and 'state_dict'")
    return ckpt


def _check_state(path: Path, model: nn.Module, state: dict) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{label} ({len(items)}): {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
            for label, items in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", shapes),
            )
            if items
        ]
        raise CheckpointError(
            f"{path}: weights do not match the architecture in its config ({type(model).__name__}); " + "; ".join(parts)
        )


def load_checkpoint(
    path: PathLike, map_location: str | torch.device = "cpu", *, model_class: str | None = None
) -> tuple[nn.Module, dict]:
    """Load a checkpoint written by :func:`save_checkpoint`: ``(model in eval mode, config)``.

    Uses ``torch.load(weights_only=True)``; rebuilds the model from ``config["model"]`` (or, for
    files whose config is the bare constructor kwargs, from ``model_class``) and loads float32
    weights. Raises :class:`CheckpointError` for a missing, corrupt or mismatched file.
    """
    path = Path(path)
    ckpt = _read(path, "cpu")
    config = ckpt["config"]
    spec = config.get("model")
    if not (isinstance(spec, dict) and "class" in spec):
        if model_class is None:
            raise CheckpointError(f"{path}: config has no model spec ({{'class', 'kwargs'}}) to rebuild the model")
        spec = {"class": model_class, "kwargs": {k: v for k, v in config.items() if k != "model"}}
    model = build_model(spec)
    _check_state(path, model, ckpt["state_dict"])
    model.load_state_dict(ckpt["state_dict"])  # copies into the float32 parameters
    return model.to(map_location).eval(), config
