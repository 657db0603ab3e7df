"""Feature networks registered per dataset: the classifier whose features every image metric uses.

A dataset's entry names its shipped classifier (a manifest name), the image shape it reads, its
number of classes and how to load real images for references and floors. MNIST and CIFAR-10 are
registered here (CIFAR-10 read from the course's offline copy, a JPEG re-encoding of the original
pixels). Metrics built on these features
("MNIST classifier FID", ...) are NOT Inception FIDs: compare them only with each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "FeatureNetwork",
    "FEATURE_NETWORKS",
    "register_feature_network",
    "feature_network",
    "dataset_of",
    "real_images",
    "floor_draw",
]


@dataclass(frozen=True)
class FeatureNetwork:
    """What the image metrics need to know about one dataset's feature network."""

    dataset: str
    checkpoint: str  # manifest name of the shipped classifier
    image_shape: tuple[int, int, int]
    num_classes: int
    load_reals: Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (train, n, generator) -> (x, y)


def _mnist_reals(train: bool, n: int | None, generator: torch.Generator | None):
    from ..data import mnist

    return mnist(train=train, n=n, generator=generator)


def _cifar10_reals(train: bool, n: int | None, generator: torch.Generator | None):
    from ..data import cifar10

    return cifar10(train=train, n=n, generator=generator)


FEATURE_NETWORKS: dict[str, FeatureNetwork] = {
    "mnist": FeatureNetwork("mnist", "mnist_classifier", (1, 28, 28), 10, _mnist_reals),
    "cifar10": FeatureNetwork("cifar10", "cifar10_classifier", (3, 32, 32), 10, _cifar10_reals),
}
_LOADED: dict[str, nn.Module] = {}


def register_feature_network(entry: FeatureNetwork) -> FeatureNetwork:
    """Add (or replace) the feature network of ``entry.dataset``."""
    FEATURE_NETWORKS[entry.dataset] = entry
    _LOADED.pop(entry.dataset, None)
    return entry


def _entry(dataset: str) -> FeatureNetwork:
    if dataset not in FEATURE_NETWORKS:
        raise ValueError(f"no feature network for dataset {dataset!r}; registered: {sorted(FEATURE_NETWORKS)}")
    return FEATURE_NETWORKS[dataset]


def feature_network(dataset: str = "mnist") -> nn.Module:
    """The shipped classifier of ``dataset`` (loaded once per process, sha256-checked by the manifest).

    The model carries ``.sha256`` (the weights' hash, so cached floors know what measured them),
    ``.num_features``, ``.num_classes`` and ``.image_shape``.
    """
    from ..checkpoints import CheckpointError, load_pretrained, read_manifest

    if dataset not in _LOADED:
        entry = _entry(dataset)
        manifest = read_manifest()
        if entry.checkpoint not in manifest:
            raise CheckpointError(
                f"no manifest entry {entry.checkpoint!r} for the {dataset} feature network; "
                f"train it with `python -m diffusion_course train {dataset}-classifier`"
            )
        model, _ = load_pretrained(entry.checkpoint)
        model.sha256 = manifest[entry.checkpoint]["sha256"]
        _LOADED[dataset] = model
    return _LOADED[dataset]


def dataset_of(shape: tuple[int, ...]) -> str:
    """The registered dataset whose images have shape ``(C, H, W)``; a clear error when none or several."""
    shape = tuple(shape)
    hits = [k for k, e in FEATURE_NETWORKS.items() if e.image_shape == shape]
    if len(hits) != 1:
        known = {k: e.image_shape for k, e in FEATURE_NETWORKS.items()}
        raise ValueError(
            f"no single feature network reads images of shape {shape}; registered: {known}. "
            "Pass dataset=... to choose one"
        )
    return hits[0]


def real_images(
    dataset: str, train: bool, n: int | None = None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` real images and labels of ``dataset`` (a random subset drawn with ``generator``)."""
    return _entry(dataset).load_reals(train, n, generator)


def floor_draw(dataset: str, n: int, seed: int) -> torch.Tensor:
    """The ``n`` real *training* images (drawn with ``seed``) that a real-vs-real floor compares with the test set."""
    return real_images(dataset, True, n, torch.Generator().manual_seed(seed))[0]
