"""Per-image random streams: image ``i`` of a run depends only on ``(seed, i)``.

A batch drawn with one ``torch.Generator`` changes when the batch size changes, because the
noise of image ``i`` depends on how many images came before it in its batch. EDM (Karras et al.
2022, ``generate.py``) gives every image its own generator; :class:`PerImageGenerator` does the
same here, and the samplers accept it wherever they take a ``generator`` (through
:func:`~diffusion_course.diffusion.forward.noise_like`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["image_seed", "PerImageGenerator"]


def image_seed(seed: int, index: int) -> int:
    """A 63-bit seed for image ``index`` of run ``seed`` (NumPy ``SeedSequence([seed, index])``)."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0; got {seed}, {index}")
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0]) >> 1


class PerImageGenerator:
    """One CPU ``torch.Generator`` per image: ``randn(shape)`` stacks one draw of ``shape[1:]`` per image."""

    def __init__(self, seed: int, indices: Sequence[int]) -> None:
        self.indices = list(indices)
        self.generators = [torch.Generator().manual_seed(image_seed(seed, i)) for i in self.indices]
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return len(self.generators)

    def randn(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        """Standard normal draws shaped ``shape``, whose first dimension must equal the number of images."""
        shape = tuple(shape)
        if not shape or shape[0] != len(self.generators):
            raise ValueError(f"PerImageGenerator holds {len(self.generators)} images; asked for shape {shape}")
        return torch.stack([torch.randn(shape[1:], generator=g, dtype=dtype) for g in self.generators])
