"""The command line: every command answers --help, and a mistake is one line on stderr with status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from diffusion_course.cli import COMMANDS, main


def test_unknown_command_is_one_line_and_status_2(capsys):
    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'bogus'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0 and "usage" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "mnist-ddpm", "--n", "0"], "must be an integer >= 1"),
        (["bench", "--model", "nope"], "invalid choice"),
        (["train", "no-recipe"], "invalid choice"),
        (["train", "toy-ddpm", "--p-uncond", "2"], "[0, 1)"),
        (["train", "toy-ddpm", "--epochs", "2", "--out", "/tmp/never-written.pt"], "--epochs applies"),
        (["floors", "--dataset", "svhn", "--n", "10"], "no feature network for dataset 'svhn'"),
        (["evaluate", "nothing-shipped", "--n", "10", "--device", "cpu"], "unknown pretrained checkpoint"),
    ],
)
def test_mistakes_print_one_line_and_exit_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_python_dash_m_runs_the_cli_without_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "diffusion_course", "sample"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
