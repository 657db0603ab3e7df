"""Classroom mode: `make present` (a notebook as a Voilà app) and `make slides` (reveal.js slides), no browser.

The Voilà app itself is opened in a real browser by tests/test_widgets_browser.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKED = ROOT / "notebooks" / "05_ddim_and_fast_samplers.ipynb"


def _load_present():
    spec = importlib.util.spec_from_file_location("course_tools_present", ROOT / "tools" / "present.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


present = _load_present()


@pytest.mark.parametrize("has_display", [True, False])
def test_voila_hides_code_and_opens_a_browser_only_with_a_display(has_display):
    argv = present.voila_argv(has_display, "notebooks/08_latent_diffusion.ipynb")
    assert argv[:3] == [sys.executable, "-m", "voila"] and argv[-1] == "notebooks/08_latent_diffusion.ipynb"
    assert ("--no-browser" in argv) is (not has_display)
    assert "--allow-root" not in argv, "voila has no --allow-root option (and no root check)"
    assert not any(a.startswith("--strip_sources") for a in argv), "code cells must stay hidden (Voila's default)"
    assert present.voila_argv(False, "x.ipynb", ["--no-browser", "--port=9999"]).count("--no-browser") == 1


def test_voila_knows_the_options_and_hides_code_by_default():
    pytest.importorskip("voila")
    from voila.configuration import VoilaConfiguration

    assert VoilaConfiguration().strip_sources is True
    out = subprocess.run([sys.executable, "-m", "voila", "--help-all"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for flag in ("--no-browser", "--port", "--show_tracebacks"):
        assert flag in out.stdout, f"voila does not list {flag}"


def test_default_is_the_arena_with_a_fallback_while_it_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(present, "REPO", tmp_path)
    monkeypatch.setattr(present, "NOTEBOOK_DIR", tmp_path / "notebooks")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / present.FALLBACK_NOTEBOOK).write_text("{}")
    path, note = present.resolve(None, present.DEFAULT_NOTEBOOK, present.FALLBACK_NOTEBOOK)
    assert path.name == present.FALLBACK_NOTEBOOK
    assert "10_arena.ipynb does not exist yet" in note and present.FALLBACK_NOTEBOOK in note
    (tmp_path / "notebooks" / present.DEFAULT_NOTEBOOK).write_text("{}")
    assert present.resolve(None, present.DEFAULT_NOTEBOOK, present.FALLBACK_NOTEBOOK) == (
        tmp_path / "notebooks" / "10_arena.ipynb",
        "",
    )
    with pytest.raises(ValueError, match=r"no notebook .*99_nope.ipynb; the notebooks are: 08_latent"):
        present.resolve("99_nope.ipynb", present.DEFAULT_NOTEBOOK, present.FALLBACK_NOTEBOOK)


def test_dry_run_prints_the_voila_command_and_says_what_it_shows(capsys, monkeypatch):
    monkeypatch.setattr(present, "display_available", lambda: False)
    present.main(["07_vaes.ipynb", "--port=8870", "--dry-run"])
    out = capsys.readouterr()
    assert out.out.split() == present.voila_argv(False, str(ROOT / "notebooks" / "07_vaes.ipynb"), ["--port=8870"])
    present.main(["--dry-run"])
    out = capsys.readouterr()
    shown = out.out.split()[-1]
    if (ROOT / "notebooks" / present.DEFAULT_NOTEBOOK).exists():
        assert shown.endswith(present.DEFAULT_NOTEBOOK) and not out.err
    else:
        assert shown.endswith(present.FALLBACK_NOTEBOOK) and "does not exist yet" in out.err


def test_a_missing_notebook_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        present.main(["99_nope.ipynb", "--dry-run"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("tools/present.py: error: no notebook")


def _make_dry_run(*args: str) -> str:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    out = subprocess.run([make, "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_present_and_make_slides_run_the_tool_with_nb():
    assert re.search(r"tools/present\.py 07_vaes\.ipynb$", _make_dry_run("present", "NB=07_vaes.ipynb"), re.M)
    assert re.search(r"tools/present\.py\s*$", _make_dry_run("present"), re.M), "no NB: the tool picks its default"
    assert re.search(
        r"tools/present\.py --slides 05_ddim\S*\.ipynb$", _make_dry_run("slides", f"NB={MARKED.name}"), re.M
    )
    assert re.search(r"tools/present\.py --slides\s*$", _make_dry_run("slides"), re.M)


def _slide_types(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [c["metadata"].get("slideshow", {}).get("slide_type", "-") for c in cells]


def test_notebook_05_is_marked_for_slides():
    types = _slide_types(MARKED)
    assert types[0] == "slide" and types.count("slide") >= 10 and "subslide" in types and "skip" in types
    assert set(types) <= {"slide", "subslide", "fragment", "-", "skip", "notes"}
    assert present.marked_slides(MARKED) == types.count("slide") + types.count("subslide")


def _sections(html: str) -> dict[int, int]:
    """How many reveal.js <section> elements open at each depth inside <div class="slides">."""
    body = html[html.index('<div class="slides">') :]
    depth, counts = 0, {}
    for tag in re.findall(r"<section[ >]|</section>", body):
        if tag.startswith("</"):
            depth -= 1
        else:
            depth += 1
            counts[depth] = counts.get(depth, 0) + 1
    assert depth == 0, "unbalanced <section> tags"
    return counts


def test_slides_export_has_one_section_per_marked_slide(tmp_path):
    pytest.importorskip("nbconvert")
    out = subprocess.run(present.slides_argv(str(MARKED), tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    html = (tmp_path / f"{MARKED.stem}.slides.html").read_text(encoding="utf-8")
    types = _slide_types(MARKED)
    counts = _sections(html)
    # a slide is a <section> holding its sub-slides; every slide and sub-slide is an inner <section>
    assert counts == {1: types.count("slide"), 2: types.count("slide") + types.count("subslide")}
    assert "Reveal.initialize" in html and "05 · DDIM and fast samplers" in html
    assert "Not answered yet" in MARKED.read_text() and "Not answered yet" not in html, "skipped cells are left out"
    assert [p.name for p in tmp_path.iterdir()] == [f"{MARKED.stem}.slides.html"]


def test_the_readme_points_to_the_measured_classroom_timing():
    from diffusion_course.evaluation.results import read_result

    result = read_result("classroom_timing")  # raises unless every provenance field is there
    assert result["command"].startswith("python benchmarks/classroom_timing.py")
    for key in ("seconds_to_first_widget", "redraw_seconds_median", "redraw_seconds_max", "kernel_threads"):
        assert isinstance(result[key], int | float) and result[key] > 0, key
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Using it in class", 1)[1].split("\n## ")[0]
    for needed in ("make present", "make slides", "`classroom_timing`", "benchmarks/classroom_timing.py"):
        assert needed in section, f"README's 'Using it in class' does not mention {needed}"


def test_classroom_timing_refuses_a_missing_notebook_in_one_line(capsys):
    spec = importlib.util.spec_from_file_location("bench_classroom", ROOT / "benchmarks" / "classroom_timing.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--notebook", "99_nope.ipynb", "--results-dir", "/nonexistent"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("no notebook" in err or "chromium" in err or "playwright" in err)
