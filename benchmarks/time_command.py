"""Wall and CPU time of any command, written as a result: set-up and whole-suite timings.

    python benchmarks/time_command.py --experiment test_suite --cwd ../fresh-clone -- make test
    python benchmarks/time_command.py --experiment setup --cwd ../fresh-clone -- make setup data

Runs the command once (in ``--cwd``), records its exit status, wall seconds and the CPU seconds
of its child processes (user + system), and writes ``assets/results/<experiment>/result.json``
through the results writer (refusing to overwrite without ``--overwrite``). A failing command is
recorded as failing, never as a timing.
"""

from __future__ import annotations

import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

from diffusion_course.cli.common import Parser, fail
from diffusion_course.evaluation.results import load_average, provenance, result_path, write_result

PROG = "python benchmarks/time_command.py"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        return fail(PROG, "put the command to time after --, e.g. -- make test")
    split = argv.index("--")
    own, command = argv[:split], argv[split + 1 :]
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--experiment", required=True, help="results folder name, e.g. test_suite")
    p.add_argument("--cwd", default=".", help="folder to run the command in")
    p.add_argument("--results-dir", default=None, help="folder of experiments (default: assets/results)")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(own)
    if not command:
        return fail(PROG, "no command after --")
    if not Path(a.cwd).is_dir():
        return fail(PROG, f"--cwd {a.cwd} is not a folder")
    path = result_path(a.experiment, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    prov = provenance(f"{PROG} " + shlex.join(argv), "cpu")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=a.cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {
        "timed_command": shlex.join(command),
        "cwd": str(Path(a.cwd).resolve().name),
        "exit_status": proc.returncode,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average_at_end": load_average(),
    }
    print(write_result(a.experiment, result, prov, root=a.results_dir, overwrite=a.overwrite))
    print(f"{shlex.join(command)}: exit {proc.returncode}, {wall:.0f} s wall, {cpu:.0f} s CPU")
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
