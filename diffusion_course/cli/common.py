"""Shared pieces of the commands: a one-line-error parser, devices, and the guarded run."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

__all__ = ["Parser", "command_line", "run_guarded", "positive_int", "fail", "add_result_options", "refuse_to_overwrite"]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message: str):  # noqa: D401 (argparse's name)
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def fail(prog: str, message: str) -> int:
    """Print ``prog: error: message`` as one line; return exit status 2."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _int_at_least(minimum: int, text: str) -> int:
    """An int >= ``minimum`` parsed from ``text``, or the argparse error that says what is allowed."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}; got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}; got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an int >= 1."""
    return _int_at_least(1, text)


def nonnegative_int(text: str) -> int:
    """An argparse type: an int >= 0."""
    return _int_at_least(0, text)


def add_result_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    """``--out`` (the experiment name), ``--results-dir`` and ``--overwrite``: where a command writes its result."""
    also = "" if required else "also "
    p.add_argument("--out", required=required, help=f"experiment name: {also}writes assets/results/<out>/result.json")
    p.add_argument("--results-dir", default=None, help="folder of experiments (default: assets/results)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")


def refuse_to_overwrite(experiment: str | None, results_dir, overwrite: bool) -> None:
    """Raise ``FileExistsError`` when ``experiment``'s result exists and ``overwrite`` is off (None: no result)."""
    from ..evaluation.results import result_path

    if experiment:
        path = result_path(experiment, results_dir)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")


def command_line(command: str, argv: list[str]) -> str:
    """The exact command line, as results and checkpoints record it."""
    return f"python -m diffusion_course {command} " + shlex.join(argv)


def run_guarded(prog: str, fn: Callable[[], int]) -> int:
    """Run ``fn``; a user error (bad value, missing or mismatched file) becomes one line and status 2."""
    from ..checkpoints import CheckpointError
    from ..data import DatasetNotFoundError
    from ..evaluation.results import ResultError

    try:
        return fn()
    except (ValueError, CheckpointError, ResultError, DatasetNotFoundError, FileExistsError) as err:
        return fail(prog, str(err))
