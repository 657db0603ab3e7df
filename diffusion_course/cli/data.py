"""``python -m diffusion_course data prepare [--root DIR]``: put MNIST and CIFAR-10 under the data root."""

from __future__ import annotations

import sys

from .common import Parser

PROG = "python -m diffusion_course data"


def main(argv: list[str] | None = None) -> int:
    """Prepare the datasets: from ../shared/data when it is beside the checkout (offline), else download."""
    p = Parser(prog=PROG, description=main.__doc__)
    p.add_argument("command", choices=["prepare"])
    p.add_argument("--root", default=None, help="data root (default: DIFFUSION_COURSE_DATA or ~/.cache)")
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    from ..data import prepare

    print("data root:", prepare(a.root))
    return 0
