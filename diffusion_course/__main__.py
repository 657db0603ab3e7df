"""``python -m diffusion_course <command>``: see :mod:`diffusion_course.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
