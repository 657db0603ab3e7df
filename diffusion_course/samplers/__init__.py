"""Samplers for discrete-time diffusion models, as pure functions.

Every sampler has the signature::

    x0 = sampler(model, x_T, schedule, timesteps, *, prediction="eps", generator=None,
                 callback=None, clip_x0=None, stats=None, **opts)

``timesteps`` is a strictly descending sequence of training timesteps in ``0..T-1``
(``schedule.timesteps(n)``); step ``i`` goes from ``timesteps[i]`` to ``timesteps[i+1]``, and
the last step goes to clean data (``alpha_bar = 1``: alpha 1, sigma 0). ``model(x_t, t)`` returns
a prediction of kind ``prediction`` (eps, x0, v or score; converted with :mod:`param`).
``clip_x0=c`` clamps the predicted x0 to ``[-c, c]`` (and re-derives eps from it).
``callback(info)`` is called after every step with ``info = {"i", "t", "x", "x0_pred", "nfe"}``:
``x`` is the state after step ``i``, ``x0_pred`` the prediction made at timestep ``t``.
``stats["nfe"]`` counts model evaluations. Randomness only through ``generator``.

Notation (CONTRIBUTING.md): ``abar_t`` = ``schedule.alpha_bar[t]``, ``alpha_t = sqrt(abar_t)``,
``sigma_t = sqrt(1 - abar_t)``, ``lambda_t = log(alpha_t / sigma_t)``. In the formulas ``s`` is
the next timestep (as in the papers); in code it is ``t_next``, and the suffix ``_next`` marks a
coefficient there. ``sigma`` is always spelled out.

One file per sampler (ddpm, ddim, dpm_solver, pf_ode, sde, langevin; ddim_inversion runs DDIM backwards), the shared
:class:`~diffusion_course.samplers.run.SamplerRun`, and :mod:`~diffusion_course.samplers.registry`:
the one table of named samplers that the command line, the benchmarks and the notebooks use.
Classifier-free guidance is a model wrapper in :mod:`diffusion_course.diffusion.guidance`;
sampling timesteps come from :mod:`diffusion_course.diffusion.spacing`.
"""

from __future__ import annotations

from .ddim import ddim
from .ddim_inversion import ddim_invert
from .ddpm import VARIANCES, ddpm
from .dpm_solver import dpm_solver_pp
from .langevin import annealed_langevin
from .pf_ode import pf_ode_euler, pf_ode_heun
from .registry import SAMPLERS, get_sampler, sample
from .run import SamplerRun
from .sde import reverse_sde_em

__all__ = [
    "ddpm",
    "ddim",
    "ddim_invert",
    "dpm_solver_pp",
    "pf_ode_euler",
    "pf_ode_heun",
    "reverse_sde_em",
    "annealed_langevin",
    "VARIANCES",
    "SamplerRun",
    "SAMPLERS",
    "get_sampler",
    "sample",
]
