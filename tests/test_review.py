"""The interview review: key paths into result files, the grader's tolerance edges, the score, the notebook's citations.

The last tests run the code cells of notebooks/11_interview_review.ipynb in this process (a few
seconds), recording every number the review cites, so that a renamed result or key fails here
with the experiment and the key in the message.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from diffusion_course.checkpoints import read_manifest
from diffusion_course.evaluation.results import ResultError, provenance, result_path, write_result
from diffusion_course.viz import review
from diffusion_course.viz.review import (
    CitationError,
    Scorecard,
    cite,
    cite_manifest,
    fmt,
    grade,
    hidden,
    lookup,
    measured,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "11_interview_review.ipynb"
DATA = {
    "floor": {"fid": 24.5, "spread": [20.6, 24.5]},
    "minutes": {"80%": 5.3},
    "rows": [
        {"sampler": "ddim", "steps": 20, "fid": 49.2, "ok": True},
        {"sampler": "ddim", "steps": 50, "fid": 44.8, "ok": False},
        {"sampler": "ddpm", "steps": 50, "fid": 45.3, "lr": 0.0001},
    ],
}


# ------------------------------------------------------------------------------- key paths
@pytest.mark.parametrize(
    "path, value",
    [
        ("floor.fid", 24.5),
        ("floor.spread[1]", 24.5),
        ("floor.spread[-1]", 24.5),
        ("minutes.80%", 5.3),
        ("rows[sampler=ddim,steps=50].fid", 44.8),
        ("rows[ steps = 20 ].fid", 49.2),
        ("rows[lr=0.0001].sampler", "ddpm"),
        ("rows[lr=1e-4].sampler", "ddpm"),
        ("rows[ok=True].steps", 20),
        ("rows[2].fid", 45.3),
    ],
)
def test_lookup_follows_keys_indices_and_row_selectors(path, value):
    assert lookup(DATA, path) == value


def test_a_selector_does_not_read_true_as_the_number_one():
    with pytest.raises(CitationError, match="no row"):
        lookup(DATA, "rows[ok=1]")


@pytest.mark.parametrize(
    "path, words",
    [
        ("floor.nope", ["demo", "'nope'", "in floor", "floor.nope", "fid, spread"]),
        ("nope", ["demo", "'nope'", "floor, minutes, rows"]),
        ("rows[sampler=heun].fid", ["demo", "no row", "[sampler=heun]", "3 rows"]),
        ("rows[sampler=ddim].fid", ["demo", "2 rows", "add a field"]),
        ("rows[7]", ["demo", "[7]", "3"]),
        ("floor[0]", ["demo", "floor", "not a list"]),
        ("floor.fid.deeper", ["demo", "'deeper'", "floor.fid"]),
    ],
)
def test_a_missing_key_or_row_names_the_source_and_the_key(path, words):
    with pytest.raises(CitationError) as err:
        lookup(DATA, path, source="demo")
    assert all(w in str(err.value) for w in words), str(err.value)
    assert isinstance(err.value, ValueError)  # CONTRIBUTING: bad input raises a ValueError (subclass)


@pytest.mark.parametrize("path", ["", ".floor", "floor..fid", "rows[0]fid", "rows[", "rows[=3]", "rows[steps]"])
def test_a_malformed_key_path_is_refused(path):
    with pytest.raises(ValueError, match="key path|selector"):
        lookup(DATA, path)


# ------------------------------------------------------------------------------- files
def _write(root: Path, experiment: str, result: dict) -> None:
    write_result(experiment, result, provenance("python -m diffusion_course demo"), root=root)


def test_cite_reads_a_committed_result_and_names_experiment_and_key_when_missing(tmp_path):
    _write(tmp_path, "demo_bench", DATA)
    assert cite("demo_bench", "rows[sampler=ddim,steps=20].fid", root=tmp_path) == 49.2
    with pytest.raises(CitationError, match=r"demo_bench.*'fidd'.*rows\[sampler=ddim,steps=20\]"):
        cite("demo_bench", "rows[sampler=ddim,steps=20].fidd", root=tmp_path)
    with pytest.raises(CitationError, match=r"never_measured: no result at .*wanted 'floor.fid'") as err:
        cite("never_measured", "floor.fid", root=tmp_path)
    assert isinstance(err.value, ResultError)


def test_measured_is_none_until_the_file_exists(tmp_path):
    assert measured("later", root=tmp_path) is None
    _write(tmp_path, "later", {"x": 1})
    assert measured("later", root=tmp_path)["x"] == 1


def test_cite_manifest_reads_a_checkpoints_entry(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"clf": {"metrics": {"test_accuracy": 0.9}}}))
    assert cite_manifest("clf", "metrics.test_accuracy", manifest) == 0.9
    with pytest.raises(CitationError, match=r"'other' is not in the manifest.*'metrics.test_accuracy'.*\['clf'\]"):
        cite_manifest("other", "metrics.test_accuracy", manifest)
    with pytest.raises(CitationError, match=r"checkpoint 'clf'.*'loss'"):
        cite_manifest("clf", "metrics.loss", manifest)


# ------------------------------------------------------------------------------- grading
@pytest.mark.parametrize(
    "prediction, status, points",
    [
        (20, "right", 1.0),
        (15, "right", 1.0),  # -25%: the edge counts as inside
        (25, "right", 1.0),  # +25%
        (25.01, "close", 0.5),
        (30, "close", 0.5),  # twice the tolerance: still close
        (10, "close", 0.5),
        (30.01, "off", 0.0),
        (-20, "off", 0.0),
        (None, "none", 0.0),
    ],
)
def test_relative_tolerance_edges(prediction, status, points):
    g = grade(prediction, 20, rel=0.25)
    assert (g.status, g.points) == (status, points)


@pytest.mark.parametrize(
    "prediction, status",
    [(0.35, "right"), (0.15, "right"), (0.3500001, "close"), (0.45, "close"), (0.4500001, "off"), (0.0, "off")],
)
def test_absolute_tolerance_edges(prediction, status):
    assert grade(prediction, 0.25, abs=0.1).status == status


def test_the_larger_of_relative_and_absolute_tolerance_counts():
    assert grade(1.5, 1.0, rel=0.1, abs=0.5).status == "right"
    assert grade(120, 100, rel=0.2, abs=0.5).status == "right"
    assert grade(120.5, 100, rel=0.2, abs=0.5).status == "close"


@pytest.mark.parametrize(
    "prediction, status",
    [
        (20, "right"),
        (10, "right"),
        (40, "right"),
        (9.99, "close"),
        (5, "close"),
        (80, "close"),
        (4.99, "off"),
        (80.1, "off"),
        (0, "off"),
        (-20, "off"),
    ],
)
def test_factor_tolerance_edges(prediction, status):
    assert grade(prediction, 20, factor=2).status == status


def test_a_prediction_that_is_not_a_number_scores_zero_and_says_so():
    for bad in ("20", True, math.nan, math.inf, [20]):
        g = grade(bad, 20, rel=0.1)
        assert (g.status, g.points) == ("invalid", 0.0), bad


def test_a_result_not_measured_yet_is_skipped_and_not_scored():
    g = grade(20, None, rel=0.1)
    assert (g.status, g.points, g.scored) == ("skipped", 0.0, False)
    assert grade(None, None, rel=0.1).status == "skipped"


@pytest.mark.parametrize("kw", [{}, {"rel": 0}, {"factor": 1.0}, {"factor": 2, "rel": 0.1}, {"rel": -0.1, "abs": 1}])
def test_a_missing_or_bad_tolerance_is_refused(kw):
    with pytest.raises(ValueError, match="tolerance|factor|>= 0"):
        grade(1.0, 1.0, **kw)


# ------------------------------------------------------------------------------- the score
def test_score_arithmetic_replacement_and_skipped_questions():
    card = Scorecard()
    card.record("Q1", grade(20, 20, rel=0.1), "right one")
    card.record("Q2", grade(21.5, 20, rel=0.05), "close one")
    card.record("Q3", grade(40, 20, rel=0.1))
    card.record("Q4", grade(None, 20, rel=0.1))
    card.record("Q5", grade(3, None, rel=0.1))
    assert (card.points, card.possible) == (1.5, 4)
    assert [card.count(s) for s in ("right", "close", "off", "none", "skipped")] == [1, 1, 1, 1, 1]
    card.record("Q3", grade(20.5, 20, rel=0.1))  # answering again replaces the earlier grade
    assert (card.points, card.possible, len(card.entries)) == (2.5, 4, 5)
    assert card.summary().startswith(
        "**2.5 of 4 points (62%)**: 2 right, 1 close, 0 off, 1 without a prediction; 1 not"
    )
    table = card.table().splitlines()
    assert table[0] == "| question | topic | verdict | points |" and len(table) == 2 + 5
    assert table[2] == "| Q1 | right one | right | 1 |" and table[-1] == "| Q5 |  | not measured yet | - |"
    assert Scorecard().summary().startswith("**0 of 0 points**")


def test_ask_grades_records_and_keeps_the_answer_folded():
    card = Scorecard()
    text = card.ask("Q7", None, 20, answer="Twenty, because.", name="steps_guess", unit="steps", rel=0.25)
    verdict, folded = text.split("\n\n", 1)
    assert "no prediction given" in verdict and "`steps_guess`" in verdict and "20" not in verdict
    assert folded.startswith("<details>") and folded.endswith("</details>")
    assert "**Measured: 20 steps.**" in folded and "Twenty, because." in folded
    right = card.ask("Q7", 24, 20, answer="a", unit="x", rel=0.25)
    assert "you said 24x, measured 20x" in right and "within ±25%" in right and card.points == 1
    wrong = card.ask("Q8", 4, 20, answer="b", factor=2)
    assert "**Q8: off**" in wrong and "within a factor of 2" in wrong and "0 of 1 point" in wrong
    later = card.ask("Q9", 5, None, answer="make it with ...", abs=1)
    assert "not measured yet" in later and "Measured" not in later and card.possible == 2


def test_hidden_and_fmt():
    assert hidden(" body \n", "Open") == "<details><summary><b>Open</b></summary>\n\nbody\n\n</details>"
    assert [fmt(x) for x in (18.04, 0.84672, 20291.2, 741.71, 1.0, 5, 0.0001, "a")] == [
        "18.04",
        "0.847",
        "20300",
        "742",
        "1",
        "5",
        "0.0001",
        "a",
    ]


# ------------------------------------------------------------------------------- the notebook
OPTIONAL = {
    "gan_mnist_collapse",
    "measure_mnist_gan",
    "sampling_speed_mnist",
    "gan_speed_mnist",
    "compare_latent_cifar10",
}


def _code_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _cell(sources: list[str], marker: str) -> str:
    found = [s for s in sources if marker in s]
    assert len(found) == 1, f"expected one code cell of notebook 11 with {marker!r}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def review_run():
    """Run the notebook's code cells here, recording every (kind, experiment, key path, root) it cites."""
    cited: list[tuple] = []
    real_cite, real_manifest, real_measured = review.cite, review.cite_manifest, review.measured

    def cite_(experiment, path, root=None):
        cited.append(("result", experiment, path, root))
        return real_cite(experiment, path, root)

    def manifest_(name, path, manifest_path=None):
        cited.append(("manifest", name, path, manifest_path))
        return real_manifest(name, path, manifest_path)

    def measured_(experiment, root=None):
        cited.append(("measured", experiment, None, root))
        return real_measured(experiment, root)

    sources, ns = _code_cells(), {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(review, "cite", cite_)
        mp.setattr(review, "cite_manifest", manifest_)
        mp.setattr(review, "measured", measured_)
        for i, source in enumerate(sources):
            exec(compile(source, f"notebook 11, code cell {i}", "exec"), ns)
    return ns, cited, sources


def test_every_number_the_review_cites_resolves_to_a_committed_file(review_run):
    ns, cited, _ = review_run
    card = ns["card"]
    assert len(card.entries) >= 16 and all(g.status == "none" for _, g in card.entries.values() if g.scored)
    results = {e for kind, e, _, _ in cited if kind == "result"}
    assert len(results) >= 12, results
    for kind, source, path, root in cited:
        assert root is None, f"the review must read the committed files, not {root}"
        if kind == "manifest":
            assert source in read_manifest(), source
        elif kind == "result" or source not in OPTIONAL:
            assert result_path(source).exists(), f"the review cites {source} ({path}), which has no committed result"
    assert not results & OPTIONAL, "a result that may be missing must be read with measured(), not cite()"


def test_the_notebook_grades_a_right_and_a_wrong_prediction(review_run):
    ns, _, sources = review_run
    card, cell = ns["card"], _cell(sources, 'ask("Q5"')
    truth = card.entries["Q5"][1].truth
    for prediction, status in ((truth, "right"), (truth * 5, "off"), (None, "none")):
        exec(f"ddim_steps = {prediction!r}\n" + cell, ns)
        assert card.entries["Q5"][1].status == status, prediction
    exec(cell.replace("ddim_steps", "'twenty'"), ns)
    assert card.entries["Q5"][1].status == "invalid"


def test_the_gan_questions_read_their_results_when_present_and_skip_when_absent(review_run):
    ns, _, sources = review_run
    card, q21, q22 = ns["card"], _cell(sources, 'ask("Q21"'), _cell(sources, 'ask("Q22"')
    fake = {
        "gan_mnist_collapse": {
            "final": [
                {"seed": 0, "classes_covered": 4, "recall_pct": 10.0},
                {"seed": 1, "classes_covered": 7, "recall_pct": 30.0},
            ],
            "diffusion_reference": {"classes_covered": 10},
        },
        "measure_mnist_gan": {"fid_over_floor": 3.0, "recall_pct": 40.0},
        "arena_mnist": {
            "rows": [
                {"name": "GAN (one pass)", "ms_per_image": 0.5},
                {"name": "pixel DDPM-1000", "ms_per_image": 5000.0},
            ]
        },
    }
    saved = ns["measured"]
    try:
        ns["measured"] = lambda experiment, root=None: None
        ns.update(gan_classes=5, gan_speedup=100)
        for cell, qid in ((q21, "Q21"), (q22, "Q22")):
            exec(cell, ns)
            assert card.entries[qid][1].status == "skipped" and "not measured yet" in ns["detail"].lower()
        ns["measured"] = fake.get
        exec(q21, ns)
        assert card.entries["Q21"][1].truth == 5.5 and card.entries["Q21"][1].status == "right"
        assert "4, 7 classes" in ns["detail"] and "10 classes" in ns["detail"] and "3.0x the floor" in ns["detail"]
        exec(q22, ns)
        assert card.entries["Q22"][1].truth == 10000 and card.entries["Q22"][1].status == "off"
        ns["measured"] = {"arena_mnist": {"rows": [{"name": "GAN (one pass)", "ms_per_image": 0.5}]}}.get
        with pytest.raises(CitationError, match="arena_mnist.*DDPM-1000"):
            exec(q22, ns)
    finally:
        ns["measured"] = saved
