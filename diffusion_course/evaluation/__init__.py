"""Evaluation: the same instruments for every model family.

- :mod:`.features`: the feature network registered per dataset (MNIST now).
- :mod:`.image_metrics`: classifier FID/KID, precision/recall, class coverage, for any C x H x W.
- :mod:`.floors`: the real-vs-real floor and the corruption ladder that make those numbers readable.
- :mod:`.sharpness`: mean gradient magnitude and high-frequency share, as ratios to real images.
- :mod:`.measure`: any checkpoint of any family through all of the above, plus ms and network
  evaluations per image (the ``measure`` command).
- :mod:`.guidance`, :mod:`.bench`: the guidance sweep and the sampler benchmark.
- :mod:`.results`: the one results writer (and reader); :mod:`.report`: the README's measured table.
"""
