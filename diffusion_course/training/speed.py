"""Speed options of the training loop: bf16 autocast (mixed precision), channels_last and ``torch.compile``.

- ``bf16``: the forward pass and the loss under ``torch.autocast`` with bfloat16 (mixed precision,
  Micikevicius et al. 2018; bfloat16 keeps float32's exponent range, so no loss scaling), on CUDA
  and on the CPU. Weights, gradients and optimizer state stay float32.
- ``channels_last``: the trained networks' 4-D weights and the image batches in NHWC memory order,
  which many convolution kernels prefer. The EMA copies stay in the usual (contiguous) order, and
  the networks go back to it at the end of the run. Dropout fills its masks in memory order, so
  a network with dropout sees other (equally distributed) masks than in contiguous order.
- ``compile``: each trained network's forward compiled in place by ``torch.compile``
  (``nn.Module.compile``, so its weights keep their names); undone at the end of the run. The
  first steps pay for the compilation, and compiled dropout draws its masks from the compiler's
  own generator (the same distribution, other masks than in eager mode).

:func:`speed_options` makes these the defaults of every :func:`~.loop.run_loop` inside it, so the
command line reaches every trainer (diffusion, VAE, GAN, classifier) without a new argument each.
Each option is recorded in the checkpoint config. Which of them help is measured by
``benchmarks/train_throughput.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

__all__ = ["Speed", "speed_options", "current_speed", "autocast", "apply_speed", "undo_speed", "to_channels_last"]


@dataclass(frozen=True)
class Speed:
    """Which speed options a run uses (all off: plain float32, contiguous, eager)."""

    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    def as_config(self) -> dict:
        return asdict(self)


_STACK: list[Speed] = [Speed()]


@contextmanager
def speed_options(*, bf16: bool = False, channels_last: bool = False, compile: bool = False) -> Iterator[Speed]:
    """Within the block, :func:`~.loop.run_loop` uses these options unless given its own ``speed``."""
    speed = Speed(bf16=bf16, channels_last=channels_last, compile=compile)
    _STACK.append(speed)
    try:
        yield speed
    finally:
        _STACK.pop()


def current_speed() -> Speed:
    """The options of the innermost :func:`speed_options` block (all off outside any)."""
    return _STACK[-1]


def autocast(speed: Speed, device: torch.device):
    """bf16 autocast on CUDA or the CPU when ``speed.bf16``; otherwise (or on other devices) nothing."""
    if speed.bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def apply_speed(speed: Speed, models: dict[str, nn.Module]) -> None:
    """channels_last weights and in-place compilation of the trained networks (call after copying the EMAs)."""
    for m in models.values():
        if speed.channels_last:
            m.to(memory_format=torch.channels_last)
        if speed.compile:
            m.compile()


def undo_speed(speed: Speed, models: dict[str, nn.Module]) -> None:
    """Back to contiguous, eager networks (as they came into the loop)."""
    for m in models.values():
        if speed.channels_last:
            m.to(memory_format=torch.contiguous_format)
        if speed.compile:
            m._compiled_call_impl = None


def to_channels_last(speed: Speed, batch: tuple[Tensor, Tensor | None]) -> tuple[Tensor, Tensor | None]:
    """An image batch (4-D) in channels_last order when ``speed.channels_last``; anything else as it is."""
    x, y = batch
    if speed.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last), y
    return batch
