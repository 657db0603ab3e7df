"""``python -m diffusion_course report [--check]``: regenerate the README's table of measured numbers."""

from __future__ import annotations

import sys

from .common import Parser, fail, run_guarded

PROG = "python -m diffusion_course report"


def main(argv: list[str] | None = None) -> int:
    """Rewrite README.md's measured table from assets/results and the manifest; ``--check`` only compares."""
    p = Parser(prog=PROG, description=main.__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 when the README is out of date; change nothing")
    p.add_argument("--readme", default=None, help="the file to update (default: the repository's README.md)")
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))

    def run() -> int:
        from ..config import REPO_ROOT
        from ..evaluation.report import update_readme

        path = a.readme or REPO_ROOT / "README.md"
        ok = update_readme(path, check=a.check)
        if a.check and not ok:
            print(f"{path} is out of date: run `python -m diffusion_course report`", file=sys.stderr)
            return 1
        print(f"{path}: measured table {'up to date' if a.check else 'written'}")
        return 0

    return (
        run_guarded(PROG, run)
        if a.readme is None or a.readme.endswith(".md")
        else fail(PROG, "--readme must be a .md file")
    )
