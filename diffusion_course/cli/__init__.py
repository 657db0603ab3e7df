"""Command line of the course: ``python -m diffusion_course <command> [options]``.

Commands (``<command> --help`` lists the options of each):

  train       train a recipe: a diffusion model, a VAE, an autoencoder, a latent model or a feature classifier
  sample      draw samples from any generative checkpoint; save a PNG grid or an .npz
  evaluate    the guidance sweep of a checkpoint, measured with the course metrics
  measure     any generative checkpoint (any family) measured by the common instruments
  compare-latent  pixel against latent diffusion: training and sampling cost, and quality
  arena       every model family of a dataset side by side: quality, diversity, speed
  bench       sweep samplers and steps; write assets/results/bench_<model>/
  floors      the real-vs-real floor and the corruption ladder of the image metrics
  report      regenerate the README's table of measured numbers from assets/results
  data        put the datasets under the data root (``data prepare``)

Argument parsing only: every command calls package functions. A command-line mistake prints one
line and exits with status 2.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": "diffusion_course.cli.train",
    "sample": "diffusion_course.cli.sample",
    "evaluate": "diffusion_course.cli.evaluate",
    "measure": "diffusion_course.cli.measure",
    "compare-latent": "diffusion_course.cli.compare_latent",
    "arena": "diffusion_course.cli.arena",
    "bench": "diffusion_course.cli.bench",
    "floors": "diffusion_course.cli.floors",
    "report": "diffusion_course.cli.report",
    "data": "diffusion_course.cli.data",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to its command's ``main(rest)``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"python -m diffusion_course: error: unknown command {name!r}; expected one of {sorted(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    return int(importlib.import_module(COMMANDS[name]).main(rest) or 0)
