"""Build a notebook from a percent-format script (``# %%`` code cells, ``# %% [markdown]`` text).

    python tools/py2nb.py SOURCE.py notebooks/NN_topic.ipynb [--execute] [--quick]

Markdown cells are written as ``# `` comment lines under their marker. With --execute the
notebook is run top to bottom (full mode unless --quick) and saved with its outputs, which is
what gets committed: nbval compares the cells marked ``# NBVAL_CHECK_OUTPUT``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import nbformat

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def parse(text: str) -> list:
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.splitlines())
            cells.append(nbformat.v4.new_markdown_cell(body))
        elif body.strip():
            cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    flush()
    return cells


def build(src: str, dst: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = parse(open(src).read())
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, dst)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--execute", action="store_true")
    p.add_argument("--quick", action="store_true", help="execute in QUICK mode")
    p.add_argument("--timeout", type=int, default=1800)
    a = p.parse_args()
    build(a.src, a.dst)
    if a.execute:
        env = dict(
            os.environ,
            DIFFUSION_COURSE_QUICK="1" if a.quick else "0",
            DIFFUSION_COURSE_DOWNLOAD="0",
        )
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--inplace",
            f"--ExecutePreprocessor.timeout={a.timeout}",
            os.path.abspath(a.dst),
        ]
        subprocess.run(cmd, check=True, env=env, cwd=os.path.dirname(os.path.abspath(a.dst)) or ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
