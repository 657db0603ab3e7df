"""Check in a real (headless) browser that the notebooks' ipywidgets work in JupyterLab.

For each notebook this script:

1. opens it in a running JupyterLab (``<url>/lab/tree/notebooks/<name>?reset``),
2. clears all outputs and runs all cells from the **Run** menu ("Run All Cells"),
3. waits until every code cell has run and the kernel is idle,
4. finds every ``interact`` widget (the cells whose source calls ``interact(``) and checks that
   it rendered as a live widget (``.widget-interact`` with sliders/dropdowns and an output
   area), not as the text fallback ``interactive(children=...`` that appears when the widget
   manager is missing,
5. moves controls of each widget like a user would (focus a slider handle and press
   ArrowRight, pick another option in a dropdown), waits for the kernel, and checks that the
   widget's output area (the matplotlib image) changed and shows no traceback,
6. screenshots each widget cell before and after, and looks for tracebacks in all outputs
   (``application/vnd.jupyter.stderr`` outputs containing "Traceback" or "Error").

It prints one summary line per notebook and exits with status 1 if any check failed.
Nothing is saved: autosave is switched off through JupyterLab's settings API for the run
(the previous setting is put back at the end), the browser is closed without saving, the
kernels the script started are shut down, the checkpoint copies JupyterLab makes on opening
a notebook are removed again if they were not there before, and the notebook files are hashed
before and after to prove they were not rewritten.

Set-up (outside the project's venv; no browser download is needed)::

    apt-get install -y chromium                  # Debian package, binary /usr/bin/chromium
    python3 -m venv /tmp/pwvenv && /tmp/pwvenv/bin/pip install playwright
    # never run `playwright install`: the script drives the system chromium

Start JupyterLab from the project venv (kernels inherit this environment)::

    cd /path/to/repo
    OMP_NUM_THREADS=1 DIFFUSION_COURSE_QUICK=1 DIFFUSION_COURSE_DOWNLOAD=0 \\
      .venv/bin/jupyter lab --no-browser --port 8899 \\
        --IdentityProvider.token='' --ServerApp.password='' \\
        --ServerApp.disable_check_xsrf=True --ServerApp.root_dir="$PWD" \\
        --LabApp.user_settings_dir=/tmp/widget_check_lab/settings \\
        --LabApp.workspaces_dir=/tmp/widget_check_lab/workspaces &
    # (add --allow-root when running as root, e.g. in a container)

Then run::

    /tmp/pwvenv/bin/python tools/check_widgets_in_lab.py [--out /tmp/widget_check]

(``--notebooks 01_forward_process.ipynb`` checks a subset; ``--help`` lists the options.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Locator, Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOKS = [
    "01_forward_process.ipynb",
    "02_ddpm_2d.ipynb",
    "05_ddim_and_fast_samplers.ipynb",
    "06_mnist_pixel_diffusion.ipynb",
]
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


@dataclass
class Interaction:
    """One control moved by the script and what happened to the widget's output."""

    widget: int
    control: str
    value_before: str
    value_after: str
    output_changed: bool
    error: str = ""


@dataclass
class NotebookResult:
    """Everything checked in one notebook."""

    name: str
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

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and not self.output_errors
            and not self.cells_not_run
            and self.expected == self.found == self.rendered > 0
            and bool(self.interactions)
            and all(i.output_changed and not i.error for i in self.interactions)
        )

    def summary(self) -> str:
        changed = sum(i.output_changed and not i.error for i in self.interactions)
        return (
            f"{'OK  ' if self.ok else 'FAIL'} {self.name}: interact widgets expected {self.expected}, "
            f"found {self.found}, rendered {self.rendered}, text fallback {self.text_fallback} "
            f"(+{self.other_widgets} other widget views) | interactions changed output: "
            f"{'yes' if self.interactions and changed == len(self.interactions) else 'no'} "
            f"({changed}/{len(self.interactions)}) | errors in outputs: {len(self.output_errors)}"
            f" | cells not run: {len(self.cells_not_run)} | {self.seconds:.0f} s"
        )


# --------------------------------------------------------------------------- server helpers


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
    api(
        base,
        f"/lab/api/settings/{DOCMANAGER_SETTINGS}",
        "PUT",
        {"raw": json.dumps({"autosave": False})},
        token,
    )
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
    return {n: hashlib.sha256((REPO / "notebooks" / n).read_bytes()).hexdigest() for n in names}


def remove_new_checkpoints(folder: Path, before: set[str] | None, names: list[str]) -> None:
    """Delete the checkpoint copies JupyterLab made on opening the notebooks (and the folder
    itself if it did not exist before); older checkpoints are left alone."""
    for name in names:
        ckpt = folder / f"{Path(name).stem}-checkpoint.ipynb"
        if ckpt.exists() and (before is None or ckpt.name not in before):
            ckpt.unlink()
    if before is None and folder.exists() and not any(folder.iterdir()):
        folder.rmdir()


def interact_cells(name: str) -> list[int]:
    """Indices (among all cells) of the code cells that create an ``interact`` widget."""
    nb = json.loads((REPO / "notebooks" / name).read_text())
    return [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and re.search(r"\binteract\(", "".join(c["source"]))
    ]


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


def click_menu(page: Page, menu: str, item: str) -> None:
    """Open a top-level menu and click one of its items, like a user would."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-item:visible", has_text=re.compile(rf"^{re.escape(item)}")).first.click()


def dismiss_toasts(page: Page) -> None:
    """Close notifications (e.g. the "Jupyter news?" toast) so they do not cover screenshots."""
    for button in page.locator(".jp-Notification-Toast-Close, .Toastify__close-button").all():
        try:
            button.click(timeout=2000)
        except Exception:  # noqa: BLE001 - a toast that vanished on its own is fine
            pass


def cell_has_source(cell: Locator) -> bool:
    text = cell.locator(".jp-InputArea .cm-content").text_content(timeout=5000) or ""
    return bool(text.strip())


def output_signature(widget: Locator) -> str:
    """The HTML of the interact's output area (changes when the image is redrawn)."""
    out = widget.locator(".widget-output")
    return out.first.inner_html() if out.count() else ""


def wait_output_changed(page: Page, widget: Locator, before: str, timeout_s: float) -> bool:
    """Wait for the kernel to finish and the output to differ from ``before`` and be drawn."""
    deadline = time.time() + timeout_s
    time.sleep(1.0)  # let the comm message reach the kernel and the busy state show up
    while time.time() < deadline:
        try:
            wait_kernel_idle(page, max(1.0, deadline - time.time()), settle_s=1.5)
        except TimeoutError:
            return False
        now = output_signature(widget)
        has_result = widget.locator(".widget-output img, .widget-output " + STDERR_SELECTOR).count() > 0
        if now != before and has_result:
            return True
        time.sleep(1.0)
    return False


def control_value(control: Locator) -> str:
    """The value a control shows: the slider readout or the selected dropdown option.

    ``text_content`` and not ``inner_text``: JupyterLab renders off-screen cells with
    ``content-visibility: auto``, and the innerText of a skipped element reads ''.
    """
    readout = control.locator(".widget-readout")
    if readout.count():
        return (readout.first.text_content() or "").strip()
    select = control.locator("select")
    if select.count():
        return select.first.evaluate("s => s.options[s.selectedIndex] ? s.options[s.selectedIndex].text : ''")
    return ""


def move_slider(page: Page, slider: Locator, presses: int = 3) -> None:
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
        time.sleep(0.2)


def pick_other_option(dropdown: Locator) -> None:
    select = dropdown.locator("select").first
    options = select.evaluate("s => [...s.options].map(o => o.value)")
    current = select.evaluate("s => s.value")
    other = next(o for o in options if o != current)
    select.select_option(other)


def widget_errors(widget: Locator) -> str:
    texts = widget.locator(".widget-output " + STDERR_SELECTOR).all_text_contents()
    bad = [t for t in texts if "Traceback" in t or "Error" in t]
    return bad[-1].strip()[-600:] if bad else ""


# --------------------------------------------------------------------------- the check


def check_notebook(
    page: Page, base: str, name: str, out_dir: Path, run_timeout: float, step_timeout: float
) -> NotebookResult:
    res = NotebookResult(name)
    stem = Path(name).stem
    t0 = time.time()
    expected_cells = interact_cells(name)
    res.expected = len(expected_cells)

    page.goto(f"{base}/lab/tree/notebooks/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=180_000)
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

    for text in page.locator(".jp-Notebook " + STDERR_SELECTOR).all_text_contents():
        if "Traceback" in text or "Error" in text:
            res.output_errors.append(text.strip()[-600:])

    res.other_widgets = page.locator(
        ".jp-OutputArea-output .jupyter-widgets:not(.widget-interact):not(.widget-interact *)"
    ).count()
    res.text_fallback = page.locator(".jp-OutputArea-output", has_text=TEXT_FALLBACK).count()

    for w, index in enumerate(expected_cells):
        if index >= n_cells:
            res.problems.append(f"cell {index}: not in the page ({n_cells} cells shown)")
            continue
        cell = cells.nth(index)
        widget = cell.locator(".widget-interact")
        if not widget.count():
            fallback = cell.locator(".jp-OutputArea-output", has_text=TEXT_FALLBACK).count()
            res.problems.append(
                f"cell {index}: no live widget" + (" (text fallback 'interactive(children=...')" if fallback else "")
            )
            continue
        res.found += 1
        widget = widget.first
        sliders = widget.locator(".widget-slider")
        dropdowns = widget.locator(".widget-dropdown")
        has_image = widget.locator(".widget-output img").count() > 0
        if sliders.count() + dropdowns.count() == 0 or not has_image:
            res.problems.append(f"cell {index}: widget without controls or without a drawn image")
            continue
        res.rendered += 1

        controls: list[tuple[str, Locator]] = []
        if sliders.count():
            controls.append(("slider", sliders.first))
        if dropdowns.count():
            controls.append(("dropdown", dropdowns.first))
        for kind, control in controls:
            control.scroll_into_view_if_needed()
            label = (control.locator(".widget-label").first.text_content() or "").strip() or kind
            shot = f"{stem}_cell{index:02d}_{kind}"
            before_value, before = control_value(control), output_signature(widget)
            cell.screenshot(path=str(out_dir / f"{shot}_before.png"))
            if kind == "slider":
                move_slider(page, control)
            else:
                pick_other_option(control)
            changed = wait_output_changed(page, widget, before, step_timeout)
            error = widget_errors(widget)
            cell.scroll_into_view_if_needed()
            cell.screenshot(path=str(out_dir / f"{shot}_after.png"))
            res.interactions.append(
                Interaction(
                    w,
                    f"cell {index} {kind} '{label}'",
                    before_value,
                    control_value(control),
                    changed,
                    error,
                )
            )
    page.screenshot(path=str(out_dir / f"{stem}_page.png"))
    res.seconds = time.time() - t0
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/widget_check"),
        help="folder for the screenshots (default /tmp/widget_check)",
    )
    parser.add_argument("--url", default="http://localhost:8899", help="JupyterLab server URL")
    parser.add_argument("--token", default="", help="server token, if the server uses one")
    parser.add_argument(
        "--notebooks",
        nargs="+",
        default=DEFAULT_NOTEBOOKS,
        help="notebook file names in notebooks/",
    )
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="browser executable")
    parser.add_argument("--run-timeout", type=float, default=1200, help="seconds for Run All")
    parser.add_argument("--step-timeout", type=float, default=300, help="seconds for one widget update")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.url.rstrip("/")

    hashes = file_hashes(args.notebooks)
    checkpoints = REPO / "notebooks" / ".ipynb_checkpoints"
    had_checkpoints = {p.name for p in checkpoints.glob("*")} if checkpoints.exists() else None
    sessions_before = session_ids(base, args.token)
    saved_setting = disable_autosave(base, args.token)
    results: list[NotebookResult] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            for name in args.notebooks:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.on("dialog", lambda d: d.dismiss())  # "leave page?" prompts: stay unsaved
                try:
                    res = check_notebook(page, base, name, args.out, args.run_timeout, args.step_timeout)
                except Exception as exc:  # noqa: BLE001 - report and go on with the next notebook
                    res = NotebookResult(name, problems=[f"{type(exc).__name__}: {exc}"])
                    page.screenshot(path=str(args.out / f"{Path(name).stem}_crash.png"))
                results.append(res)
                print(res.summary(), flush=True)
                context.close()  # closes the tab without saving
                shutdown_new_sessions(base, args.token, sessions_before)
            browser.close()
    finally:
        restore_autosave(base, args.token, saved_setting)
        shutdown_new_sessions(base, args.token, sessions_before)
        remove_new_checkpoints(checkpoints, had_checkpoints, args.notebooks)

    print("\ndetails:")
    for res in results:
        for it in res.interactions:
            print(
                f"  {res.name} {it.control}: {it.value_before!r} -> {it.value_after!r}, "
                f"output changed: {'yes' if it.output_changed else 'no'}" + (f", error: {it.error}" if it.error else "")
            )
        for p in res.problems:
            print(f"  {res.name} problem: {p}")
        for cell in res.cells_not_run:
            print(f"  {res.name} cell {cell} did not run")
        for err in res.output_errors:
            print(f"  {res.name} error output: {err}")
    rewritten = [n for n, h in file_hashes(args.notebooks).items() if hashes[n] != h]
    if rewritten:
        print(
            f"WARNING: notebook files changed on disk during the check (by JupyterLab or by "
            f"someone else; see `git status`): {rewritten}"
        )
    print(f"screenshots: {args.out}")
    return 0 if results and all(r.ok for r in results) and not rewritten else 1


if __name__ == "__main__":
    sys.exit(main())
