"""Suite-wide pytest hooks: a per-notebook (and per-test-file) time summary at the end."""

from __future__ import annotations

import collections

_durations: dict[str, float] = collections.defaultdict(float)
_failed: set[str] = set()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    _durations[path] += report.duration
    if report.failed:
        _failed.add(path)


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    tr = terminalreporter
    nbs = {k: v for k, v in _durations.items() if k.endswith(".ipynb")}
    files = {k: v for k, v in _durations.items() if not k.endswith(".ipynb")}
    for title, group in (("notebooks (nbval, all cells)", nbs), ("unit-test files", files)):
        if not group:
            continue
        tr.write_sep("-", f"time per {title}")
        for path, secs in sorted(group.items()):
            flag = "  FAILED" if path in _failed else ""
            tr.write_line(f"{secs:8.1f} s  {path}{flag}")
        tr.write_line(f"{sum(group.values()):8.1f} s  total")
