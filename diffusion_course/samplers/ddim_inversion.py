"""DDIM inversion (Song, Meng & Ermon 2021, section 4.3): the deterministic DDIM map run from data to noise.

Signature and conventions: :mod:`diffusion_course.samplers` (the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

from .run import SamplerRun

__all__ = ["ddim_invert"]


def ddim_invert(
    model: Callable,
    x0: Tensor,
    schedule,
    timesteps,
    *,
    prediction: str = "eps",
    callback: Callable | None = None,
    clip_x0: float | None = None,
    stats: dict | None = None,
) -> Tensor:
    """DDIM inversion (Song, Meng & Ermon 2021, sec. 4.3): encode data ``x0`` to a noise ``x_T``.

    ``timesteps`` is the strictly descending sequence that :func:`~.ddim.ddim` samples with;
    inversion walks it the other way, so that ``ddim(model, ddim_invert(model, x0, ...), ...)``
    returns about ``x0``. The start is ``x_{t_0} = x0`` at the smallest timestep ``t_0``
    (where ``abar`` is close to 1); then each step from ``t`` up to the next larger ``s`` uses
    the prediction at the current point, the DDIM step with the roles of ``t`` and ``s`` swapped:
    ``x_s = sqrt(abar_s) x0_hat(x_t, t) + sqrt(1 - abar_s) eps_hat(x_t, t)``. ``len(timesteps) - 1``
    network evaluations. The round trip is exact only in the limit of small steps (the ODE is
    evaluated at the start of each step in both directions); its error against the number of
    steps is what notebook 06 measures. ``callback`` gets ``{"i", "t", "x", "x0_pred", "nfe"}``
    after each step, ``t`` being the timestep the prediction was made at.
    """
    run = SamplerRun(model, x0, schedule, timesteps, prediction, clip_x0, stats, callback)
    ascending = run.timesteps[::-1]
    x = x0
    for i, (t, s) in enumerate(zip(ascending[:-1], ascending[1:])):
        x0_hat, eps = run(x, t)
        ab_s = run.alpha_bar(s)
        x = math.sqrt(ab_s) * x0_hat + math.sqrt(1 - ab_s) * eps
        run.report(i, t, x, x0_hat)
    return x
