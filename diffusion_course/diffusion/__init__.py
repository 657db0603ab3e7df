"""The diffusion math: no networks, no files, no plots.

- :mod:`.schedules`: ``NoiseSchedule`` tables in float64 (the notation is stated there, once);
  ``make_schedule``, ``schedule_from_config``.
- :mod:`.spacing`: which timesteps a sampler visits (trailing, leading, linspace, log-SNR).
- :mod:`.forward`: ``q(x_t | x_0)``, the Markov step, the posterior ``q(x_{t-1} | x_t, x_0)``.
- :mod:`.parameterization`: converting eps / x0 / v / score predictions into each other.
- :mod:`.losses`: the diffusion objective and its weightings across noise levels.
- :mod:`.guidance`: classifier-free guidance as a model wrapper.
- :mod:`.vlb`: DDPM's variational bound (L_T, the KL terms, L_0) and its weights on the eps error.
"""
