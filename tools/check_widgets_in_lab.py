"""Check in a real (headless) browser that the notebooks' ipywidgets work, in JupyterLab and in Voilà.

For each notebook in JupyterLab this script:

1. opens it (``<url>/lab/tree/notebooks/<name>?reset``) and waits for what running it needs: the
   kernel connected and idle, and the widget manager's renderer registered for this notebook
   (asked from ``window.jupyterapp``, which the server exposes with ``--expose-app-in-browser``;
   without it, the kernel indicator alone),
2. clears all outputs and runs all cells from the **Run** menu ("Run All Cells"),
3. waits until every code cell has run and the kernel is idle,
4. finds every ``interact`` widget (the cells whose source calls ``interact(``, ``interactive(``
   or ``interact_manual(``) and checks that it rendered as a live widget (``.widget-interact``
   with controls and an output area), not as the text fallback ``interactive(children=...`` that
   appears when an output arrives before the widget manager's renderer is registered,
5. moves **every** control of each widget like a user would (a slider handle one key step, another
   option of a dropdown, radio or toggle group, a checkbox), waits, and checks that the widget's
   output area was redrawn (a new picture element replaced the old one, even if it looks the same)
   and shows no traceback,
6. looks for tracebacks in all outputs (``application/vnd.jupyter.stderr`` outputs containing
   "Traceback" or "Error") and for other widget views left as text.

With ``--voila`` it also opens the Voilà app that ``make present`` serves (``tools/present.py``;
code hidden), waits for the first widget to be drawn (timed), and moves every control the same way,
timing each redraw. Screenshots go to ``--out``: of every widget before and after
(``--screenshots all``) or only of what failed (``--screenshots failures``).

It prints one summary line per page and exits with status 1 if any check failed (``--json``
writes the results). Nothing is saved: autosave is switched off through JupyterLab's settings
API for the run (the previous setting is put back at the end), the browser is closed without
saving, the kernels the script started are shut down, the checkpoint copies JupyterLab makes on
opening a notebook are removed again if they were not there before, and the notebook files are
hashed before and after to prove they were not rewritten.

Set-up: the browser is Debian's chromium (``apt-get install -y chromium``), driven by the
``playwright`` package from requirements.txt; never run ``playwright install``. Then either let
the script start the servers itself on free ports (QUICK mode, offline, state in a temporary
folder; what ``tests/test_widgets_browser.py`` does)::

    .venv/bin/python tools/check_widgets_in_lab.py --serve --voila

or start JupyterLab from the project venv yourself (kernels inherit its environment)::

    OMP_NUM_THREADS=1 DIFFUSION_COURSE_QUICK=1 DIFFUSION_COURSE_DOWNLOAD=0 \\
      .venv/bin/jupyter lab --no-browser --port 8899 --expose-app-in-browser \\
        --IdentityProvider.token='' --ServerApp.password='' \\
        --ServerApp.disable_check_xsrf=True --ServerApp.root_dir="$PWD" \\
        --LabApp.user_settings_dir=/tmp/widget_check_lab/settings \\
        --LabApp.workspaces_dir=/tmp/widget_check_lab/workspaces &
    # (add --allow-root when running as root, e.g. in a container)
    .venv/bin/python tools/check_widgets_in_lab.py [--out /tmp/widget_check]

(``--notebooks 01_forward_process.ipynb`` checks a subset, ``--notebooks`` alone none; the default
is every notebook that uses widgets; ``--help`` lists the options.)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import signal
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
import widget_servers  # noqa: E402  (tools/ is not a package)

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
INTERACT_CALL = re.compile(r"\binteract(?:ive|_manual)?\(")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCMANAGER_SETTINGS = "@jupyterlab/docmanager-extension:plugin"
STDERR_SELECTOR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
TEXT_FALLBACK = "interactive(children="
RESULT = f".widget-output img, .widget-output {STDERR_SELECTOR}"  # what a redraw of an interact shows
OLD_MARK = "data-widget-check-old"
CONTROLS = (
    ("slider", ".widget-slider"),
    ("dropdown", ".widget-dropdown"),
    ("radio", ".widget-radio-box"),
    ("toggle", ".widget-toggle-buttons"),
    ("checkbox", ".widget-checkbox"),
)
# What JupyterLab needs before "Run All" can show widgets: the notebook's kernel connected and idle,
# and the widget manager's renderer in the notebook's rendermime. jupyterlab_widgets registers that
# renderer only once the session context is ready; an output that arrives earlier is drawn with its
# text/plain fallback and stays so until the cell runs again.
WIDGET_READY_JS = """() => {
    const app = window.jupyterapp;
    if (!app) return 'no-app';
    const panel = app.shell.currentWidget;
    if (!panel || !panel.content || !panel.sessionContext) return 'no-notebook';
    const ctx = panel.sessionContext, kernel = ctx.session && ctx.session.kernel;
    if (!ctx.isReady || !kernel) return 'kernel starting';
    if (kernel.connectionStatus !== 'connected') return 'kernel ' + kernel.connectionStatus;
    if (kernel.status !== 'idle') return 'kernel ' + kernel.status;
    const mimes = panel.content.rendermime.mimeTypes;
    return mimes.includes('application/vnd.jupyter.widget-view+json') ? 'ready' : 'no widget renderer';
}"""


@dataclass
class Interaction:
    """One control moved by the script and what happened to the widget's output."""

    widget: int
    control: str
    value_before: str
    value_after: str
    redrawn: bool
    seconds: float = 0.0
    error: str = ""


@dataclass
class NotebookResult:
    """Everything checked in one notebook, in JupyterLab (``where='lab'``) or in Voilà."""

    name: str
    where: str = "lab"
    expected: int = 0
    found: int = 0
    rendered: int = 0
    text_fallback: int = 0
    other_widgets: int = 0
    cells_not_run: list[int] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    output_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ready_after: str = ""
    seconds_to_first_widget: float | None = None

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and not self.output_errors
            and not self.cells_not_run
            and not self.text_fallback
            and self.expected == self.found == self.rendered
            and (self.expected > 0 or self.other_widgets > 0)
            and (bool(self.interactions) or self.expected == 0)
            and all(i.redrawn and not i.error for i in self.interactions)
        )

    def summary(self) -> str:
        changed = sum(i.redrawn and not i.error for i in self.interactions)
        first = "" if self.seconds_to_first_widget is None else f" | first widget {self.seconds_to_first_widget:.1f} s"
        return (
            f"{'OK  ' if self.ok else 'FAIL'} {self.where} {self.name}: interact widgets expected {self.expected}, "
            f"found {self.found}, rendered {self.rendered}, text fallback {self.text_fallback} "
            f"(+{self.other_widgets} other widget views) | controls moved, output redrawn: "
            f"{changed}/{len(self.interactions)} | errors in outputs: {len(self.output_errors)}"
            f" | cells not run: {len(self.cells_not_run)}{first} | {self.seconds:.0f} s"
        )


# --------------------------------------------------------------------------- notebooks and server


def interact_cells(name: str) -> list[int]:
    """Indices (among all cells) of the code cells that create an ``interact`` widget."""
    nb = json.loads((NOTEBOOK_DIR / name).read_text(encoding="utf-8"))
    return [
        i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and INTERACT_CALL.search("".join(c["source"]))
    ]


def widget_notebooks(folder: Path = NOTEBOOK_DIR) -> list[str]:
    """The notebooks that use ipywidgets (import it or call ``interact``), sorted by name."""
    names = []
    for path in sorted(folder.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if "ipywidgets" in code or INTERACT_CALL.search(code):
            names.append(path.name)
    return names


def api(base: str, path: str, method: str = "GET", body: object | None = None, token: str = "") -> object:
    """Call the Jupyter server's REST API and return the decoded JSON (or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def disable_autosave(base: str, token: str) -> str | None:
    """Switch JupyterLab's autosave off; return the previous raw setting to restore it."""
    previous = api(base, f"/lab/api/settings/{DOCMANAGER_SETTINGS}", token=token)
    raw = previous.get("raw") if isinstance(previous, dict) else None
    body = {"raw": json.dumps({"autosave": False})}
    api(base, f"/lab/api/settings/{DOCMANAGER_SETTINGS}", "PUT", body, token)
    return raw


def restore_autosave(base: str, token: str, raw: str | None) -> None:
    """Put back the docmanager setting saved by :func:`disable_autosave`."""
    api(base, f"/lab/api/settings/{DOCMANAGER_SETTINGS}", "PUT", {"raw": raw or "{}"}, token)


def session_ids(base: str, token: str) -> set[str]:
    return {s["id"] for s in api(base, "/api/sessions", token=token)}  # type: ignore[union-attr]


def shutdown_new_sessions(base: str, token: str, before: set[str]) -> None:
    """Shut down the kernels of the sessions that appeared since ``before``."""
    for sid in session_ids(base, token) - before:
        api(base, f"/api/sessions/{sid}", "DELETE", token=token)


def file_hashes(names: list[str]) -> dict[str, str]:
    return {n: hashlib.sha256((NOTEBOOK_DIR / n).read_bytes()).hexdigest() for n in names}


def remove_new_checkpoints(folder: Path, before: set[str] | None, names: list[str]) -> None:
    """Delete the checkpoint copies JupyterLab made on opening the notebooks (and the folder
    itself if it did not exist before); older checkpoints are left alone."""
    for name in names:
        ckpt = folder / f"{Path(name).stem}-checkpoint.ipynb"
        if ckpt.exists() and (before is None or ckpt.name not in before):
            ckpt.unlink()
    if before is None and folder.exists() and not any(folder.iterdir()):
        folder.rmdir()


# --------------------------------------------------------------------------- page helpers


def wait_kernel_idle(page: Page, timeout_s: float, settle_s: float = 2.0) -> None:
    """Wait until no cell shows ``[*]`` and the kernel reports idle for ``settle_s`` seconds."""
    deadline = time.time() + timeout_s
    idle_since: float | None = None
    while time.time() < deadline:
        busy = page.evaluate(
            """() => {
                const ind = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) '
                                                   + '.jp-Notebook-ExecutionIndicator');
                const status = ind ? ind.getAttribute('data-status') : 'unknown';
                const queued = [...document.querySelectorAll('.jp-InputPrompt')]
                    .some(p => p.textContent.includes('*'));
                return status !== 'idle' || queued;
            }"""
        )
        if busy:
            idle_since = None
        elif idle_since is None:
            idle_since = time.time()
        elif time.time() - idle_since >= settle_s:
            return
        time.sleep(0.5)
    raise TimeoutError(f"kernel still busy after {timeout_s:.0f} s")


def wait_widget_manager(page: Page, timeout_s: float) -> str:
    """Wait until the notebook can show widgets (:data:`WIDGET_READY_JS`); say what was waited for."""
    t0 = time.time()
    states: list[str] = []
    while time.time() - t0 < timeout_s:
        state = page.evaluate(WIDGET_READY_JS)
        if not states or states[-1] != state:
            states.append(state)
        if state == "ready":
            return f"{' -> '.join(states)} after {time.time() - t0:.1f} s"
        if state == "no-app":  # a server without --expose-app-in-browser: the kernel indicator only
            wait_kernel_idle(page, max(1.0, timeout_s - (time.time() - t0)), settle_s=2.0)
            return "window.jupyterapp not exposed: kernel idle only"
        time.sleep(0.25)
    raise TimeoutError(f"widget manager not ready after {timeout_s:.0f} s (states: {' -> '.join(states)})")


def click_menu(page: Page, menu: str, item: str) -> None:
    """Open a top-level menu and click one of its items, like a user would."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-item:visible", has_text=re.compile(rf"^{re.escape(item)}")).first.click()


def dismiss_toasts(page: Page) -> None:
    """Close notifications (e.g. the "Jupyter news?" toast) so they do not cover screenshots."""
    for button in page.locator(".jp-Notification-Toast-Close, .Toastify__close-button").all():
        with contextlib.suppress(Exception):  # a toast that vanished on its own is fine
            button.click(timeout=2000)


def cell_has_source(cell: Locator) -> bool:
    text = cell.locator(".jp-InputArea .cm-content").text_content(timeout=5000) or ""
    return bool(text.strip())


def output_signature(widget: Locator) -> str:
    """The HTML of the interact's output area (to see when it has stopped changing)."""
    out = widget.locator(".widget-output")
    return out.first.inner_html() if out.count() else ""


def mark_drawn(widget: Locator) -> None:
    """Mark the pictures and error texts now in the widget's output area. A redraw replaces them
    with new elements, unmarked, even when the new picture is the same as the old one (another
    option that happens to give the same image is still a redraw)."""
    widget.locator(RESULT).evaluate_all(f"els => els.forEach(e => e.setAttribute('{OLD_MARK}', ''))")


def redrawn(widget: Locator) -> bool:
    """Whether the output area shows a picture or an error text that :func:`mark_drawn` did not mark."""
    fresh = ", ".join(f"{sel}:not([{OLD_MARK}])" for sel in RESULT.split(", "))
    return widget.locator(fresh).count() > 0


def wait_idle_and_redrawn(page: Page, widget: Locator, timeout_s: float, t0: float, grace_s: float = 15.0):
    """JupyterLab: wait for the kernel to finish and the output to be redrawn (:func:`redrawn`);
    return whether it was and the seconds from ``t0`` (the user's action, ``perf_counter``) until the
    kernel had been idle for a moment with the new output (an upper bound on the redraw). Gives up
    ``grace_s`` after the kernel went idle with nothing new."""
    deadline = time.time() + timeout_s
    time.sleep(1.0)  # let the comm message reach the kernel and the busy state show up
    idle_since: float | None = None
    while time.time() < deadline:
        try:
            wait_kernel_idle(page, max(1.0, deadline - time.time()), settle_s=1.5)
        except TimeoutError:
            break
        if redrawn(widget):
            return True, time.perf_counter() - t0
        idle_since = idle_since or time.time()
        if time.time() - idle_since > grace_s:
            break
        time.sleep(1.0)
    return False, time.perf_counter() - t0


def wait_redrawn(widget: Locator, timeout_s: float, t0: float, settle_s: float = 1.0) -> tuple[bool, float]:
    """Voilà (no kernel indicator): poll until the output is redrawn (:func:`redrawn`); the seconds
    from ``t0`` (the user's action) until then are the redraw time. Then wait until the output has
    not changed for ``settle_s`` (a cell may draw more than once), so that the next control starts
    from a still picture."""
    while time.perf_counter() - t0 < timeout_s:
        if redrawn(widget):
            seconds = time.perf_counter() - t0
            now, stable_since = output_signature(widget), time.perf_counter()
            while time.perf_counter() - stable_since < settle_s and time.perf_counter() - t0 < timeout_s:
                time.sleep(0.1)
                latest = output_signature(widget)
                if latest != now:
                    now, stable_since = latest, time.perf_counter()
            return True, seconds
        time.sleep(0.05)
    return False, time.perf_counter() - t0


def control_value(kind: str, control: Locator) -> str:
    """The value a control shows: the slider readout, the selected option, the checkbox state.

    ``text_content`` and not ``inner_text``: JupyterLab renders off-screen cells with
    ``content-visibility: auto``, and the innerText of a skipped element reads ''.
    """
    if kind == "slider":
        readout = control.locator(".widget-readout")
        return (readout.first.text_content() or "").strip() if readout.count() else ""
    if kind == "dropdown":
        return control.locator("select").first.evaluate(
            "s => s.options[s.selectedIndex] ? s.options[s.selectedIndex].text : ''"
        )
    if kind == "radio":
        return control.evaluate(
            "b => { const i = b.querySelector('input:checked'); return i ? i.parentElement.textContent.trim() : ''; }"
        )
    if kind == "toggle":
        active = control.locator(".mod-active")
        return (active.first.text_content() or "").strip() if active.count() else ""
    return str(control.locator("input[type=checkbox]").first.is_checked())


def move_control(page: Page, kind: str, control: Locator) -> None:
    """Change a control by one user action: a key step of a slider (back if at the end), another
    option of a dropdown, radio or toggle group, a click on a checkbox."""
    if kind == "slider":
        handle = control.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        before = control_value(kind, control)
        page.keyboard.press("ArrowRight")
        time.sleep(0.05)
        if control_value(kind, control) == before:  # at the maximum: step down instead
            page.keyboard.press("ArrowLeft")
    elif kind == "dropdown":
        select = control.locator("select").first
        options = select.evaluate("s => [...s.options].map(o => o.value)")
        current = select.evaluate("s => s.value")
        select.select_option(next(o for o in options if o != current))
    elif kind == "radio":
        control.locator("input[type=radio]:not(:checked)").first.check()
    elif kind == "toggle":
        control.locator(".widget-toggle-button:not(.mod-active)").first.click()
    else:
        control.locator("input[type=checkbox]").first.click()


def last_line(text: str) -> str:
    """The last non-empty line of a traceback: the exception and its message."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def widget_errors(widget: Locator) -> str:
    texts = widget.locator(".widget-output " + STDERR_SELECTOR).all_text_contents()
    bad = [t for t in texts if "Traceback" in t or "Error" in t]
    return last_line(bad[-1]) if bad else ""


def controls_of(widget: Locator) -> list[tuple[str, Locator]]:
    found = []
    for kind, selector in CONTROLS:
        loc = widget.locator(selector)
        found += [(kind, loc.nth(i)) for i in range(loc.count())]
    return found


def drive_widget(
    page: Page, res: NotebookResult, w: int, where: Locator, widget: Locator, wait, step_timeout: float, shots
) -> None:
    """Move every control of one interact widget and record whether its output redrew.

    ``wait(widget, timeout, t_action)`` returns (redrawn, seconds since the action);
    ``shots(locator, name, failed)`` takes the screenshots the run asked for. An ``interact_manual``
    widget is run with its button."""
    run_button = widget.locator(".widget-button", has_text="Run Interact")
    for c, (kind, control) in enumerate(controls_of(widget)):
        control.scroll_into_view_if_needed()
        label = (control.locator(".widget-label").first.text_content() or "").strip() if kind != "checkbox" else ""
        label = (label or (control.text_content() or "").strip()[:30] or kind).replace("\u200b", "")
        name = f"{Path(res.name).stem}_{res.where}_w{w}_c{c}_{kind}"
        before_value = control_value(kind, control)
        shots(where, f"{name}_before", False)
        mark_drawn(widget)
        t_action = time.perf_counter()
        move_control(page, kind, control)
        if run_button.count():
            run_button.first.click()
        done, seconds = wait(widget, step_timeout, t_action)
        error = widget_errors(widget)
        where.scroll_into_view_if_needed()
        shots(where, f"{name}_after", not done or bool(error))
        res.interactions.append(
            Interaction(w, f"{kind} '{label}'", before_value, control_value(kind, control), done, seconds, error)
        )


def count_widgets(page: Page, res: NotebookResult, scope: str) -> None:
    """Other widget views (not interact) and outputs left as the text fallback."""
    res.other_widgets = page.locator(f"{scope} .jp-OutputArea-output > .jupyter-widgets:not(.widget-interact)").count()
    res.text_fallback = page.locator(f"{scope} .jp-OutputArea-output", has_text=TEXT_FALLBACK).count()
    for text in page.locator(f"{scope} {STDERR_SELECTOR}").all_text_contents():
        if "Traceback" in text or "Error" in text:
            res.output_errors.append(last_line(text))


def check_interact(res: NotebookResult, where: Locator, label: str) -> Locator | None:
    """The live interact widget of one cell (None, with the problem recorded, when it is missing)."""
    widget = where.locator(".widget-interact")
    if not widget.count():
        fallback = where.locator(".jp-OutputArea-output", has_text=TEXT_FALLBACK).count()
        note = " (text fallback 'interactive(children=...')" if fallback else ""
        res.problems.append(f"{label}: no live widget{note}")
        return None
    res.found += 1
    widget = widget.first
    if not controls_of(widget) or not widget.locator(".widget-output img").count():
        res.problems.append(f"{label}: widget without controls or without a drawn image")
        return None
    res.rendered += 1
    return widget


# --------------------------------------------------------------------------- the checks


def check_notebook(page: Page, base: str, name: str, run_timeout: float, step_timeout: float, shots) -> NotebookResult:
    """Run one notebook in JupyterLab and move every control of its interact widgets."""
    res = NotebookResult(name)
    t0 = time.time()
    expected_cells = interact_cells(name)
    res.expected = len(expected_cells)

    page.goto(f"{base}/lab/tree/notebooks/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=180_000)
    res.ready_after = wait_widget_manager(page, 180)
    dismiss_toasts(page)
    click_menu(page, "Edit", "Clear Outputs of All Cells")
    click_menu(page, "Run", "Run All Cells")
    try:
        wait_kernel_idle(page, run_timeout, settle_s=3.0)
    except TimeoutError as exc:
        res.problems.append(f"run all: {exc}")
    dismiss_toasts(page)

    cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
    n_cells = cells.count()
    # a code cell that ran shows [n]; one skipped after an error shows [ ]
    for i in range(n_cells):
        cell = cells.nth(i)
        if "jp-CodeCell" in (cell.get_attribute("class") or ""):
            prompt = (cell.locator(".jp-InputArea-prompt").first.text_content() or "").strip()
            if cell_has_source(cell) and not re.search(r"\[\d+\]", prompt):
                res.cells_not_run.append(i)
    count_widgets(page, res, ".jp-Notebook")

    def wait(widget, timeout, t_action):
        return wait_idle_and_redrawn(page, widget, timeout, t_action)

    for w, index in enumerate(expected_cells):
        if index >= n_cells:
            res.problems.append(f"cell {index}: not in the page ({n_cells} cells shown)")
            continue
        cell = cells.nth(index)
        widget = check_interact(res, cell, f"cell {index}")
        if widget is None:
            shots(cell, f"{Path(name).stem}_lab_cell{index:02d}_missing", True)
            continue
        drive_widget(page, res, w, cell, widget, wait, step_timeout, shots)
    shots(page, f"{Path(name).stem}_lab_page", not res.ok)
    res.seconds = time.time() - t0
    return res


VOILA_HANG_S = 240.0  # no first widget after this long: the app is reloaded once (see check_voila)


def check_voila(page: Page, url: str, name: str, run_timeout: float, step_timeout: float, shots) -> NotebookResult:
    """Open the Voilà app at ``url`` (serving notebook ``name``), time its first widget, move every control."""
    res = NotebookResult(name, where="voila")
    res.expected = len(interact_cells(name))
    t0 = time.perf_counter()
    first = ".widget-interact .widget-output img" if res.expected else ".jp-OutputArea-output .jupyter-widgets"
    try:
        # Voila sometimes starts the kernel and then never runs a cell (seen in CI: kernel idle, page
        # spinning for 20 minutes; a new request works). Such a page is reloaded once, which starts a
        # new kernel, and the result says so; a second hang fails the check.
        hang_s = min(run_timeout, VOILA_HANG_S)
        for attempt in (1, 2):
            page.goto(url, wait_until="commit", timeout=run_timeout * 1000)
            try:
                page.wait_for_selector(first, timeout=(hang_s if attempt == 1 else run_timeout) * 1000)
                break
            except Exception:  # noqa: BLE001 - playwright's timeout; the second attempt re-raises
                if attempt == 2:
                    raise
                res.ready_after = f"no widget after {hang_s:.0f} s, page reloaded once (a new kernel)"
                print(f"voila {name}: {res.ready_after}", flush=True)
        res.seconds_to_first_widget = time.perf_counter() - t0
        # Voilà removes its #loading spinner once every cell has run
        page.wait_for_function(
            "() => document.readyState === 'complete' && !document.getElementById('loading')",
            timeout=run_timeout * 1000,
        )
        page.wait_for_function(
            f"() => document.querySelectorAll('.widget-interact .widget-output img').length >= {res.expected}",
            timeout=step_timeout * 1000,
        )
    except Exception as exc:  # noqa: BLE001 - report what the page shows
        res.problems.append(f"no widget drawn: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    time.sleep(1.0)  # widgets that arrive together with the last one
    count_widgets(page, res, "body")
    if "Traceback" in (page.locator("body").text_content() or "") and not res.output_errors:
        res.output_errors.append("a traceback in the page")
    outputs = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-interact"))
    for w in range(outputs.count()):
        widget = check_interact(res, outputs.nth(w), f"widget {w}")
        if widget is not None:
            drive_widget(page, res, w, outputs.nth(w), widget, wait_redrawn, step_timeout, shots)
    if outputs.count() < res.expected:
        res.problems.append(f"{outputs.count()} interact widgets in the page, the notebook makes {res.expected}")
    shots(page, f"{Path(name).stem}_voila_page", not res.ok)
    res.seconds = time.perf_counter() - t0
    return res


def make_shots(out_dir: Path, mode: str):
    """The screenshot policy: ``all`` (every widget before and after), ``failures`` or ``none``."""

    def shots(target, name: str, failed: bool) -> None:
        if mode == "all" or (mode == "failures" and failed):
            with contextlib.suppress(Exception):  # a screenshot must never hide the real result
                target.screenshot(path=str(out_dir / f"{name}.png"))

    return shots


def run_lab_checks(browser, base: str, token: str, notebooks: list[str], args, shots) -> list[NotebookResult]:
    results: list[NotebookResult] = []
    checkpoints = NOTEBOOK_DIR / ".ipynb_checkpoints"
    had_checkpoints = {p.name for p in checkpoints.glob("*")} if checkpoints.exists() else None
    sessions_before = session_ids(base, token)
    saved_setting = disable_autosave(base, token)
    try:
        for name in notebooks:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.on("dialog", lambda d: d.dismiss())  # "leave page?" prompts: stay unsaved
            try:
                res = check_notebook(page, base, name, args.run_timeout, args.step_timeout, shots)
            except Exception as exc:  # noqa: BLE001 - report and go on with the next notebook
                res = NotebookResult(name, problems=[f"{type(exc).__name__}: {exc}"])
                shots(page, f"{Path(name).stem}_lab_crash", True)
            results.append(res)
            print(res.summary() + (f" | widget manager: {res.ready_after}" if res.ready_after else ""), flush=True)
            context.close()  # closes the tab without saving
            shutdown_new_sessions(base, token, sessions_before)
    finally:
        restore_autosave(base, token, saved_setting)
        shutdown_new_sessions(base, token, sessions_before)
        remove_new_checkpoints(checkpoints, had_checkpoints, notebooks)
    return results


def run_voila_check(browser, url: str, name: str, args, shots) -> NotebookResult:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        res = check_voila(page, url, name, args.run_timeout, args.step_timeout, shots)
    except Exception as exc:  # noqa: BLE001
        res = NotebookResult(name, where="voila", problems=[f"{type(exc).__name__}: {exc}"])
        shots(page, f"{Path(name).stem}_voila_crash", True)
    context.close()
    print(res.summary(), flush=True)
    return res


def print_details(results: list[NotebookResult]) -> None:
    print("\ndetails:")
    for res in results:
        for it in res.interactions:
            print(
                f"  {res.where} {res.name} widget {it.widget} {it.control}: {it.value_before!r} -> "
                f"{it.value_after!r}, redrawn: {'yes' if it.redrawn else 'no'} ({it.seconds:.1f} s)"
                + (f", error: {it.error}" if it.error else "")
            )
        for p in res.problems:
            print(f"  {res.where} {res.name} problem: {p}")
        for cell in res.cells_not_run:
            print(f"  {res.where} {res.name} cell {cell} did not run")
        for err in res.output_errors:
            print(f"  {res.where} {res.name} error output: {err}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/widget_check"), help="folder for the screenshots")
    parser.add_argument("--screenshots", choices=("all", "failures", "none"), default="all")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--serve", action="store_true", help="start JupyterLab (and Voila) on free ports")
    parser.add_argument("--url", default="http://localhost:8899", help="JupyterLab server URL (without --serve)")
    parser.add_argument("--token", default="", help="server token, if the server uses one")
    parser.add_argument(
        "--notebooks",
        nargs="*",
        default=None,
        help="notebook file names in notebooks/ (default: every notebook that uses widgets; none: skip JupyterLab)",
    )
    parser.add_argument(
        "--voila",
        nargs="?",
        const="",
        default=None,
        help="also check the Voila app of this notebook (alone: the one make present shows)",
    )
    parser.add_argument("--voila-url", default=None, help="URL of a running Voila app (without --serve)")
    parser.add_argument("--chromium", default=None, help="browser executable (default: chromium on the PATH)")
    parser.add_argument("--run-timeout", type=float, default=1200, help="seconds for Run All / the app's start")
    parser.add_argument("--step-timeout", type=float, default=300, help="seconds for one widget update")
    return parser.parse_args(argv)


def voila_notebook(asked: str) -> str:
    """The notebook ``make present`` shows for ``asked`` ('' = its default, with its fallback)."""
    import present

    if asked:
        return present.resolve(asked, present.DEFAULT_NOTEBOOK)[0].name
    return present.resolve(None, present.DEFAULT_NOTEBOOK, present.FALLBACK_NOTEBOOK)[0].name


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # so that the servers stop and the checkpoints go (finally blocks)


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = args.chromium or widget_servers.find_chromium()
    if not chromium:
        print(f"no chromium found; {widget_servers.ENABLE_HINT}")
        return 2
    notebooks = widget_notebooks() if args.notebooks is None else args.notebooks
    voila_nb = None if args.voila is None else voila_notebook(args.voila)
    hashes = file_hashes(notebooks + ([voila_nb] if voila_nb else []))
    shots = make_shots(args.out, args.screenshots)
    results: list[NotebookResult] = []
    with sync_playwright() as pw, contextlib.ExitStack() as stack:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        if notebooks:
            base = args.url.rstrip("/")
            if args.serve:
                server = stack.enter_context(widget_servers.lab())
                base = server.url
                print(f"JupyterLab at {base} (listening after {server.seconds_to_listen:.1f} s)", flush=True)
            results += run_lab_checks(browser, base, args.token, notebooks, args, shots)
        if voila_nb:
            url = args.voila_url
            if args.serve or not url:
                server = stack.enter_context(widget_servers.voila(voila_nb))
                url = server.url + "/"
                print(f"Voila app of {voila_nb} at {url} (listening after {server.seconds_to_listen:.1f} s)")
            results.append(run_voila_check(browser, url, voila_nb, args, shots))
    print_details(results)
    rewritten = [n for n, h in file_hashes(list(hashes)).items() if hashes[n] != h]
    if rewritten:
        print(
            f"WARNING: notebook files changed on disk during the check (by JupyterLab or by "
            f"someone else; see `git status`): {rewritten}"
        )
    if args.json:
        payload = {"results": [asdict(r) | {"ok": r.ok} for r in results], "rewritten": rewritten}
        args.json.write_text(json.dumps(payload, indent=1))
    print(f"screenshots ({args.screenshots}): {args.out}")
    return 0 if results and all(r.ok for r in results) and not rewritten else 1


if __name__ == "__main__":
    sys.exit(main())
