"""Seeded 2-D toy datasets (two moons, Swiss roll, a ring of 8 Gaussians, a checkerboard).

``make_toy(name, n, generator)`` returns an ``(n, 2)`` float32 tensor, roughly centred and
scaled to unit spread; the same generator state gives the same points.
"""

from __future__ import annotations

import math

import torch

__all__ = ["TOYS", "make_toy"]

TOYS = ("moons", "swiss_roll", "gaussians8", "checkerboard")


def _uniform(n: int, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64)


def _moons(n: int, g):
    n1 = n // 2
    a = math.pi * _uniform(n, g)
    upper = torch.stack([torch.cos(a), torch.sin(a)], 1)
    lower = torch.stack([1 - torch.cos(a), 0.5 - torch.sin(a)], 1)
    x = torch.cat([upper[:n1], lower[n1:]])
    return (x - torch.tensor([0.5, 0.25], dtype=torch.float64)) * 2.0


def _swiss_roll(n: int, g):
    u = 1.5 * math.pi * (1 + 2 * _uniform(n, g))
    return torch.stack([u * torch.cos(u), u * torch.sin(u)], 1) / 5.0


def _gaussians8(n: int, g, radius: float = 2.0, std: float = 0.15):
    k = torch.randint(0, 8, (n,), generator=g)
    angle = 2 * math.pi * k.double() / 8
    centers = radius * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return centers + std * torch.randn(n, 2, generator=g, dtype=torch.float64)


def _checkerboard(n: int, g):
    x1 = 4 * _uniform(n, g) - 2
    x2 = _uniform(n, g) + 2 * torch.randint(0, 2, (n,), generator=g).double() - 2
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], 1) * 1.5


_TOY_FUNCS = {
    "moons": _moons,
    "swiss_roll": _swiss_roll,
    "gaussians8": _gaussians8,
    "checkerboard": _checkerboard,
}


def make_toy(name: str, n: int, generator: torch.Generator | None = None, noise: float = 0.05) -> torch.Tensor:
    """Sample a 2-D toy dataset as an (n, 2) float32 tensor, roughly centred with unit scale.

    ``gaussians8``: 8 equal-weight Gaussians on a circle of radius 2, std 0.15 (the exact
    mixture is ``oracle.GaussianMixture.ring(8, radius=2.0, std=0.15)``). ``moons``,
    ``swiss_roll`` and ``checkerboard`` get isotropic Gaussian ``noise`` added (std).
    The same generator seed gives the same points.
    """
    if name not in _TOY_FUNCS:
        raise ValueError(f"unknown toy dataset {name!r}; expected one of {TOYS}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    x = _TOY_FUNCS[name](n, generator)
    if name != "gaussians8" and noise > 0:
        x = x + noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    return x.float()


# ---------------------------------------------------------------- images
