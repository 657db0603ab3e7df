"""The results writer and the README's generated table: one schema, no overwrite, README in sync."""

from __future__ import annotations

import json

import pytest

from diffusion_course.evaluation import report
from diffusion_course.evaluation.results import (
    PROVENANCE_FIELDS,
    RESULTS_DIR,
    ResultError,
    list_results,
    provenance,
    read_result,
    weights_provenance,
    write_result,
)


def test_write_then_read_round_trip_with_every_provenance_field(tmp_path):
    prov = provenance("python -m diffusion_course bench --model oracle", "cpu", None)
    path = write_result(
        "demo", {"rows": [{"a": 1, "b": [1, 2]}], "n": 3}, prov, root=tmp_path, csv_rows=[{"a": 1, "b": 2}]
    )
    back = read_result("demo", tmp_path)
    assert path == tmp_path / "demo" / "result.json" and list(back)[: len(PROVENANCE_FIELDS)] == list(PROVENANCE_FIELDS)
    assert back["rows"] == [{"a": 1, "b": [1, 2]}] and back["device"] == "cpu" and back["hardware"]["device"] == "cpu"
    assert (tmp_path / "demo" / "result.csv").read_text().splitlines() == ["a,b", "1,2"]
    assert back["git_commit"] is None or len(back["git_commit"].split("+")[0]) == 40


def test_nothing_is_overwritten_by_accident_and_bad_input_is_refused(tmp_path):
    prov = provenance("cmd")
    write_result("demo", {"x": 1}, prov, root=tmp_path)
    with pytest.raises(ResultError, match="exists"):
        write_result("demo", {"x": 2}, prov, root=tmp_path)
    assert read_result("demo", tmp_path)["x"] == 1
    write_result("demo", {"x": 2}, prov, root=tmp_path, overwrite=True)
    assert read_result("demo", tmp_path)["x"] == 2
    with pytest.raises(ResultError, match="provenance lacks"):
        write_result("other", {"x": 1}, {"command": "c"}, root=tmp_path)
    with pytest.raises(ResultError, match="provenance fields"):
        write_result("other", {"command": "sneaky"}, prov, root=tmp_path)
    with pytest.raises(ResultError, match="plain folder name"):
        write_result("../escape", {"x": 1}, prov, root=tmp_path)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "result.json").write_text(json.dumps({"command": "c", "rows": []}))
    with pytest.raises(ResultError, match="lacks the provenance fields"):
        read_result("old", tmp_path)


def test_every_committed_result_loads_with_the_one_schema():
    names = list_results()
    assert {"bench_oracle", "bench_toy", "bench_mnist_gpu", "mnist_guidance", "train_cost"} <= set(names)
    for name in names:
        r = read_result(name)  # raises on a missing field
        assert set(r["hardware"]) >= {"machine", "torch_threads", "device", "gpu"} and r["device"] in ("cpu", "cuda")
        assert r["command"].startswith(("python -m diffusion_course", "python benchmarks/"))
    assert not list(RESULTS_DIR.glob("*.json")), "result files belong in assets/results/<experiment>/"


def test_weights_provenance_says_whether_the_shipped_weights_were_measured():
    from diffusion_course.checkpoints import read_manifest

    sha = read_manifest()["mnist-ddpm"]["sha256"]
    assert weights_provenance({"weights_sha256": sha}).startswith("measured on the shipped mnist-ddpm")
    other = weights_provenance({"weights_sha256": "0" * 64, "weights_note": "an older run"})
    assert other.startswith("measured on other weights (sha256 000000000000)")
    assert other.endswith("; the file says: an older run") and "does not record" in weights_provenance({})
    assert weights_provenance(read_result("mnist_guidance")).startswith("measured on the shipped")
    assert weights_provenance(read_result("bench_mnist_gpu")).startswith("measured on other weights")


def test_readme_measured_table_is_generated_from_the_files():
    """Fails when README.md and assets/results disagree: run `python -m diffusion_course report`."""
    assert report.update_readme(check=True), "README.md is stale: run `python -m diffusion_course report`"


def test_the_table_reads_the_numbers_from_the_files(tmp_path):
    table = report.render_table()
    guidance = read_result("mnist_guidance")
    row = next(line for line in table.splitlines() if line.startswith("| `mnist_guidance`"))
    for r in guidance["rows"]:
        assert f"w = {r['w']:g}: {r['class_accuracy_pct']:g}% / {r['fid_over_floor']:g}x" in row
    old = next(line for line in table.splitlines() if line.startswith("| `bench_mnist_gpu`"))
    assert "(weights: these are the first shipped mnist-ddpm" in old and "(weights:" not in row
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.BEGIN}\nstale\n{report.END}\noutro\n")
    assert not report.update_readme(readme, check=True)
    report.update_readme(readme)
    assert readme.read_text() == f"intro\n{table}\noutro\n" and report.update_readme(readme, check=True)
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ValueError, match="no generated block"):
        report.update_readme(tmp_path / "plain.md")


def test_the_param_stability_headline_reads_every_cell_of_the_summary():
    r = read_result("param_stability_sweep")
    line = report.headline(r)
    for x in r["summary"]:
        assert f"{x['target']} lr {x['lr']:g}: DDIM-50 W2 {x['w2_ddim_mean']:g} +- {x['w2_ddim_std']:g}" in line


def test_the_reference_spread_headline_reads_every_paired_gap():
    r = read_result("mnist_sampler_fid_spread")
    line = report.headline(r)
    assert f"against {len(r['rows'])} reference draws" in line
    for g in r["gaps"]:
        assert f"{g['a']} - {g['b']} {g['mean']:+.1f} (sd {g['std']}, {g['a']} lower on {g['a_lower']} of" in line
