"""Minibatch sources for the training loop: in-memory tensors (resumable) or a DataLoader."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["make_batches"]


class _Batches:
    """Minibatches of in-memory tensors, shuffled once per epoch by ``generator``.

    With ``drop_last`` (the default) an epoch ends before a short batch; without, the last batch
    of an epoch holds the remainder.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor | None,
        batch_size: int,
        generator: torch.Generator,
        drop_last: bool = True,
    ) -> None:
        if batch_size > x.shape[0]:
            raise ValueError(f"batch_size {batch_size} exceeds the dataset size {x.shape[0]}")
        self.x, self.y, self.bs, self.g, self.drop_last = x, y, batch_size, generator, drop_last
        self.perm, self.pos = torch.randperm(x.shape[0], generator=generator), 0

    def next(self) -> tuple[Tensor, Tensor | None]:
        end = self.pos + self.bs if self.drop_last else self.pos + 1
        if end > self.x.shape[0]:
            self.perm, self.pos = torch.randperm(self.x.shape[0], generator=self.g), 0
        idx = self.perm[self.pos : self.pos + self.bs].to(self.x.device)
        self.pos += self.bs
        return self.x[idx], (None if self.y is None else self.y[idx])

    def state(self) -> dict:
        return {"perm": self.perm, "pos": self.pos}

    def load(self, state: dict) -> None:
        self.perm, self.pos = state["perm"], int(state["pos"])


class _Loader:
    """Cycles through a DataLoader forever (its own generator decides the order)."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader, self.it = loader, iter(loader)

    def next(self) -> tuple[Tensor, Tensor | None]:
        try:
            batch = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            batch = next(self.it)
        batch = batch if isinstance(batch, (list, tuple)) else [batch]
        return batch[0], (batch[1] if len(batch) > 1 else None)

    def state(self) -> dict:
        return {}

    def load(self, state: dict) -> None:
        pass


def make_batches(data, batch_size: int, generator: torch.Generator, device: torch.device, drop_last: bool = True):
    """A batch source with ``next()``, ``state()`` and ``load(state)`` for tensors or a DataLoader."""
    if isinstance(data, DataLoader):
        return _Loader(data)
    if isinstance(data, TensorDataset):
        data = tuple(data.tensors)
    x, y = (data, None) if isinstance(data, Tensor) else (data[0], data[1] if len(data) > 1 else None)
    if not isinstance(x, Tensor) or not x.dtype.is_floating_point:
        raise ValueError("data must be a float tensor, (x, y) tensors, a TensorDataset or a DataLoader")
    if y is not None and y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
    return _Batches(x.to(device), None if y is None else y.to(device), batch_size, generator, drop_last)
