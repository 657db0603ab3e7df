"""Training: one loop for every model family, the per-family steps, and the recipes.

- :mod:`.loop`: ``run_loop`` (phases, EMA, warm-up and decay, clipping, NaN guard, exact resume,
  progress bar, callbacks that may stop a run), with :mod:`.ema`, :mod:`.guard`, :mod:`.batches`.
- :mod:`.callbacks`: sample grids, periodic evaluation, clean stops.
- :mod:`.diffusion`: ``train_diffusion``; :mod:`.classifier`: ``train_classifier``; :mod:`.vae`: ``train_vae``.
- :mod:`.objectives`: the VAE's negative ELBO and the GAN losses; :mod:`.recipes`: the shipped models' settings.
"""
