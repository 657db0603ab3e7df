"""Sharding a global batch over ranks so that every rank draws what a single process would (data parallelism).

A global batch of ``N`` rows is split as by ``torch.tensor_split``: rank ``r`` keeps rows
``[start, start + rows)``. Inside a loss, :class:`GlobalDraws` (a ``TorchFunctionMode``) makes
each *batch-shaped* random draw (first dimension = this rank's rows) from the loop's generator
or torch's global RNG for all ``N`` rows, and keeps this rank's rows. So the timesteps, the
noise, the label dropout, a GAN's latents, a VAE's ``eps``, the augmentations and the dropout
masks are the ones one process draws for the whole batch, and every rank's generators stay in
step with it. BatchNorm in training mode normalises by the statistics of the global batch
(SyncBatchNorm; Ioffe & Szegedy 2015) through a differentiable all-reduce. With equal shards
the gradient of the mean loss is then the single process's gradient up to float rounding.

On CUDA the dropout masks are drawn by ``bernoulli_`` rather than the fused dropout kernel: the
same distribution, consistent over the ranks, but other masks than one CUDA process draws.

Draws that depend on per-row parameters (``torch.bernoulli(p)``, ``torch.multinomial``,
channel dropout, attention dropout) cannot be drawn for rows this rank does not hold: they are
drawn per rank, with a warning that the run is no longer identical to one process.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

__all__ = ["Shard", "shard_batch", "GlobalDraws"]


@dataclass(frozen=True)
class Shard:
    """This rank's rows ``[start, start + rows)`` of a global batch of ``total`` rows.

    ``weight = rows / total`` is this rank's share of the global mean loss. A rank without rows
    (a global batch smaller than the number of ranks) computes on the whole batch with weight 0.
    """

    batch: tuple[Tensor, Tensor | None]
    start: int
    rows: int
    total: int
    weight: float


def shard_batch(batch: tuple[Tensor, Tensor | None], rank: int, size: int) -> Shard:
    """Rank ``rank``'s :class:`Shard` of ``batch`` among ``size`` ranks (the first ``total % size`` get a row more)."""
    x, y = batch
    total = x.shape[0]
    if size == 1:
        return Shard(batch, 0, total, total, 1.0)
    base, extra = divmod(total, size)
    rows = base + (1 if rank < extra else 0)
    start = rank * base + min(rank, extra)
    if rows == 0:
        return Shard(batch, 0, total, total, 0.0)
    end = start + rows
    return Shard((x[start:end], None if y is None else y[start:end]), start, rows, total, rows / total)


def _global_empty(t: Tensor, total: int) -> Tensor:
    """An empty tensor like ``t`` with ``total`` rows, laid out as ``empty_like`` lays out the global tensor."""
    shape = (total, *t.shape[1:])
    if t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)):
        return t.new_empty_strided(shape, t.stride())
    return t.new_empty(shape)


def _size_arg(func: Callable, args: tuple, kwargs: dict):
    """The size of a factory draw and a function that rebuilds the call with another size."""
    if "size" in kwargs:
        return tuple(kwargs["size"]), lambda s: (args, {**kwargs, "size": s})
    for i in range(len(args) - 1, -1, -1):
        if isinstance(args[i], (tuple, list, torch.Size)):
            return tuple(args[i]), lambda s, i=i: ((*args[:i], s, *args[i + 1 :]), kwargs)
    if func in (torch.randn, torch.rand) and args and all(isinstance(a, int) for a in args):
        return tuple(args), lambda s: (tuple(s), kwargs)
    return None, None


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward sums the gradients over the ranks too."""

    @staticmethod
    def forward(ctx, t: Tensor) -> Tensor:  # noqa: D102
        t = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: D102
        return _SumOverRanks.apply(grad)  # differentiable again (a gradient penalty differentiates twice)


_DROPOUT = inspect.signature(F.dropout)
_BATCH_NORM = inspect.signature(F.batch_norm)
_FACTORIES = (torch.randn, torch.rand, torch.randint, torch.normal)
_LIKE = (torch.randn_like, torch.rand_like, torch.randint_like)
_IN_PLACE = tuple(
    getattr(torch.Tensor, name)
    for name in ("normal_", "uniform_", "random_", "bernoulli_", "exponential_", "geometric_", "log_normal_", "cauchy_")
)
_PER_RANK = (
    torch.bernoulli,
    torch.multinomial,
    torch.poisson,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.alpha_dropout,
    F.feature_alpha_dropout,
)
_warned: set[str] = set()


def _warn_per_rank(func: Callable) -> None:
    name = getattr(func, "__name__", str(func))
    if name not in _warned:
        _warned.add(name)
        warnings.warn(
            f"{name} draws its randomness per rank under several processes; this run is not identical to one "
            "process (still a correct data-parallel run)",
            stacklevel=4,
        )


class GlobalDraws(TorchFunctionMode):
    """Inside a loss on one rank: draw batch-shaped randomness for the global batch, keep this rank's rows.

    Also normalises BatchNorm by the global batch's statistics (see the module docstring).
    """

    def __init__(self, shard: Shard, generator: torch.Generator) -> None:
        super().__init__()
        self.shard, self.generator = shard, generator

    def _ours(self, generator) -> bool:
        return generator is None or generator is self.generator

    def _split(self) -> bool:
        return self.shard.rows != self.shard.total

    def _batched(self, t: Tensor) -> bool:
        return t.dim() > 0 and t.shape[0] == self.shard.rows

    def _rows(self, t: Tensor) -> Tensor:
        return t[self.shard.start : self.shard.start + self.shard.rows]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.batch_norm:
            b = _BATCH_NORM.bind(*args, **kwargs)
            b.apply_defaults()
            if b.arguments["training"] or b.arguments["running_mean"] is None:
                return self._batch_norm(**b.arguments)
        elif func is F.dropout:
            b = _DROPOUT.bind(*args, **kwargs)
            b.apply_defaults()
            x, p = b.arguments["input"], b.arguments["p"]
            if b.arguments["training"] and 0.0 < p < 1.0 and self._split() and self._batched(x):
                noise = self._rows(_global_empty(x, self.shard.total).bernoulli_(1.0 - p)).div_(1.0 - p)
                return x.mul_(noise) if b.arguments["inplace"] else x * noise  # as ATen's CPU dropout
        elif func in _FACTORIES and self._ours(kwargs.get("generator")) and self._split():
            size, rebuild = _size_arg(func, args, kwargs)
            if size is not None and len(size) and size[0] == self.shard.rows:
                a, k = rebuild((self.shard.total, *size[1:]))
                return self._rows(func(*a, **k))
            if size is None and func is torch.normal:
                _warn_per_rank(func)
        elif func in _LIKE and self._ours(kwargs.get("generator")) and self._split():
            x = args[0]
            if self._batched(x):
                return self._rows(func(_global_empty(x, self.shard.total), *args[1:], **kwargs))
        elif func in _IN_PLACE and self._ours(kwargs.get("generator")) and self._split():
            x = args[0]
            p = args[1] if len(args) > 1 else kwargs.get("p")
            if func is torch.Tensor.bernoulli_ and isinstance(p, Tensor):  # probabilities per element
                _warn_per_rank(func)
            elif self._batched(x):
                full = _global_empty(x, self.shard.total)
                func(full, *args[1:], **kwargs)
                return x.copy_(self._rows(full))
        elif func in _PER_RANK or (func is F.scaled_dot_product_attention and kwargs.get("dropout_p", 0.0) > 0):
            _warn_per_rank(func)
        return func(*args, **kwargs)

    def _batch_norm(self, input, running_mean, running_var, weight, bias, training, momentum, eps) -> Tensor:
        """Batch normalisation by the global batch's mean and biased variance (two all-reduces, differentiable)."""
        x, c = input, input.shape[1]
        dims = [0, *range(2, x.dim())]
        view = [1, c] + [1] * (x.dim() - 2)
        n = self.shard.total * (x.numel() // max(1, x.shape[0] * c))
        keep = 1.0 if self.shard.weight > 0 else 0.0  # a rank without rows adds nothing
        xf = x.float()
        mean = _SumOverRanks.apply(xf.sum(dims) * keep) / n
        centered = xf - mean.view(view)
        var = _SumOverRanks.apply((centered * centered).sum(dims) * keep) / n
        out = centered * torch.rsqrt(var + eps).view(view)
        if weight is not None:
            out = out * weight.view(view)
        if bias is not None:
            out = out + bias.view(view)
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1.0 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
                unbiased = var * (n / max(n - 1, 1))
                running_var.mul_(1.0 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
        return out.to(x.dtype)
