"""Conditioning embeddings shared by the denoisers: timesteps and class labels.

- :func:`sinusoidal_embedding`: the Transformer position encoding (Vaswani et al. 2017) applied
  to diffusion timesteps, as in DDPM (Ho et al. 2020).
- :class:`TimeEmbedding`: sinusoidal features followed by a two-layer MLP.
- :class:`ClassEmbedding`: a learned vector per class plus one for the *null label*
  (index ``num_classes``), the "no condition" input of classifier-free guidance
  (Ho & Salimans 2022).

The models never see a noise schedule: ``t`` is just a number per example.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["sinusoidal_embedding", "TimeEmbedding", "ClassEmbedding", "as_batch_times"]


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal timestep embedding (Vaswani et al. 2017; DDPM, Ho et al. 2020).

    ``t`` of shape ``(B,)`` (integer or float) maps to ``(B, dim)`` features
    ``[cos(t * w_k), sin(t * w_k)]`` with frequencies ``w_k = max_period^(-k / (dim/2))``,
    ``k = 0..dim/2-1``. An odd ``dim`` gets one zero column at the end.
    """
    if dim < 2:
        raise ValueError(f"embedding dim must be >= 2; got {dim}")
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,); got shape {tuple(t.shape)}")
    half = dim // 2
    k = torch.arange(half, device=t.device, dtype=torch.float32)
    freqs = torch.exp(-math.log(max_period) * k / half)
    angles = t.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=1)
    return emb


def as_batch_times(t: Tensor | int | float, batch: int, device: torch.device) -> Tensor:
    """Broadcast a timestep (a number, a 0-d tensor or a ``(B,)`` tensor) to shape ``(B,)``."""
    t = torch.as_tensor(t, device=device)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be a scalar or have shape ({batch},); got shape {tuple(t.shape)}")
    return t


class TimeEmbedding(nn.Module):
    """Timestep embedding of DDPM (Ho et al. 2020): sinusoidal features, Linear, SiLU, Linear."""

    def __init__(self, dim: int, freq_dim: int | None = None) -> None:
        super().__init__()
        self.freq_dim = freq_dim or dim
        self.mlp = nn.Sequential(nn.Linear(self.freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.freq_dim))


class ClassEmbedding(nn.Module):
    """Class embedding with a null label for classifier-free guidance (Ho & Salimans 2022).

    Labels ``0..num_classes-1`` are the classes; ``null_label = num_classes`` means "no label".
    ``forward(None, batch)`` embeds the null label for the whole batch.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        self.num_classes = num_classes
        self.null_label = num_classes
        self.embed = nn.Embedding(num_classes + 1, dim)

    def forward(self, y: Tensor | None, batch: int | None = None) -> Tensor:
        if y is None:
            if batch is None:
                raise ValueError("ClassEmbedding(None) needs the batch size")
            y = torch.full((batch,), self.null_label, dtype=torch.long, device=self.embed.weight.device)
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise ValueError(f"labels y must be an integer tensor; got dtype {y.dtype}")
        if y.ndim != 1 or (batch is not None and y.shape[0] != batch):
            raise ValueError(
                f"labels y must have shape ({batch if batch is not None else 'B'},); got shape {tuple(y.shape)}"
            )
        # The range check reads the values back, so it runs on the CPU only (no GPU sync); on
        # CUDA an out-of-range label fails inside the embedding lookup instead.
        if y.device.type == "cpu" and y.numel() and (y.min() < 0 or y.max() > self.null_label):
            raise ValueError(
                f"labels must lie in 0..{self.num_classes - 1}, or be the null label "
                f"{self.null_label}; got min {int(y.min())}, max {int(y.max())}"
            )
        return self.embed(y.long())
