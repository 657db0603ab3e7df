"""Model specs: the registry of model classes that checkpoints rebuild by name, and CheckpointError."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["CheckpointError", "register_model", "model_spec", "build_model"]

# Model classes that checkpoints can rebuild. Built-ins are imported lazily by module name;
# other modules (VAE, GAN, ...) add theirs with ``register_model``.
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_BUILTIN = {
    "UNet": "diffusion_course.models.unet",
    "MLPDenoiser": "diffusion_course.models.mlp",
    "MNISTClassifier": "diffusion_course.models.classifier",
    "CIFAR10Classifier": "diffusion_course.models.classifier",
    "VAE": "diffusion_course.models.vae",
    "Generator": "diffusion_course.models.gan",
    "Discriminator": "diffusion_course.models.gan",
    "MLPGenerator": "diffusion_course.models.gan",
    "MLPDiscriminator": "diffusion_course.models.gan",
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
