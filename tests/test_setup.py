"""The set-up itself: pinned requirements agree with environment.yml; config reads its variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from diffusion_course import config

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", line)
        assert m, f"not an exact pin: {line!r}"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_environment_yml_agrees_with_requirements():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_section) == 1, "environment.yml needs exactly one pip: section"
    assert _pins(pip_section[0]) == req
    conda_names = {str(d).split("=")[0] for d in env["dependencies"] if not isinstance(d, dict)}
    assert not (conda_names & set(req)), "a package is both a conda and a pip dependency"


def test_requirements_cover_pyproject_dependencies():
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.findall(r'"([A-Za-z0-9_\-]+)>=', text)
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    missing = {d.lower() for d in deps} - set(req) - {"setuptools"}
    assert not missing, f"pyproject dependencies without a pin in requirements.txt: {missing}"


def test_installed_versions_match_pins():
    from importlib.metadata import version

    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    for name in ("torch", "torchvision", "numpy", "nbval"):
        assert version(name).split("+")[0] == req[name], name


def test_quick_flag_and_folders_from_environment(monkeypatch, tmp_path):
    import importlib

    monkeypatch.setenv("DIFFUSION_COURSE_QUICK", "1")
    monkeypatch.setenv("DIFFUSION_COURSE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("DIFFUSION_COURSE_CACHE", str(tmp_path / "c"))
    cfg = importlib.reload(config)
    try:
        assert cfg.QUICK is True
        assert cfg.data_dir() == tmp_path / "d"
        assert cfg.cache_dir() == tmp_path / "c"
        monkeypatch.setenv("DIFFUSION_COURSE_QUICK", "0")
        assert importlib.reload(config).QUICK is False
    finally:
        monkeypatch.undo()
        importlib.reload(config)


def test_device_override(monkeypatch):
    monkeypatch.setenv("DIFFUSION_COURSE_DEVICE", "cpu")
    assert config.device().type == "cpu"
    if not __import__("torch").cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            config.device("cuda")


def test_seed_everything_gives_reproducible_generator():
    import torch

    a = torch.randn(5, generator=config.seed_everything(3))
    b = torch.randn(5, generator=config.seed_everything(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.randn(5, generator=config.seed_everything(4)))


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    commands = [
        ln for ln in ci.splitlines() if ln.strip() and not ln.startswith("#") and not ln.startswith(("set ", "cd "))
    ]
    # the README's test command, after only the system package it needs (chromium for the browser tests)
    assert commands[-1] == "make test"
    assert set(commands[:-1]) <= {'export CI="${CI:-1}"', "tools/install_chromium.sh"}
