"""The widgets in a real browser: every notebook that uses them, in JupyterLab and in `make present`'s Voilà app.

One run of ``tools/check_widgets_in_lab.py --serve --voila`` (JupyterLab and the Voilà app on free
local ports, QUICK mode, offline) drives Debian's chromium through playwright: it runs each notebook
with widgets from JupyterLab's Run menu, moves every control of every ``interact`` widget and
checks that the picture redraws without a traceback; then it opens the notebook ``make present``
shows as a Voilà app and does the same there. Screenshots of what failed are kept in the pytest
temporary folder printed in the failure message.

They are part of ``make test`` (``.ci/run`` installs chromium first); ``DIFFUSION_COURSE_BROWSER=0``
leaves them out (``make unit`` does, to stay fast). Without chromium or playwright they are
skipped, with the command that enables them; under CI (``CI`` set) they fail instead, because a
skipped browser test would let a broken widget land.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_widgets_in_lab as checker  # noqa: E402
import present  # noqa: E402
import widget_servers  # noqa: E402

NOTEBOOKS = checker.widget_notebooks()
RUN_TIMEOUT_S = 3600  # the whole check; about a minute per notebook on 2 cores in QUICK mode


def _files_jupyter_could_leave() -> set[str]:
    """The files under notebooks/ (checkpoint copies included) and Jupyter's folders at the top."""
    found = {str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").rglob("*")}
    return found | {
        name for name in (".ipynb_checkpoints", ".virtual_documents", "Untitled.ipynb") if (ROOT / name).exists()
    }


def _why_not() -> list[str]:
    reasons = []
    if widget_servers.find_chromium() is None:
        reasons.append("no chromium on the PATH")
    if widget_servers.playwright_missing():
        reasons.append(widget_servers.playwright_missing())
    return reasons


def _run(command: list[str]) -> subprocess.CompletedProcess:
    """Run the checker. Past the time limit (or on Ctrl-C) stop it with SIGTERM, so that it still
    stops its servers and removes JupyterLab's checkpoint copies; kill its process group only if it
    hangs then."""
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip

    def stop() -> tuple[str, str]:
        proc.terminate()
        try:
            return proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.communicate()

    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        out, err = stop()
        err += f"\nstopped after {RUN_TIMEOUT_S} s"
    except BaseException:
        stop()
        raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.fixture(scope="module")
def browser_check(tmp_path_factory):
    if os.environ.get("DIFFUSION_COURSE_BROWSER") == "0":
        pytest.skip("browser widget tests left out (DIFFUSION_COURSE_BROWSER=0); `make browser-test` runs them")
    reasons = _why_not()
    if reasons:
        message = (
            f"browser widget tests need chromium and playwright ({'; '.join(reasons)}); {widget_servers.ENABLE_HINT}"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{message}. Under CI they must run (.ci/run installs chromium).")
        pytest.skip(message)
    out = tmp_path_factory.mktemp("widget_check")
    before = _files_jupyter_could_leave()
    command = [
        sys.executable,
        str(ROOT / "tools" / "check_widgets_in_lab.py"),
        "--serve",
        "--voila",
        "--screenshots",
        "failures",
        "--out",
        str(out),
        "--json",
        str(out / "results.json"),
    ]
    proc = _run(command)
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
    report = f"{' '.join(command)}\nexit {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    report += f"\nscreenshots of failures: {out}"
    return {"proc": proc, "results": results, "report": report, "before": before, "after": _files_jupyter_could_leave()}


def _result(run: dict, where: str, name: str) -> dict:
    assert run["results"] is not None, f"the checker wrote no results:\n{run['report']}"
    found = [r for r in run["results"]["results"] if r["where"] == where and r["name"] == name]
    assert found, f"{name} was not checked in {where}:\n{run['report']}"
    return found[0]


def test_test_servers_give_kernels_one_passive_thread_unless_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    env = widget_servers.server_env(tmp_path)
    assert env["OMP_NUM_THREADS"] == "1" and env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["DIFFUSION_COURSE_QUICK"] == "1" and env["DIFFUSION_COURSE_DOWNLOAD"] == "0"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert widget_servers.server_env(tmp_path)["OMP_NUM_THREADS"] == "2"


def test_the_course_has_widget_notebooks():
    assert {"01_forward_process.ipynb", "05_ddim_and_fast_samplers.ipynb"} <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_widgets_render_and_redraw_in_jupyterlab(browser_check, name):
    res = _result(browser_check, "lab", name)
    assert res["ok"], f"{name} in JupyterLab:\n{browser_check['report']}"
    assert res["text_fallback"] == 0 and not res["output_errors"]
    assert all(i["redrawn"] for i in res["interactions"])


def test_make_present_app_renders_and_redraws_in_voila(browser_check):
    shown = present.resolve(None, present.DEFAULT_NOTEBOOK, present.FALLBACK_NOTEBOOK)[0].name
    res = _result(browser_check, "voila", shown)
    assert res["ok"], f"the Voila app of {shown}:\n{browser_check['report']}"
    assert res["seconds_to_first_widget"] is not None and res["interactions"]


def test_the_check_passed_and_left_the_notebooks_as_they_were(browser_check):
    assert browser_check["proc"].returncode == 0, browser_check["report"]
    assert browser_check["results"]["rewritten"] == [], "notebook files were rewritten (the checker hashes them)"
    left = browser_check["after"] - browser_check["before"]
    assert not left, f"the browser check left files behind: {sorted(left)}"
