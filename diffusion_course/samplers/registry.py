"""The one table of named samplers: the command line, the benchmarks and the notebooks use it.

Each entry is a sampler function of this folder with fixed options (``ddim_eta1`` is DDIM with
``eta = 1``), a one-line description, and its cost in model evaluations per sample for ``n``
timesteps (all but Heun take one evaluation per timestep).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor

from .ddim import ddim
from .ddpm import ddpm
from .dpm_solver import dpm_solver_pp
from .pf_ode import pf_ode_heun
from .sde import reverse_sde_em

__all__ = ["SamplerEntry", "SAMPLERS", "get_sampler", "sample", "nfe_for"]


@dataclass(frozen=True)
class SamplerEntry:
    """A named sampler: the function, the options it is called with, and what it is."""

    function: Callable[..., Tensor]
    options: dict = field(default_factory=dict)
    description: str = ""
    evals_per_step: int = 1  # Heun: 2, less one on the last step

    def nfe(self, steps: int) -> int:
        """Model evaluations per sample for ``steps`` timesteps."""
        return self.evals_per_step * steps - (self.evals_per_step - 1)


SAMPLERS: dict[str, SamplerEntry] = {
    "ddpm": SamplerEntry(ddpm, {}, "DDPM ancestral sampling (Ho et al. 2020)"),
    "ddim": SamplerEntry(ddim, {"eta": 0.0}, "DDIM, deterministic (Song et al. 2021)"),
    "ddim_eta1": SamplerEntry(ddim, {"eta": 1.0}, "DDIM with eta 1: DDPM's step, DDIM's code"),
    "dpm_solver_pp": SamplerEntry(dpm_solver_pp, {"order": 2}, "DPM-Solver++(2M) (Lu et al. 2022)"),
    "heun": SamplerEntry(pf_ode_heun, {}, "probability-flow ODE, Heun (Karras et al. 2022)", 2),
    "euler_maruyama": SamplerEntry(reverse_sde_em, {}, "reverse SDE, Euler-Maruyama (Song et al. 2021)"),
}


def _entry(name: str) -> SamplerEntry:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; expected one of {sorted(SAMPLERS)}")
    return SAMPLERS[name]


def get_sampler(name: str) -> Callable[..., Tensor]:
    """The sampler ``name`` as a function with its registry options bound (same signature)."""
    entry = _entry(name)
    return functools.partial(entry.function, **entry.options)


def nfe_for(name: str, steps: int) -> int:
    """Model evaluations per sample that sampler ``name`` spends on ``steps`` timesteps."""
    return _entry(name).nfe(steps)


def sample(name: str, model: Callable, x_T: Tensor, schedule, timesteps, **kwargs) -> Tensor:
    """Run the registered sampler ``name``: ``get_sampler(name)(model, x_T, schedule, timesteps, **kwargs)``."""
    return get_sampler(name)(model, x_T, schedule, timesteps, **kwargs)
