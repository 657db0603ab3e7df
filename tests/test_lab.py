"""`make lab`: the JupyterLab command line built by tools/lab.py (root, headless machines)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_lab():
    spec = importlib.util.spec_from_file_location("course_tools_lab", ROOT / "tools" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lab = _load_lab()


@pytest.mark.parametrize("has_display", [True, False])
def test_allow_root_only_for_root(has_display):
    assert "--allow-root" in lab.lab_argv(is_root=True, has_display=has_display)
    assert "--allow-root" not in lab.lab_argv(is_root=False, has_display=has_display)


@pytest.mark.parametrize("is_root", [True, False])
def test_no_browser_only_without_display(is_root):
    assert "--no-browser" in lab.lab_argv(is_root=is_root, has_display=False)
    assert "--no-browser" not in lab.lab_argv(is_root=is_root, has_display=True)


def test_runs_jupyter_lab_of_this_python_on_the_notebook():
    argv = lab.lab_argv(is_root=True, has_display=False, notebook="notebooks/00_welcome.ipynb")
    assert argv[:4] == [sys.executable, "-m", "jupyter", "lab"]
    assert argv[-1] == "notebooks/00_welcome.ipynb"
    assert (ROOT / lab.DEFAULT_NOTEBOOK).is_file()


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"DISPLAY": ""}, "linux", False),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_display_available(environ, platform, expected):
    assert lab.display_available(environ, platform) is expected


def test_dry_run_prints_the_command_for_the_current_user(capsys, monkeypatch):
    monkeypatch.setattr(lab, "user_is_root", lambda: True)
    monkeypatch.setattr(lab, "display_available", lambda: False)
    lab.main(["notebooks/00_welcome.ipynb", "--dry-run"])
    printed = capsys.readouterr().out.split()
    assert printed == lab.lab_argv(is_root=True, has_display=False)


def test_other_options_go_to_jupyter_lab(capsys, monkeypatch):
    monkeypatch.setattr(lab, "user_is_root", lambda: False)
    monkeypatch.setattr(lab, "display_available", lambda: True)
    lab.main(["--port", "8890", "--dry-run"])
    printed = capsys.readouterr().out.split()
    assert printed == [sys.executable, "-m", "jupyter", "lab", "--port", "8890", lab.DEFAULT_NOTEBOOK]
    lab.main(["--port", "8890", "notebooks/01_forward_process.ipynb", "--dry-run"])
    printed = capsys.readouterr().out.split()
    assert printed[-3:] == ["--port", "8890", "notebooks/01_forward_process.ipynb"]


def test_make_lab_runs_the_helper():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lab:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert recipe is not None, "no lab target in the Makefile"
    assert "tools/lab.py" in recipe.group(1)


def test_jupyter_lab_knows_the_flags():
    pytest.importorskip("jupyterlab")
    command = [sys.executable, "-m", "jupyter", "lab", "--help"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for flag in ("--allow-root", "--no-browser"):
        assert flag in out.stdout, f"jupyter lab does not list {flag}"
