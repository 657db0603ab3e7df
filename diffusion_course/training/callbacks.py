"""Callbacks for :func:`~diffusion_course.training.loop.run_loop`: sample grids, evaluations, clean stops.

Each is an :class:`~diffusion_course.training.loop.Every`: called every ``n`` steps with the loop's
``info`` dict (``step``, ``lr``, ``loss``, ``models``, ``emas``); returning ``STOP`` ends the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from ..pipelines.save import save_grid
from .loop import STOP, Every

__all__ = ["sample_grid", "evaluate_every", "stop_when", "stop_after_seconds"]


def sample_grid(
    every: int,
    sample_fn: Callable[[nn.Module, int], Tensor],
    run_dir: str | Path | None = None,
    model: str = "model",
) -> Every:
    """Every ``every`` steps draw ``sample_fn(ema, step)`` into ``info["samples"]`` and, with ``run_dir``,
    to ``run_dir/samples_<step>.png``."""

    def fn(info: dict) -> None:
        ema = info["emas"].get(model, info["models"][model])
        info["samples"] = images = sample_fn(ema, info["step"]).detach().cpu()
        if run_dir is not None:
            save_grid(images, Path(run_dir) / f"samples_{info['step']:07d}.png")

    return Every(every, fn)


def evaluate_every(every: int, evaluate: Callable[[dict], dict], log: list | None = None) -> Every:
    """Every ``every`` steps call ``evaluate(info)``; its dict goes to ``info["eval"]`` and to ``log``."""

    def fn(info: dict) -> None:
        info["eval"] = result = {"step": info["step"], **evaluate(info)}
        if log is not None:
            log.append(result)

    return Every(every, fn)


def stop_when(every: int, predicate: Callable[[dict], bool]) -> Every:
    """Every ``every`` steps stop the run cleanly when ``predicate(info)`` is true."""
    return Every(every, lambda info: STOP if predicate(info) else None)


def stop_after_seconds(seconds: float, every: int = 1) -> Every:
    """Stop the run cleanly once ``seconds`` of wall time have passed since this callback was made."""
    t0 = time.perf_counter()
    return stop_when(every, lambda info: time.perf_counter() - t0 >= seconds)
