"""Data of the course: 2-D toys (:mod:`.toys`), image datasets (:mod:`.images`), preparation.

Every loader returns float32 tensors in [-1, 1] with LongTensor labels; a dataset missing offline
raises :class:`DatasetNotFoundError` saying where it looked and how to get it.
"""

from __future__ import annotations

from .images import (
    CIFAR10_CLASSES,
    DatasetNotFoundError,
    available,
    cifar10,
    image_folder,
    loader,
    mnist,
    to_pixels,
    to_unit_range,
)
from .prepare import prepare
from .toys import TOYS, make_toy

__all__ = [
    "TOYS",
    "make_toy",
    "CIFAR10_CLASSES",
    "DatasetNotFoundError",
    "mnist",
    "cifar10",
    "image_folder",
    "loader",
    "available",
    "to_unit_range",
    "to_pixels",
    "prepare",
]
