"""The NaN guard: stop a run whose loss is not finite or explodes, and say what to change."""

from __future__ import annotations

import math

__all__ = ["TrainingDivergedError", "DivergenceGuard"]


class TrainingDivergedError(ValueError):
    """The loss became NaN/inf or exploded; ``.step`` and ``.loss`` say where."""

    def __init__(self, step: int, loss: float, reason: str, lr: float, phase: str | None = None) -> None:
        self.step, self.loss, self.phase = step, loss, phase
        where = f" in phase {phase!r}" if phase else ""
        super().__init__(
            f"training diverged at step {step}{where}: loss {loss:.4g} ({reason}). Lower the learning "
            f"rate (lr={lr:g}), keep grad_clip on, and check that the data lies in [-1, 1]"
        )


class DivergenceGuard:
    """NaN / explosion guard: raise when a loss is not finite or the smoothed loss grows 1000x.

    The explosion test needs a positive best loss (losses that go negative, as a GAN's generator
    loss can, are checked for finiteness only), and measures growth from ``max(best, floor)``: a
    loss that touches zero and comes back to a small value (a hinge discriminator's, at 1e-5 then
    0.07) has not exploded, so an explosion must also pass ``factor * floor`` (10 by default).
    One guard per phase.
    """

    def __init__(self, factor: float = 1e3, beta: float = 0.9, patience: int = 20, floor: float = 1e-2) -> None:
        self.factor, self.beta, self.patience, self.floor = factor, beta, patience, floor
        self.smooth, self.best, self.n = None, math.inf, 0

    def check(self, step: int, loss: float, grad_finite: bool, lr: float, phase: str | None = None) -> None:
        if not math.isfinite(loss) or not grad_finite:
            raise TrainingDivergedError(
                step,
                loss,
                "not finite" if not math.isfinite(loss) else "gradient not finite",
                lr,
                phase,
            )
        self.smooth = loss if self.smooth is None else self.beta * self.smooth + (1 - self.beta) * loss
        self.n += 1
        if self.n > self.patience and self.best > 0 and self.smooth > self.factor * max(self.best, self.floor):
            raise TrainingDivergedError(
                step,
                loss,
                f"smoothed loss {self.smooth:.3g} is over {self.factor:g}x its best {self.best:.3g}"
                + (f" (and over {self.factor * self.floor:g})" if self.best < self.floor else ""),
                lr,
                phase,
            )
        if self.n >= self.patience // 2:
            self.best = min(self.best, self.smooth)
