"""A residual MLP denoiser for 2-D (or any flat, low-dimensional) toy data."""

from __future__ import annotations

from torch import Tensor, nn

from .embeddings import ClassEmbedding, TimeEmbedding, as_batch_times

__all__ = ["MLPDenoiser"]


class _Block(nn.Module):
    """Pre-norm residual MLP block whose hidden layer is shifted by the conditioning vector."""

    def __init__(self, hidden: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.cond = nn.Linear(cond_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.act = nn.SiLU()

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        return h + self.fc2(self.act(self.fc1(self.norm(h)) + self.cond(c)))


class MLPDenoiser(nn.Module):
    """Residual MLP denoiser for toy data, trained with the DDPM objective (Ho et al. 2020).

    ``model(x_t, t)`` or ``model(x_t, t, y)`` with ``x_t`` of shape ``(B, dim)`` and ``t`` of
    shape ``(B,)`` (or a scalar) returns a ``(B, dim)`` prediction (eps, x0, v or score: the
    training loss decides). With ``num_classes`` set, ``y`` holds labels in
    ``0..num_classes-1`` or the null label ``num_classes`` (classifier-free guidance,
    Ho & Salimans 2022); ``y=None`` means the null label.

    ``depth`` residual blocks of width ``hidden``; ``time_dim`` is the width of the sinusoidal
    time embedding (Vaswani et al. 2017) and of the conditioning vector.
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 128,
        depth: int = 3,
        time_dim: int = 64,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in {
            "dim": dim,
            "hidden": hidden,
            "depth": depth,
            "time_dim": time_dim,
        }.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MLPDenoiser: {name} must be a positive int; got {value!r}")
        self.config = {
            "dim": dim,
            "hidden": hidden,
            "depth": depth,
            "time_dim": time_dim,
            "num_classes": num_classes,
        }
        self.dim = dim
        self.num_classes = num_classes
        self.null_label = num_classes
        self.time_embed = TimeEmbedding(time_dim)
        self.class_embed = ClassEmbedding(num_classes, time_dim) if num_classes else None
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(_Block(hidden, time_dim) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"MLPDenoiser expects x of shape (B, {self.dim}); got {tuple(x.shape)}")
        t = as_batch_times(t, x.shape[0], x.device)
        c = self.time_embed(t)
        if self.class_embed is not None:
            c = c + self.class_embed(y, x.shape[0])
        elif y is not None:
            raise ValueError("this MLPDenoiser is unconditional (num_classes=None); got labels y")
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, c)
        return self.out(h)
