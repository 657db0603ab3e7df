"""benchmarks/train_cost.py: stops through the training loop's callbacks and writes a schema-valid result."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from diffusion_course import data
from diffusion_course.config import REPO_ROOT
from diffusion_course.evaluation.results import PROVENANCE_FIELDS, read_result

pytestmark = pytest.mark.skipif(not data.available()["MNIST"], reason="needs MNIST on disk")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()  # the script sets its own thread count
    yield
    torch.set_num_threads(threads)


def test_train_cost_stops_cleanly_and_refuses_to_overwrite(tmp_path, capsys, keep_threads):
    train_cost = _load("train_cost")
    argv = [
        "--base-channels", "8", "--batch-size", "8", "--eval-every", "2", "--n-eval", "10",
        "--max-minutes", "1e-9", "--threads", "1", "--results-dir", str(tmp_path), "--experiment", "tiny",
    ]  # fmt: skip
    assert train_cost.main(argv) == 0
    result = read_result("tiny", tmp_path)  # raises unless every provenance field is there
    assert set(PROVENANCE_FIELDS) <= set(result)
    assert result["command"] == "python benchmarks/train_cost.py " + " ".join(argv)
    assert result["device"] == "cpu" and result["weights_sha256"] is None
    # the stop_when callback ended training at the first evaluation (time limit), not the step limit
    assert result["stopped"].startswith("training-time limit")
    assert result["steps"] == 2
    assert [row["step"] for row in result["log"]] == [2]
    assert set(result["log"][0]) == {"step", "train_minutes", "accuracy_pct"}
    for key in ("model", "batch_size", "lr", "p_uncond", "eval", "minutes_to_accuracy", "log"):
        assert key in result
    assert set(result["minutes_to_accuracy"]) == {"80%", "95%"}
    assert result["eval"] == "10 DDIM-20 samples, w=0.5"

    path = tmp_path / "tiny" / "result.json"
    before = path.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        train_cost.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "exists" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert path.read_bytes() == before


def test_peer_mlp_vae_trains_measures_and_reports(tmp_path, capsys):
    from diffusion_course.evaluation.report import headline

    peer = _load("peer_mlp_vae")
    argv = ["--epochs", "2", "--n", "30", "--results-dir", str(tmp_path), "--experiment", "peer"]
    assert peer.main(argv) == 0
    r = read_result("peer", tmp_path)
    assert r["epoch_losses"][1] < r["epoch_losses"][0]  # the negative ELBO falls
    assert r["samples"]["fid_over_floor"] > 1 and 0 <= r["samples"]["confident_pct"] <= 100
    assert "prior samples FID" in headline(r)
    capsys.readouterr()
    assert peer.main(argv) == 2 and "--overwrite" in capsys.readouterr().err


def test_vae_beta_sweep_writes_one_row_per_beta(tmp_path, capsys):
    from diffusion_course.evaluation.report import headline

    sweep = _load("vae_beta_sweep")
    argv = ["--betas", "0.5", "2", "--steps", "6", "--n", "20", "--results-dir", str(tmp_path)]
    assert sweep.main(argv) == 0
    r = read_result("vae_beta_sweep", tmp_path)
    assert [row["beta"] for row in r["rows"]] == [0.5, 2.0] and r["steps"] == 6
    assert all(row["rate_kl_nats"] >= 0 and row["recon_fid_over_floor"] > 0 for row in r["rows"])
    assert "beta 0.5: KL" in headline(r)
    capsys.readouterr()
    assert sweep.main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert sweep.main(["--betas", "0", "--results-dir", str(tmp_path / "x")]) == 2


def test_gan_mnist_collapse_logs_coverage_at_each_check(tmp_path, keep_threads):
    collapse = _load("gan_mnist_collapse")
    argv = ["--seeds", "0", "--steps", "4", "--every", "2", "--width", "8", "--n", "20", "--no-progress"]
    argv += ["--out", "c", "--results-dir", str(tmp_path)]
    assert collapse.main(argv) == 0
    result = read_result("c", tmp_path)
    assert [row["step"] for row in result["runs"][0]["rows"]] == [2, 4]
    assert 1 <= result["final"][0]["classes_covered"] <= 10
    assert result["diffusion_reference"]["labels"] == "null (unconditional)"
    assert (tmp_path / "c" / "gan_seed0.png").exists()


def test_quality_vs_time_refuses_pairs_without_minutes(tmp_path):
    q = _load("quality_vs_time")
    argv = ["--dataset", "mnist", "--pixel", "x.pt", "--latent", "5=y.pt", "--out", "q", "--results-dir", str(tmp_path)]
    assert q.main(argv) == 2


def test_precision_curves_helpers_known_answers():
    pc = _load("precision_curves")
    assert pc.moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert pc.window_mean([9.0, 1.0, 2.0, 3.0], 3) == 2.0
    curves = {"fp32": [1.0, 0.5], "bf16": [1.0, 0.52], "fp32 (seed 1)": [1.0, 0.54]}
    rows = {r["variant"]: r for r in pc.compare(curves, "fp32", "fp32 (seed 1)", window=1)}
    assert rows["fp32"]["gap_to_fp32"] == 0 and rows["bf16"]["gap_over_seed_gap"] == 0.5
    assert rows["fp32 (seed 1)"]["gap_over_seed_gap"] == 1.0
    with pytest.raises(ValueError, match="unknown option"):
        pc._options("fp32+fp8")


def test_precision_curves_quick_run_writes_curves_and_is_deterministic(tmp_path, capsys, keep_threads):
    pc = _load("precision_curves")
    argv = ["--quick", "--variants", "fp32", "bf16", "--threads", "1", "--out", str(tmp_path)]
    assert pc.main(argv) == 0
    result = read_result("precision_curves", tmp_path)
    assert set(result["losses"]) == {"fp32", "bf16", "fp32 (seed 1)"}
    assert all(len(c) == 6 for c in result["losses"].values())
    assert (tmp_path / "precision_curves" / "curves.png").stat().st_size > 0
    # the same seed and options train the same curve: fp32 again equals the file's fp32
    data = pc.mnist_subset(64, 0)
    again = pc.train_curve(set(), data, 6, 8, torch.device("cpu"), 0)
    assert [round(v, 5) for v in again] == result["losses"]["fp32"]
    assert result["losses"]["fp32 (seed 1)"] != result["losses"]["fp32"]
    from diffusion_course.evaluation.report import headline

    line = headline(result)
    assert "bf16" in line and "seed-to-seed gap" in line and f"{result['rows'][0]['final_loss']:g}" in line
    before = (tmp_path / "precision_curves" / "result.json").read_bytes()
    capsys.readouterr()
    assert pc.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "exists" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert (tmp_path / "precision_curves" / "result.json").read_bytes() == before


def test_fid_reference_spread_rereads_caches_and_refuses_foreign_weights(tmp_path, capsys):
    from diffusion_course.checkpoints import load_pretrained
    from diffusion_course.evaluation.features import real_images
    from diffusion_course.evaluation.sample_cache import draw_in_chunks, weights_fingerprint

    bench = _load("fid_reference_spread")
    reals = real_images("mnist", True, 30, torch.Generator().manual_seed(3))[0]
    key = {"weights": weights_fingerprint(load_pretrained("mnist-ddpm")[0]), "options": {"sampler": "none"}}
    draw_in_chunks(lambda first, count: reals[first : first + count], 30, tmp_path / "a", key, chunk=10)
    draw_in_chunks(lambda first, count: -reals[first : first + count], 30, tmp_path / "b", key, chunk=10)
    foreign = {**key, "weights": "x"}
    draw_in_chunks(lambda first, count: reals[first : first + count], 30, tmp_path / "c", foreign, chunk=10)
    args = ["--cache", f"real={tmp_path / 'a'}", "--cache", f"negated={tmp_path / 'b'}", "--seeds", "0", "1"]
    assert bench.main([*args, "--out", str(tmp_path / "res")]) == 0
    result = read_result("mnist_sampler_fid_spread", tmp_path / "res")
    assert all(k in result for k in PROVENANCE_FIELDS) and len(result["rows"]) == 2
    assert result["gaps"][0]["a_lower"] == 2  # real digits beat their negatives on both draws
    for bad, message in (
        ([*args, "--cache", f"other={tmp_path / 'c'}"], "drawn from other weights"),
        (["--cache", "no-equals-sign"], "expected NAME=DIR"),
        ([*args, "--out", str(tmp_path / "res")], "exists; pass --overwrite"),
    ):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            bench.main(bad)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err
