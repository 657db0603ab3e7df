"""Open the course in JupyterLab: what ``make lab`` runs.

    python tools/lab.py [NOTEBOOK] [--dry-run] [JUPYTER LAB OPTIONS, e.g. --port 8890]

Two things make ``jupyter lab`` fail or look stuck on machines where the course often runs:

- as root (containers, CI-like images, many classroom machines) Jupyter refuses to start
  ("Running as root is not recommended. Use --allow-root to bypass."), so ``--allow-root`` is
  added when the effective user is root;
- with no display (a headless or remote machine) no browser can be opened, so ``--no-browser``
  is added and the user is told to open the URL that Jupyter prints (it carries the login token).

The command line is built by ``lab_argv`` (a pure function, tested in ``tests/test_lab.py``);
``main`` replaces this process with JupyterLab, run by the same Python (the project's venv).
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_NOTEBOOK = "notebooks/00_welcome.ipynb"


def lab_argv(
    is_root: bool,
    has_display: bool,
    notebook: str = DEFAULT_NOTEBOOK,
    extra: tuple[str, ...] | list[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """The JupyterLab command line: ``--allow-root`` for root, ``--no-browser`` without a display;
    ``extra`` options go to ``jupyter lab`` as they are."""
    argv = [python, "-m", "jupyter", "lab"]
    if is_root:
        argv.append("--allow-root")
    if not has_display:
        argv.append("--no-browser")
    return [*argv, *extra, notebook]


def user_is_root() -> bool:
    """Whether the effective user is root (always False where there is no ``os.geteuid``, e.g. Windows)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def display_available(environ: dict | None = None, platform: str = sys.platform) -> bool:
    """Whether a browser window can be opened: always on macOS and Windows; on Linux and other
    Unix systems only with an X11 or Wayland display (``DISPLAY`` or ``WAYLAND_DISPLAY`` set)."""
    environ = os.environ if environ is None else environ
    if platform == "darwin" or platform.startswith("win"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="tools/lab.py",
        description="Open the course in JupyterLab (what make lab runs).",
        epilog=f"NOTEBOOK (a path ending in .ipynb, default {DEFAULT_NOTEBOOK}) is opened first; "
        "any other argument goes to jupyter lab as it is.",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command line instead of running it")
    args, rest = parser.parse_known_args(argv)
    notebooks = [a for a in rest if a.endswith(".ipynb") and not a.startswith("-")]
    if len(notebooks) > 1:
        parser.error(f"one notebook at most, got {len(notebooks)}: {' '.join(notebooks)}")
    extra = [a for a in rest if a not in notebooks]
    has_display = display_available()
    command = lab_argv(user_is_root(), has_display, notebooks[0] if notebooks else DEFAULT_NOTEBOOK, extra)
    if args.dry_run:
        print(" ".join(command))
        return
    if not has_display:
        print(
            "No display found, so no browser will open. JupyterLab prints the URL to open below\n"
            "(like http://localhost:8888/lab?token=..., the port may differ); on a remote machine\n"
            "forward that port first, e.g. ssh -L 8888:localhost:8888 <this machine>. Stop it with Ctrl-C.",
            flush=True,
        )
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
