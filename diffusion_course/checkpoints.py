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

import datetime as _dt
import hashlib
import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import ASSETS_DIR

__all__ = [
    "CheckpointError",
    "MANIFEST_PATH",
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

MANIFEST_PATH = ASSETS_DIR / "checkpoints" / "manifest.json"
FORMAT = 1
PathLike = str | os.PathLike

# Model classes that checkpoints can rebuild. Built-ins are imported lazily by module name;
# other modules (VAE, GAN, ...) add theirs with ``register_model``.
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_BUILTIN = {
    "UNet": "diffusion_course.models.unet",
    "MLPDenoiser": "diffusion_course.models.mlp",
    "MNISTClassifier": "diffusion_course.models.classifier",
}


class CheckpointError(ValueError):
    """A checkpoint or manifest problem: missing, corrupt, mismatched or protected file."""


def register_model(cls: Callable[..., nn.Module], name: str | None = None):
    """Register a model class (usable as a decorator) so checkpoints can rebuild it by name.

    The class must accept its architecture as keyword arguments and expose them as a
    JSON-able ``config`` dict attribute on each instance.
    """
    _REGISTRY[name or cls.__name__] = cls
    return cls


def _model_class(name: str, module: str | None) -> Callable[..., nn.Module]:
    if name not in _REGISTRY:
        mod = _BUILTIN.get(name) or module
        if mod and mod.split(".")[0] == "diffusion_course":  # import only the course's own modules
            try:
                cls = getattr(importlib.import_module(mod), name, None)
            except ImportError:
                cls = None
            if cls is not None:
                register_model(cls, name)
    if name not in _REGISTRY:
        raise CheckpointError(
            f"unknown model class {name!r}; registered: {sorted(set(_REGISTRY) | set(_BUILTIN))}. "
            "Import the module that defines it or call checkpoints.register_model(cls)"
        )
    return _REGISTRY[name]


def model_spec(model: nn.Module) -> dict:
    """``{"class", "module", "kwargs"}`` that rebuilds ``model``'s architecture (needs ``model.config``)."""
    kwargs = getattr(model, "config", None)
    if not isinstance(kwargs, dict):
        raise CheckpointError(
            f"{type(model).__name__} has no `config` dict of constructor arguments; "
            "checkpoints need one to rebuild the model"
        )
    return {
        "class": type(model).__name__,
        "module": type(model).__module__,
        "kwargs": _jsonable(kwargs, "model.config"),
    }


def build_model(spec: dict) -> nn.Module:
    """Rebuild an (untrained) model from a :func:`model_spec` dict."""
    cls = _model_class(spec["class"], spec.get("module"))
    try:
        return cls(**spec.get("kwargs", {}))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"cannot build {spec['class']} from {spec.get('kwargs')}: {err}") from err


def _jsonable(obj: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(obj))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{what} must be JSON-able (numbers, strings, lists, dicts): {err}") from err


def sha256_file(path: PathLike) -> str:
    """Hex sha256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


# ----------------------------------------------------------------------------- manifest


def read_manifest(manifest_path: PathLike | None = None) -> dict:
    """The manifest ``{name: entry}`` (empty if the file does not exist)."""
    mpath = Path(manifest_path or MANIFEST_PATH)
    if not mpath.exists():
        return {}
    try:
        return json.loads(mpath.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"manifest {mpath} is not valid JSON: {err}") from err


def _file_of(entry: dict, manifest_path: PathLike | None) -> Path:
    return (Path(manifest_path or MANIFEST_PATH).parent / entry["file"]).resolve()


def shipped_files(manifest_path: PathLike | None = None) -> set[Path]:
    """Resolved paths of all files the manifest lists."""
    return {_file_of(e, manifest_path) for e in read_manifest(manifest_path).values() if "file" in e}


def add_to_manifest(
    name: str,
    path: PathLike,
    command: str,
    description: str,
    metrics: dict | None = None,
    *,
    manifest_path: PathLike | None = None,
    **extra,
) -> dict:
    """Record ``path`` (its sha256, size, the command that made it) under ``name``; returns the entry."""
    mpath = Path(manifest_path or MANIFEST_PATH)
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"cannot add {path} to the manifest: the file does not exist")
    rel = Path(os.path.relpath(path.resolve(), mpath.parent.resolve())).as_posix()
    entry = _jsonable(
        {
            "file": rel,
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "command": command,
            "description": description,
            "metrics": metrics or {},
            **extra,
        },
        "manifest entry",
    )
    manifest = read_manifest(mpath)
    manifest[name] = entry
    mpath.parent.mkdir(parents=True, exist_ok=True)
    tmp = mpath.with_name(f".{mpath.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, mpath)
    return entry


def _entry(name: str, manifest_path: PathLike | None) -> dict:
    manifest = read_manifest(manifest_path)
    if name not in manifest:
        raise CheckpointError(
            f"unknown pretrained checkpoint {name!r}; available: {sorted(manifest)} "
            f"(manifest {manifest_path or MANIFEST_PATH})"
        )
    return manifest[name]


def verify(name: str, *, manifest_path: PathLike | None = None) -> Path:
    """Check the manifest's sha256 (and size) of checkpoint ``name``; returns its path."""
    entry = _entry(name, manifest_path)
    path = _file_of(entry, manifest_path)
    how = (
        f"restore it with `git checkout -- {path}` (or `git lfs pull`), or retrain it with "
        f"`{entry.get('command', '(command not recorded)')}`"
    )
    if not path.exists():
        raise CheckpointError(f"checkpoint {name!r}: file {path} is missing; {how}")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise CheckpointError(
            f"checkpoint {name!r}: the sha256 of {path} differs from the manifest "
            f"(file {digest[:16]}..., manifest {entry['sha256'][:16]}...), so the file "
            f"was modified or is a Git LFS pointer; {how}"
        )
    return path


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
