"""Start JupyterLab or a Voilà app on a free local port for a browser check, and stop it again.

Used by ``tools/check_widgets_in_lab.py --serve``, ``tests/test_widgets_browser.py`` and
``benchmarks/classroom_timing.py``; nothing here needs a browser. A server started here:

- listens on 127.0.0.1 only, on a port that was free a moment before (``free_port``);
- runs with the same Python (the project's venv), so its kernels see the course's packages;
- keeps its runtime files (connection files, server info) and JupyterLab's settings and
  workspaces in a temporary folder that is deleted when it stops, so nothing is left behind
  (the checkpoint copies JupyterLab makes next to an opened notebook are the checker's to remove);
- is stopped with SIGTERM (kernels shut down cleanly), then SIGKILL if it hangs.

Chromium and Playwright are looked up by ``find_chromium`` and ``playwright_missing``; the
browser is Debian's ``chromium`` package (``apt-get install -y chromium``), never a browser
downloaded by ``playwright install``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
ENABLE_HINT = (
    "install Debian's browser and the Python driver: apt-get install -y chromium && "
    ".venv/bin/pip install -r requirements.txt (never `playwright install`)"
)


def find_chromium(environ: dict | None = None) -> str | None:
    """The chromium executable: ``$CHROMIUM`` if set, else ``chromium`` or ``chromium-browser`` on the PATH."""
    environ = os.environ if environ is None else environ
    if environ.get("CHROMIUM"):
        return environ["CHROMIUM"] if Path(environ["CHROMIUM"]).is_file() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def playwright_missing() -> str | None:
    """None when the ``playwright`` package imports, else why not."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the Python package playwright is not installed ({exc})"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_server_argv(port: int, state_dir: Path, root: bool, python: str = sys.executable) -> list[str]:
    """JupyterLab for a test: no token, no browser, settings and workspaces under ``state_dir``,
    the app exposed as ``window.jupyterapp`` (the checker asks it whether the widget manager is ready)."""
    argv = [
        python,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={REPO}",
        f"--LabApp.user_settings_dir={state_dir / 'settings'}",
        f"--LabApp.workspaces_dir={state_dir / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    return [*argv, "--allow-root"] if root else argv


def server_env(state_dir: Path, quick: bool = True) -> dict[str, str]:
    """The environment of a test server and its kernels: QUICK mode, offline, private runtime dir, and
    one passive OpenMP thread per kernel unless the caller set them (torch's default, a spinning thread
    per core, made a kernel many times slower whenever another process used the cores)."""
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(state_dir / "runtime"),
        DIFFUSION_COURSE_DOWNLOAD="0",
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["DIFFUSION_COURSE_QUICK"] = "1" if quick else env.get("DIFFUSION_COURSE_QUICK", "0")
    return env


def wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float, log: Path) -> float:
    """Wait until something accepts connections on ``port``; return the seconds it took."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return time.perf_counter() - t0
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port} after {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM (Jupyter and Voilà shut their kernels down), then SIGKILL after ``grace_s``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Server:
    """A running server: its base URL, the seconds until it accepted connections, and its log."""

    url: str
    proc: subprocess.Popen
    log: Path
    seconds_to_listen: float

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextlib.contextmanager
def serve(argv_for_port, *, quick: bool = True, timeout_s: float = 180.0, cwd: Path = REPO) -> Iterator[Server]:
    """Run ``argv_for_port(port, state_dir)`` on a free port until the ``with`` block ends."""
    with tempfile.TemporaryDirectory(prefix="course_browser_") as tmp:
        state_dir = Path(tmp)
        port = free_port()
        log = state_dir / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv_for_port(port, state_dir),
                cwd=cwd,
                env=server_env(state_dir, quick),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                seconds = wait_for_port(port, proc, timeout_s, log)
                yield Server(f"http://127.0.0.1:{port}", proc, log, seconds)
            finally:
                stop(proc)


def lab(quick: bool = True, timeout_s: float = 180.0):
    """``with lab() as server:`` JupyterLab serving the repository (see :func:`lab_server_argv`)."""
    root = is_root()
    return serve(lambda port, state: lab_server_argv(port, state, root), quick=quick, timeout_s=timeout_s)


def voila(notebook: str, quick: bool = True, timeout_s: float = 180.0):
    """``with voila(nb) as server:`` the Voilà app exactly as ``make present`` builds it
    (``tools/present.py``), on a free port and without opening a browser."""
    present = REPO / "tools" / "present.py"
    return serve(
        lambda port, state: [sys.executable, str(present), notebook, "--no-browser", f"--port={port}"],
        quick=quick,
        timeout_s=timeout_s,
    )
