"""Classroom mode, timed: how long `make present`'s Voilà app takes to show its first widget, and a widget to redraw.

    python benchmarks/classroom_timing.py --notebook 08_latent_diffusion.ipynb --repeats 3 --threads 1

Starts the app exactly as ``make present`` does (``tools/present.py``: Voilà, code hidden, no
browser) on a free local port, in QUICK mode unless ``--full``, and opens it in headless chromium
(Debian's package, driven by playwright, as in ``tests/test_widgets_browser.py``). It measures:

- ``seconds_to_first_widget``: from launching the command to the first widget's picture drawn in
  the page, what a lecturer waits after ``make present`` (the page is requested as soon as the
  server listens; Voilà runs every cell of the notebook before it shows the page);
- ``server_start_seconds`` and ``page_to_first_widget_seconds``: the two parts of it;
- ``redraw_seconds_median`` / ``_max``: every control of every ``interact`` widget moved by one
  user action (a slider key step, another dropdown option), ``--repeats`` times; a redraw is timed
  from the action until the new picture is in the page (kernel computation, plotting, transfer
  and drawing).

``--threads`` sets ``OMP_NUM_THREADS`` for the app's kernel (default: what the environment says,
else all cores); the result records it with the load average, since other work on the machine
lengthens every wall time. The result goes through the results writer into
``assets/results/<experiment>/result.json`` (refusing to overwrite without ``--overwrite``).
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from diffusion_course.cli.common import Parser, fail, positive_int
from diffusion_course.evaluation.results import load_average, provenance, result_path, write_result

PROG = "python benchmarks/classroom_timing.py"
TOOLS = Path(__file__).resolve().parents[1] / "tools"


def _tools():
    """The browser checker and the server helpers (tools/ is not a package)."""
    sys.path.insert(0, str(TOOLS))
    import check_widgets_in_lab
    import present
    import widget_servers

    return check_widgets_in_lab, present, widget_servers


def measure(notebook: str, repeats: int, quick: bool, chromium: str, step_timeout: float = 300.0) -> dict:
    """Launch the app, time its first widget, then time ``repeats`` redraws of every control."""
    checker, _, servers = _tools()
    from playwright.sync_api import sync_playwright

    no_shots = checker.make_shots(Path("."), "none")
    t_launch = time.perf_counter()
    with servers.voila(notebook, quick=quick, timeout_s=600) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=checker.CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        t_page = time.perf_counter()
        res = checker.check_voila(page, server.url + "/", notebook, 1200, step_timeout, no_shots)
        if res.seconds_to_first_widget is None or not res.ok:
            raise RuntimeError(f"the app did not work: {res.summary()} {res.problems} {res.output_errors}")
        first_total = t_page - t_launch + res.seconds_to_first_widget
        outputs = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-interact"))
        for _ in range(repeats - 1):
            for w in range(outputs.count()):
                widget = outputs.nth(w).locator(".widget-interact").first
                checker.drive_widget(page, res, w, outputs.nth(w), widget, checker.wait_redrawn, step_timeout, no_shots)
        version = browser.version
        browser.close()
    failed = [i for i in res.interactions if not i.redrawn or i.error]
    if failed:
        raise RuntimeError(f"{len(failed)} redraws failed: {failed[:3]}")
    seconds = [i.seconds for i in res.interactions]
    controls: dict[tuple[int, str], list[float]] = {}
    for i in res.interactions:
        controls.setdefault((i.widget, i.control), []).append(round(i.seconds, 3))
    return {
        "seconds_to_first_widget": round(first_total, 2),
        "server_start_seconds": round(server.seconds_to_listen, 2),
        "page_to_first_widget_seconds": round(res.seconds_to_first_widget, 2),
        "redraw_seconds_median": round(statistics.median(seconds), 2),
        "redraw_seconds_max": round(max(seconds), 2),
        "redraws": len(seconds),
        "controls": [{"widget": w, "control": c, "seconds": s} for (w, c), s in controls.items()],
        "browser": f"chromium {version} (headless)",
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--notebook", default=None, help="file in notebooks/ (default: the one make present shows)")
    p.add_argument("--repeats", type=positive_int, default=3, help="times every control is moved")
    p.add_argument("--full", action="store_true", help="full mode instead of QUICK mode")
    p.add_argument("--threads", type=positive_int, default=None, help="OMP_NUM_THREADS for the app's kernel")
    p.add_argument("--experiment", default="classroom_timing")
    p.add_argument("--results-dir", default=None, help="folder of experiments (default: assets/results)")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    checker, present, servers = _tools()
    chromium = servers.find_chromium()
    why = servers.playwright_missing() or (None if chromium else "no chromium on the PATH")
    if why:
        return fail(PROG, f"{why}; {servers.ENABLE_HINT}")
    try:
        if a.notebook:
            notebook = present.resolve(a.notebook, present.DEFAULT_NOTEBOOK)[0].name
        else:
            notebook = present.resolve(None, present.DEFAULT_NOTEBOOK, present.FALLBACK_NOTEBOOK)[0].name
    except ValueError as err:
        return fail(PROG, str(err))
    if not checker.interact_cells(notebook):
        return fail(PROG, f"{notebook} has no interact widget to time")
    path = result_path(a.experiment, a.results_dir)
    if path.exists() and not a.overwrite:
        return fail(PROG, f"{path} exists; pass --overwrite to replace it")
    if a.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(a.threads)
    prov = provenance(f"{PROG} " + shlex.join(argv), "cpu")
    timings = measure(notebook, a.repeats, not a.full, chromium)
    result = {
        "notebook": notebook,
        "mode": "full" if a.full else "QUICK",
        **{k: v for k, v in timings.items() if k != "controls"},
        "kernel_threads": int(os.environ["OMP_NUM_THREADS"]) if os.environ.get("OMP_NUM_THREADS") else os.cpu_count(),
        "controls": timings["controls"],
        "voila": subprocess.run(
            [sys.executable, "-m", "voila", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "load_average_end": load_average(),
    }
    print(write_result(a.experiment, result, prov, root=a.results_dir, overwrite=a.overwrite))
    print(
        f"{notebook} ({result['mode']}): first widget {result['seconds_to_first_widget']} s after launch "
        f"(server {result['server_start_seconds']} s); redraw median {result['redraw_seconds_median']} s, "
        f"max {result['redraw_seconds_max']} s over {result['redraws']} redraws"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
