"""The interview review's pieces: cite a measured number, grade a prediction, keep the score, hide an answer.

Notebook 11 asks the learner to predict a number the course measured, then reads that number
from the committed results (``assets/results/<experiment>/result.json``, or a checkpoint's entry
in ``assets/checkpoints/manifest.json``) and grades the prediction with a tolerance. Numbers are
never typed by hand: :func:`cite` resolves a key path such as
``"rows[sampler=ddim,steps=50].mnist_classifier_fid"`` in a result file, and raises a
:class:`CitationError` that names the experiment and the key when either is missing.

Key paths: keys separated by dots; ``[3]`` takes an item of a list; ``[k=v,k2=v2]`` takes the one
row of a list of dicts whose fields match (``v`` compared as a number when it reads as one, else
as text).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoints import read_manifest
from ..evaluation.results import ResultError, read_result, result_path
from ..tables import round_sig

__all__ = [
    "CitationError",
    "Grade",
    "Scorecard",
    "lookup",
    "cite",
    "cite_manifest",
    "measured",
    "grade",
    "hidden",
    "fmt",
]

_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[([^\]]*)\]")


class CitationError(ResultError):
    """A cited experiment, checkpoint or key path does not resolve to a number in the committed files."""


def _tokens(path: str) -> list[tuple[str, str]]:
    """``"a.b[k=v][0]"`` -> ``[("key", "a"), ("key", "b"), ("select", "k=v"), ("select", "0")]``."""
    out, pos = [], 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        is_key = m is not None and m.group(1) is not None
        if m is None or (is_key and m.group(0).startswith(".") == (pos == 0)):
            raise ValueError(f"bad key path {path!r} at character {pos}; expected keys joined by '.' and [selectors]")
        out.append(("key", m.group(1)) if m.group(1) is not None else ("select", m.group(2)))
        pos = m.end()
    if not out:
        raise ValueError("empty key path")
    return out


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def _matches(row: Any, field: str, raw: str) -> bool:
    if not isinstance(row, dict) or field not in row:
        return False
    value, num = row[field], _number(raw)
    return str(value) == raw or (num is not None and not isinstance(value, bool | str) and value == num)


def _select(node: Any, selector: str, where: str, source: str) -> Any:
    if not isinstance(node, list):
        raise CitationError(f"{source}: {where or 'the file'} is not a list, so [{selector}] cannot select from it")
    index = _number(selector)
    if isinstance(index, int):
        if not -len(node) <= index < len(node):
            raise CitationError(f"{source}: no item [{index}] in {where} (it has {len(node)})")
        return node[index]
    filters = [part.split("=", 1) for part in selector.split(",")]
    if not selector or any(len(f) != 2 or not f[0].strip() for f in filters):
        raise ValueError(f"bad selector [{selector}] in a key path; expected [index] or [field=value,...]")
    found = [row for row in node if all(_matches(row, k.strip(), v.strip()) for k, v in filters)]
    if len(found) != 1:
        what = "no row" if not found else f"{len(found)} rows"
        raise CitationError(
            f"{source}: {what} of {where} match{'es' if not found else ''} [{selector}] "
            f"(it has {len(node)} rows){'; add a field to the selector' if found else ''}"
        )
    return found[0]


def lookup(data: Any, path: str, source: str = "the data") -> Any:
    """The value at key ``path`` in ``data``; a :class:`CitationError` naming ``source`` and the key when missing."""
    node, where = data, ""
    for kind, text in _tokens(path):
        if kind == "select":
            node = _select(node, text, where, source)
            where += f"[{text}]"
            continue
        if not isinstance(node, dict) or text not in node:
            keys = ", ".join(map(str, node)) if isinstance(node, dict) else type(node).__name__
            at = f" in {where}" if where else ""
            raise CitationError(f"{source}: no key {text!r}{at} (full path {path!r}; there: {keys})")
        node = node[text]
        where += ("." if where else "") + text
    return node


def cite(experiment: str, path: str, root: str | Path | None = None) -> Any:
    """The value at ``path`` in the committed result ``<root>/<experiment>/result.json`` (root: assets/results)."""
    try:
        result = read_result(experiment, root)
    except ResultError as err:
        raise CitationError(f"{experiment}: {err} (wanted {path!r})") from err
    return lookup(result, path, source=f"result {experiment!r}")


def cite_manifest(name: str, path: str, manifest_path: str | Path | None = None) -> Any:
    """The value at ``path`` in the shipped checkpoint ``name``'s manifest entry (e.g. ``metrics.test_accuracy``)."""
    manifest = read_manifest(manifest_path)
    if name not in manifest:
        raise CitationError(f"checkpoint {name!r} is not in the manifest (wanted {path!r}); it has {sorted(manifest)}")
    return lookup(manifest[name], path, source=f"checkpoint {name!r} in the manifest")


def measured(experiment: str, root: str | Path | None = None) -> dict | None:
    """The committed result of ``experiment``, or None when it has not been measured (no file) yet."""
    return read_result(experiment, root) if result_path(experiment, root).exists() else None


@dataclass(frozen=True)
class Grade:
    """One graded prediction: ``status`` is right, close, off, none (no prediction), invalid or skipped."""

    status: str
    points: float
    prediction: Any = None
    truth: float | None = None
    tolerance: str = ""

    @property
    def scored(self) -> bool:
        """Whether the question counts towards the possible points (not when the number is not measured yet)."""
        return self.status != "skipped"


def _tolerance_words(rel: float | None, abs: float | None, factor: float | None) -> str:
    if factor is not None:
        return f"within a factor of {fmt(factor)}"
    parts = ([f"±{fmt(100 * rel)}%"] if rel else []) + ([f"±{fmt(abs)}"] if abs else [])
    return "within " + " or ".join(parts)


def grade(
    prediction: Any,
    truth: float | None,
    *,
    rel: float | None = None,
    abs: float | None = None,
    factor: float | None = None,
) -> Grade:
    """Grade ``prediction`` against the measured ``truth``: 1 point within the tolerance, 0.5 within twice it.

    Tolerances: ``rel`` (a fraction of ``|truth|``) and/or ``abs`` (the larger of the two counts),
    or ``factor`` (right when ``prediction / truth`` lies in ``[1/factor, factor]``, close within
    ``factor**2``; both must be positive). Edges count as inside. ``prediction`` None scores 0
    ("none"); ``truth`` None means not measured yet ("skipped": not scored at all).
    """
    if factor is not None and (rel is not None or abs is not None):
        raise ValueError("give either factor or rel/abs as the tolerance, not both")
    if factor is None and not (rel or abs):
        raise ValueError("give a tolerance: rel > 0, abs > 0 or factor > 1")
    if factor is not None and not factor > 1:
        raise ValueError(f"factor must be > 1; got {factor}")
    if any(t is not None and t < 0 for t in (rel, abs)):
        raise ValueError(f"tolerances must be >= 0; got rel={rel}, abs={abs}")
    words = _tolerance_words(rel, abs, factor)
    if truth is None:
        return Grade("skipped", 0.0, prediction, None, words)
    if prediction is None:
        return Grade("none", 0.0, None, truth, words)
    if isinstance(prediction, bool) or not isinstance(prediction, int | float) or not math.isfinite(prediction):
        return Grade("invalid", 0.0, prediction, truth, words)
    slack = 1 + 1e-9  # so that a prediction exactly on the edge is not lost to rounding
    if factor is not None:
        if prediction <= 0 or truth <= 0:
            return Grade("off", 0.0, prediction, truth, words)
        ratio = max(prediction / truth, truth / prediction)
        status = "right" if ratio <= factor * slack else "close" if ratio <= factor**2 * slack else "off"
    else:
        tol = max((rel or 0) * math.fabs(truth), abs or 0)
        err = math.fabs(prediction - truth)
        status = "right" if err <= tol * slack else "close" if err <= 2 * tol * slack else "off"
    return Grade(status, {"right": 1.0, "close": 0.5, "off": 0.0}[status], prediction, truth, words)


def fmt(x: Any, digits: int = 3) -> str:
    """A number for prose: integers as they are; floats to ``digits`` significant digits (up to 4 when that is
    exactly the number, as 18.04 in a results file), without a trailing ``.0``."""
    if isinstance(x, bool) or not isinstance(x, int | float) or isinstance(x, int) or not math.isfinite(x):
        return str(x)
    r = next((round_sig(x, d) for d in range(digits, 5) if round_sig(x, d) == x), round_sig(x, digits))
    return str(int(r)) if r == int(r) and math.fabs(r) < 1e15 else str(r)


def hidden(body: str, summary: str = "Answer (open it after you have predicted)") -> str:
    """Markdown whose ``body`` stays folded until the reader opens it (an HTML ``<details>`` block)."""
    return f"<details><summary><b>{summary}</b></summary>\n\n{body.strip()}\n\n</details>"


_VERDICT = {
    "right": "right",
    "close": "close (within twice the tolerance)",
    "off": "off",
    "invalid": "not a number",
    "none": "no prediction given",
    "skipped": "not measured yet",
}


class Scorecard:
    """The review's score: one entry per question id; answering a question again replaces its entry."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, Grade]] = {}

    def record(self, qid: str, result: Grade, title: str = "") -> Grade:
        """Keep ``result`` as question ``qid``'s grade (replacing an earlier one); returns it."""
        self.entries[qid] = (title, result)
        return result

    @property
    def points(self) -> float:
        return sum(g.points for _, g in self.entries.values())

    @property
    def possible(self) -> int:
        """One point per question whose number is measured (not-measured-yet questions do not count)."""
        return sum(1 for _, g in self.entries.values() if g.scored)

    def count(self, status: str) -> int:
        return sum(1 for _, g in self.entries.values() if g.status == status)

    def ask(
        self,
        qid: str,
        prediction: Any,
        truth: float | None,
        *,
        answer: str,
        name: str = "prediction",
        unit: str = "",
        title: str = "",
        rel: float | None = None,
        abs: float | None = None,
        factor: float | None = None,
    ) -> str:
        """Grade, record and render one question: a verdict line, then the answer folded in a ``<details>`` block.

        ``name`` is the learner's variable (the verdict tells them to set it); ``unit`` follows the
        numbers. Returns Markdown.
        """
        g = self.record(qid, grade(prediction, truth, rel=rel, abs=abs, factor=factor), title)
        unit_ = unit if unit.startswith(("x", "%")) or not unit else f" {unit}"  # 2x, 80%, 20 steps
        head = f"**{qid}: {_VERDICT[g.status]}**"
        if g.status == "none":
            line = f"{head} (0 points). Set `{name}` in the cell above to a number, then run both cells."
        elif g.status == "invalid":
            line = f"{head}: `{name}` = {prediction!r} (0 points). Set it to a number, then run both cells."
        elif g.status == "skipped":
            line = f"{head}: this question is not scored until the result file exists."
        else:
            line = (
                f"{head}: you said {fmt(prediction)}{unit_}, measured {fmt(truth)}{unit_} "
                f"(full marks {g.tolerance}): {fmt(g.points)} of 1 point."
            )
        measured_line = "" if truth is None else f"**Measured: {fmt(truth)}{unit_}.**\n\n"
        return line + "\n\n" + hidden(measured_line + answer.strip())

    def summary(self) -> str:
        """One line: points of possible, and how many questions were answered, left open or not measured."""
        pct = f" ({100 * self.points / self.possible:.0f}%)" if self.possible else ""
        return (
            f"**{fmt(self.points)} of {self.possible} points{pct}**: {self.count('right')} right, "
            f"{self.count('close')} close, {self.count('off') + self.count('invalid')} off, "
            f"{self.count('none')} without a prediction; {self.count('skipped')} not measured yet (not scored)."
        )

    def table(self) -> str:
        """A Markdown table of every recorded question: verdict and points."""
        rows = ["| question | topic | verdict | points |", "| --- | --- | --- | --- |"]
        for qid, (title, g) in self.entries.items():
            pts = "-" if not g.scored else fmt(g.points)
            rows.append(f"| {qid} | {title.replace('|', '/')} | {_VERDICT[g.status]} | {pts} |")
        return "\n".join(rows)
