"""Show the course in class: a notebook as a Voilà app (``make present``) or as slides (``make slides``).

    python tools/present.py [NOTEBOOK] [--dry-run] [VOILA OPTIONS, e.g. --port=8867]
    python tools/present.py --slides [NOTEBOOK] [--dry-run] [--out DIR]

The app: Voilà runs the notebook top to bottom in a fresh kernel and shows its outputs and live
widgets with the code hidden. NOTEBOOK is a file name in ``notebooks/`` or a path; the default is
the arena, ``notebooks/10_arena.ipynb``; while that notebook does not exist yet, the default falls
back to ``notebooks/08_latent_diffusion.ipynb`` and says so. A notebook asked for by name that is
missing is an error. As ``tools/lab.py`` does for JupyterLab, ``--no-browser`` is added when there
is no display (the URL to open is printed); unlike JupyterLab, Voilà has no root check and no
``--allow-root`` option, so none is added.

The slides: ``jupyter nbconvert --to slides`` writes a reveal.js HTML file into ``build/slides/``
(default notebook: 05, whose cells are marked). A cell becomes a slide through its metadata
``slideshow.slide_type`` (JupyterLab: the property inspector, "Slide Type"): ``slide`` starts one,
``subslide`` goes below it, ``-`` (or no mark) continues it, ``skip`` leaves the cell out,
``notes`` makes speaker notes. The HTML loads reveal.js from its CDN, so the lecture machine
needs the network, or ``--SlidesExporter.reveal_url_prefix=<a local reveal.js 4>``.

The command lines are built by ``voila_argv`` and ``slides_argv`` (pure functions, tested in
``tests/test_present.py``); ``main`` replaces this process with Voilà or nbconvert, run by the
same Python (the project's venv).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
DEFAULT_NOTEBOOK = "10_arena.ipynb"
FALLBACK_NOTEBOOK = "08_latent_diffusion.ipynb"
DEFAULT_SLIDES = "05_ddim_and_fast_samplers.ipynb"
SLIDES_DIR = REPO / "build" / "slides"
SLIDE_STARTS = ("slide", "subslide")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab import display_available  # noqa: E402  (tools/ is not a package)


def voila_argv(
    has_display: bool, notebook: str, extra: tuple[str, ...] | list[str] = (), python: str = sys.executable
) -> list[str]:
    """The Voilà command line: ``--no-browser`` without a display; ``extra`` goes to Voilà as it is.
    Code cells are hidden (Voilà's default ``strip_sources``) and tracebacks shown in the page."""
    argv = [python, "-m", "voila"]
    if not has_display and "--no-browser" not in extra:
        argv.append("--no-browser")
    return [*argv, "--show_tracebacks=True", *extra, notebook]


def slides_argv(notebook: str, out_dir: str | Path = SLIDES_DIR, python: str = sys.executable) -> list[str]:
    """``jupyter nbconvert --to slides``: a reveal.js HTML file in ``out_dir``; long slides scroll."""
    return [
        python,
        "-m",
        "jupyter",
        "nbconvert",
        "--to",
        "slides",
        "--SlidesExporter.reveal_scroll=True",
        f"--output-dir={out_dir}",
        notebook,
    ]


def notebook_path(name: str) -> Path:
    """``notebooks/<name>`` for a bare file name, else the path as given."""
    return NOTEBOOK_DIR / name if "/" not in name and os.sep not in name else Path(name)


def resolve(name: str | None, default: str, fallback: str | None = None) -> tuple[Path, str]:
    """The notebook to show and a note for the user ('' when there is nothing to say).

    A missing default falls back to ``fallback``; a missing notebook asked for by name is a ValueError
    that lists the notebooks there are."""
    path = notebook_path(name or default)
    if path.is_file():
        return path, ""
    if name is None and fallback and notebook_path(fallback).is_file():
        note = (
            f"{path.relative_to(REPO)} does not exist yet; showing {notebook_path(fallback).relative_to(REPO)} "
            f"instead (choose another with NB=<name>, e.g. make present NB=07_vaes.ipynb)."
        )
        return notebook_path(fallback), note
    there = ", ".join(p.name for p in sorted(NOTEBOOK_DIR.glob("*.ipynb")))
    raise ValueError(f"no notebook {path}; the notebooks are: {there}")


def marked_slides(path: Path) -> int:
    """How many cells start a slide or a sub-slide (``slideshow.slide_type`` slide or subslide)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(c.get("metadata", {}).get("slideshow", {}).get("slide_type") in SLIDE_STARTS for c in cells)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="tools/present.py",
        description="Show a notebook in class: as a Voilà app (make present) or as slides (make slides).",
        epilog=f"NOTEBOOK: a file in notebooks/ or a path (default {DEFAULT_NOTEBOOK} for the app, "
        f"{DEFAULT_SLIDES} for --slides); any other argument goes to Voila as it is.",
    )
    parser.add_argument("--slides", action="store_true", help="write reveal.js slides instead of starting Voila")
    parser.add_argument("--out", default=str(SLIDES_DIR), help="folder for the slides (default build/slides)")
    parser.add_argument("--dry-run", action="store_true", help="print the command line instead of running it")
    args, rest = parser.parse_known_args(argv)
    notebooks = [a for a in rest if a.endswith(".ipynb") and not a.startswith("-")]
    if len(notebooks) > 1:
        parser.error(f"one notebook at most, got {len(notebooks)}: {' '.join(notebooks)}")
    extra = [a for a in rest if a not in notebooks]
    asked = notebooks[0] if notebooks else None
    try:
        if args.slides:
            path, note = resolve(asked, DEFAULT_SLIDES)
        else:
            path, note = resolve(asked, DEFAULT_NOTEBOOK, FALLBACK_NOTEBOOK)
    except ValueError as err:
        parser.exit(2, f"tools/present.py: error: {err}\n")
    if args.slides:
        if extra:
            parser.error(f"--slides takes no other options: {' '.join(extra)}")
        command = slides_argv(str(path), args.out)
        out = Path(args.out) / f"{path.stem}.slides.html"
        if not marked_slides(path):
            note = f"no cell of {path.name} is marked as a slide (metadata slideshow.slide_type): one long slide."
        note = (note + "\n" if note else "") + f"Writing {out}: open it in a browser (reveal.js comes from its CDN)."
    else:
        has_display = display_available()
        command = voila_argv(has_display, str(path), extra)
        if not has_display and not args.dry_run:
            note += (
                ("\n" if note else "")
                + "No display found, so no browser will open: open the URL Voila prints below (default "
                "http://localhost:8866/; the page appears once every cell has run). Stop it with Ctrl-C."
            )
    if note:  # to stderr: stdout carries only the command line under --dry-run
        print(note, file=sys.stderr, flush=True)
    if args.dry_run:
        print(" ".join(command))
        return
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
