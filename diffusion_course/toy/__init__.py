"""The 2-D toy world: Gaussian-mixture oracles (exact eps / score under any schedule) and 2-D metrics.

- :mod:`.oracle`: ``GaussianMixture``, ``MixtureDenoiser`` (the exact denoiser of a mixture).
- :mod:`.metrics`: sliced / exact Wasserstein, MMD, mixture log-likelihood, mode coverage.
"""
