"""measure(): every family through the same instruments; the measure command's file, refusals and one-line errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from diffusion_course.checkpoints import save_checkpoint
from diffusion_course.cli import main
from diffusion_course.evaluation.measure import measure, network_evaluations, psnr
from diffusion_course.evaluation.report import headline
from diffusion_course.evaluation.results import read_result
from diffusion_course.models.unet import UNet
from diffusion_course.pipelines import families

CONFIG = {"schedule": {"name": "linear", "T": 50}, "prediction": "eps", "image_size": 28}
N = 20


def tiny_unet(num_classes: int | None = 10) -> UNet:
    torch.manual_seed(0)
    return UNet(
        base_channels=8,
        channel_mults=(1, 2),
        num_res_blocks=1,
        num_classes=num_classes,
        attention_resolutions=(),
        dropout=0.0,
    ).eval()


def identity_reconstructor(seen_labels: list):
    """A perfect autoencoder's reconstruction: the images themselves (recording the labels it was given)."""

    def reconstruct(model, x, y=None, batch_size=500):
        seen_labels.append(y)
        return x.clone()

    return reconstruct


@pytest.fixture(scope="module")
def guided_result():
    return measure(tiny_unet(), CONFIG, n=N, seed=1, sampler="ddim", steps=2, w=0.5)


def test_measure_returns_every_field_in_sane_ranges(guided_result):
    r = guided_result
    assert r["kind"] == "measure" and r["family"] == "diffusion" and r["dataset"] == "mnist"
    assert r["n"] == N and r["seed"] == 1 and r["conditional"] is True
    assert r["options"] == {"sampler": "ddim", "steps": 2, "w": 0.5}
    assert r["network_evaluations_per_image"] == 4 and "doubled" in r["network_evaluations_counted"]
    assert r["ms_per_image"] > 0 and r["generate_seconds"] >= 0
    assert 0 <= r["class_accuracy_pct"] <= 100
    assert r["mnist_classifier_fid"] > 0 and r["floor"]["n"] == N
    assert r["fid_over_floor"] == pytest.approx(r["mnist_classifier_fid"] / r["floor"]["mnist_classifier_fid"], 0.01)
    for k in ("precision_pct", "recall_pct", "mean_confidence_pct", "max_class_deviation_pct"):
        assert 0 <= r[k] <= 100, k
    assert sum(r["class_histogram_pct"]) == pytest.approx(100, abs=0.5)
    sh = r["sharpness"]
    assert sh["gradient_ratio"] > 0 and sh["high_freq_ratio"] >= 0 and sh["real_n"] == N
    assert all(lo <= 1 <= hi for lo, hi in sh["real_spread"].values())
    assert "reconstruction" not in r
    json.dumps(r, allow_nan=False)  # what the results writer will store
    assert "requested class" in headline(r) and "ms per image" in headline(r)


def test_an_unconditional_model_gets_no_labels_and_no_doubled_batch():
    r = measure(tiny_unet(None), CONFIG, n=N, sampler="ddim", steps=3, w=0.0)
    assert r["conditional"] is False and r["class_accuracy_pct"] is None
    assert r["network_evaluations_per_image"] == 3
    assert "requested class" not in headline(r)


def test_a_perfect_autoencoder_reconstructs_at_exactly_the_floor(monkeypatch):
    seen_labels: list = []
    monkeypatch.setitem(families.RECONSTRUCTORS, "perfect", identity_reconstructor(seen_labels))
    monkeypatch.setitem(families.FAMILIES, "perfect", families.FAMILIES["diffusion"])
    r = measure(tiny_unet(), {**CONFIG, "family": "perfect"}, n=N, sampler="ddim", steps=1, w=0.0)
    rec = r["reconstruction"]
    assert rec["fid_over_floor"] == pytest.approx(1.0, abs=0.01)  # the floor's own images against its train set
    assert rec["psnr_db"] == pytest.approx(100.0) and rec["mse"] == 0
    assert rec["class_accuracy_pct"] >= 90 and rec["n"] == N
    assert seen_labels and all(y is not None and len(y) == N for y in seen_labels)  # the reconstructor got the labels
    assert "reconstructions:" in headline(r)


def test_psnr_closed_form_and_reconstruction_by_family():
    x = torch.zeros(2, 1, 4, 4)
    assert psnr(x + 0.1, x).tolist() == pytest.approx([10 * math.log10(400)] * 2)
    assert psnr(x, x).tolist() == pytest.approx([100.0, 100.0])  # capped: a perfect copy
    from diffusion_course.pipelines.vae import reconstruct

    assert families.reconstructor_of({"family": "vae"}) is reconstruct
    assert families.reconstructor_of({}) is None and families.reconstructor_of({"family": "gan"}) is None


def test_network_evaluations_per_family():
    assert network_evaluations("diffusion", None, False, {"sampler": "heun", "steps": 10})[0] == 19
    assert network_evaluations("diffusion", None, True, {"sampler": "ddim", "steps": 50})[0] == 100
    assert network_evaluations("vae", None, True, {})[0] == 1
    count, note = network_evaluations("flow", None, False, {})
    assert count is None and "does not report" in note
    with pytest.raises(ValueError, match="n must be an int >= 10"):
        measure(tiny_unet(), CONFIG, n=5)


# --------------------------------------------------------------------------- the command


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr()


def test_the_command_writes_one_result_and_refuses_to_overwrite_it(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "tiny.pt", tiny_unet(), CONFIG, half=False)
    argv = ["measure", str(ckpt), "--n", "10", "--steps", "2", "--device", "cpu", "--no-progress"]
    argv += ["--out", "tiny", "--results-dir", str(tmp_path / "results")]
    code, out = _run(argv, capsys)
    assert code == 0, out.err
    r = read_result("tiny", tmp_path / "results")
    assert r["command"].startswith("python -m diffusion_course measure ") and r["weights_sha256"]
    assert r["options"] == {"sampler": "ddim", "steps": 2, "w": 0.5} and r["n"] == 10
    assert r["wall_seconds"] >= 0 and len(r["load_average_end"]) == 3
    before = (tmp_path / "results" / "tiny" / "result.json").read_text()
    code, out = _run(argv, capsys)
    assert code == 2 and "exists; pass --overwrite" in out.err and len(out.err.strip().splitlines()) == 1
    assert (tmp_path / "results" / "tiny" / "result.json").read_text() == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["measure", "mnist-ddpm", "--n", "0", "--out", "x"], "must be an integer >= 1"),
        (["measure", "mnist-ddpm", "--n", "5", "--out", "x"], "--n must be at least 10"),
        (["measure", "mnist-ddpm", "--sampler", "euler", "--out", "x"], "invalid choice"),
        (["measure", "mnist-ddpm", "--n", "10"], "--out"),
        (["measure", "mnist-ddpm", "--steps", "5000", "--device", "cpu", "--out", "x"], "--steps must be in 1..1000"),
        (["measure", "nothing-shipped", "--device", "cpu", "--out", "x"], "unknown pretrained checkpoint"),
        (
            ["measure", "mnist-ddpm", "--temperature", "0.8", "--device", "cpu", "--out", "x"],
            "--temperature do not apply to a 'diffusion' checkpoint; it takes --sampler, --steps, --w",
        ),
        (["measure", "mnist-ddpm", "--out", "../escape"], "plain folder name"),
    ],
)
def test_mistakes_are_one_line_and_status_2(argv, message, capsys, tmp_path):
    code, out = _run(argv + ["--results-dir", str(tmp_path)], capsys)
    assert code == 2 and message in out.err and len(out.err.strip().splitlines()) == 1, out.err
    assert not any(tmp_path.iterdir())


def test_the_command_resumes_from_its_sample_cache(tmp_path, capsys):
    """--cache: a second run (another experiment name) reuses every chunk and reports the same numbers."""
    ckpt = save_checkpoint(tmp_path / "tiny.pt", tiny_unet(), CONFIG, half=False)
    base = ["measure", str(ckpt), "--n", "10", "--steps", "2", "--device", "cpu", "--no-progress"]
    base += ["--cache", str(tmp_path / "cache"), "--chunk", "4", "--results-dir", str(tmp_path / "results")]
    for name in ("first", "second"):
        code, out = _run(base + ["--out", name], capsys)
        assert code == 0, out.err
    first, second = read_result("first", tmp_path / "results"), read_result("second", tmp_path / "results")
    assert first["chunks"]["chunks"] == 3 and first["chunks"]["reused_from_earlier_runs"] == 0
    assert second["chunks"]["reused_from_earlier_runs"] == 3
    assert second["mnist_classifier_fid"] == first["mnist_classifier_fid"]
    code, out = _run(base + ["--out", "third", "--seed", "5"], capsys)
    assert code == 2 and "another request" in out.err and len(out.err.strip().splitlines()) == 1
