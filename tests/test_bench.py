"""The sampler benchmark on the exact mixture oracle: result files, NFE counts, quality vs steps, no overwrite."""

import csv
import json

import pytest
import torch

from diffusion_course.cli import bench as bench_cli
from diffusion_course.evaluation import bench, bench_models
from diffusion_course.evaluation.results import PROVENANCE_FIELDS, read_result


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    argv = [
        "--model",
        "oracle",
        "--n",
        "300",
        "--steps",
        "5",
        "50",
        "--samplers",
        "ddim",
        "heun",
        "--results-dir",
        str(out),
        "--quiet",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    threads = torch.get_num_threads()
    try:
        assert bench_cli.main(argv) == 0
    finally:
        torch.set_num_threads(threads)  # --threads sets torch's global thread count
    with open(out / "bench_oracle" / "result.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return out, rows, json.loads((out / "bench_oracle" / "result.json").read_text())


def _row(rows, sampler, steps):
    (r,) = [r for r in rows if r["sampler"] == sampler and r["steps"] == str(steps)]
    return r


def test_writes_csv_json_and_plot(oracle_run):
    out, rows, meta = oracle_run
    assert (out / "bench_oracle" / "result.png").stat().st_size > 10_000
    assert [(r["sampler"], r["steps"]) for r in rows] == [
        ("ddim", "5"),
        ("ddim", "50"),
        ("heun", "5"),
        ("heun", "50"),
        ("floor", ""),
        ("floor_min", ""),
        ("floor_max", ""),
    ]
    assert meta["command"].startswith("python -m diffusion_course bench --model oracle")
    for key in (*PROVENANCE_FIELDS, "floor", "rows"):
        assert key in meta
    assert read_result("bench_oracle", out) == meta  # the reader checks the schema
    assert meta["hardware"]["cpu_count"] >= 1 and meta["hardware"]["device"] == "cpu" == meta["device"]
    assert meta["hardware"]["torch_threads"] == 1 and meta["weights_sha256"] is None
    assert len(meta["load_average"]) == 3
    assert all(float(r["ms_per_sample"]) > 0 for r in rows[:-3])


def test_nfe_is_the_samplers_count(oracle_run):
    _, rows, _ = oracle_run
    for steps in (5, 50):
        assert int(_row(rows, "ddim", steps)["nfe"]) == steps  # one evaluation per step
        assert int(_row(rows, "heun", steps)["nfe"]) == 2 * steps - 1  # Euler on the last step (Karras et al.)


def test_quality_improves_with_steps_and_reaches_the_floor(oracle_run):
    _, rows, _ = oracle_run
    few, many, floor = _row(rows, "ddim", 5), _row(rows, "ddim", 50), _row(rows, "floor", "")
    # 5 DDIM steps on the exact denoiser blur the modes: far lower likelihood, larger MMD
    assert float(many["log_likelihood"]) > float(few["log_likelihood"]) + 1.0
    assert float(many["mmd_rbf"]) < float(few["mmd_rbf"]) / 10
    # 50 steps of the exact denoiser are as good as real samples, up to the sampling noise at n=300
    assert abs(float(many["log_likelihood"]) - float(floor["log_likelihood"])) < 0.2
    assert float(many["sliced_w2"]) < 1.2 * float(_row(rows, "floor_max", "")["sliced_w2"])
    # outliers: points where real data lands with probability 0.1%; many at 5 steps, ~none at 50
    assert float(few["outliers_pct"]) > 10 and float(many["outliers_pct"]) <= 1.0


def test_floor_spread_brackets_the_floor(oracle_run):
    _, rows, meta = oracle_run
    assert meta["floor_seeds"] == [0, 1, 2, 3, 4]
    for key in ("sliced_w2", "mmd_rbf", "log_likelihood"):
        lo, hi = meta["floor_spread"][key]
        assert lo <= meta["floor"][key] <= hi and lo < hi  # independent real sets differ: that is the noise


def test_refuses_to_overwrite(oracle_run, capsys):
    out, _, meta = oracle_run
    before = (out / "bench_oracle" / "result.json").read_text()
    argv = [
        "--model",
        "oracle",
        "--n",
        "20",
        "--steps",
        "2",
        "--samplers",
        "ddim",
        "--results-dir",
        str(out),
        "--quiet",
    ]
    assert bench_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "bench_oracle" / "result.json").read_text() == before


def test_unknown_sampler_is_rejected():
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        bench.run_one(bench_models.oracle_bench(), "euler", 5, 10)


def test_toy_model_is_trained_once_then_loaded_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFUSION_COURSE_CACHE", str(tmp_path))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, config = bench_models.toy_model(train_steps=3, progress=False)
        (cached,) = (tmp_path / "bench").glob("toy-gaussians8-*.pt")
        stamp = cached.stat().st_mtime_ns
        again, config2 = bench_models.toy_model(train_steps=3, progress=False)
        bench_models.toy_model(train_steps=4, progress=False)  # other settings, other file
    finally:
        torch.set_num_threads(threads)
    assert cached.stat().st_mtime_ns == stamp and len(list((tmp_path / "bench").glob("*.pt"))) == 2
    assert config["data"]["toy"] == "gaussians8" and config2["steps"] == 3
    for p, q in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(p, q)
