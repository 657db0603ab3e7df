"""Command line of the course: ``python -m diffusion_course <command> [options]``.

Commands (each is ``main(argv)`` of a package module; ``<command> --help`` lists its options):

  train       train a diffusion model or the MNIST feature classifier   (diffusion_course.train)
  sample      draw samples from a checkpoint and save a grid            (diffusion_course.evaluate)
  evaluate    measure a checkpoint's samples with the course metrics    (diffusion_course.evaluate)
  bench       sweep samplers and steps; write assets/results/           (diffusion_course.bench)
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": ("diffusion_course.train", "main"),
    "sample": ("diffusion_course.evaluate", "sample_main"),
    "evaluate": ("diffusion_course.evaluate", "main"),
    "bench": ("diffusion_course.bench", "main"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}; expected one of {sorted(COMMANDS)}", file=sys.stderr)
        return 2
    module, func = COMMANDS[name]
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
