"""Generation: shapes, per-image seeds, guidance wiring, the sample command's files and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion_course.checkpoints import load_any, read_manifest, verify, weights_sha256
from diffusion_course.diffusion.schedules import schedule_from_config
from diffusion_course.models.unet import UNet
from diffusion_course.pipelines import balanced_labels, generate, pipeline_from_checkpoint

CONFIG = {"schedule": {"name": "linear", "T": 50}, "prediction": "eps", "image_size": 28}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return UNet(
        base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_classes=10, attention_resolutions=(), dropout=0.0
    ).eval()


def test_generate_shapes_range_and_seed(tiny):
    y = torch.arange(6) % 10
    a = generate(tiny, CONFIG, y, 6, sampler="ddim", steps=5, w=0.5, seed=3, progress=False)
    b = generate(tiny, CONFIG, y, 6, sampler="ddim", steps=5, w=0.5, seed=3, progress=False)
    c = generate(tiny, CONFIG, y, 6, sampler="ddim", steps=5, w=0.5, seed=4, progress=False)
    assert a.shape == (6, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_image_i_depends_only_on_seed_and_i(tiny, sampler):
    """Batch sizes 7 and 50 give the same images, also for a stochastic sampler (DDPM draws noise per step)."""
    y = balanced_labels(50)
    a = generate(tiny, CONFIG, y, 50, sampler=sampler, steps=4, w=0.5, seed=1, batch_size=7, progress=False)
    b = generate(tiny, CONFIG, y, 50, sampler=sampler, steps=4, w=0.5, seed=1, batch_size=50, progress=False)
    assert (a - b).abs().max() <= 1e-5
    first = generate(tiny, CONFIG, y[:9], 9, sampler=sampler, steps=4, w=0.5, seed=1, progress=False)
    assert (first - a[:9]).abs().max() <= 1e-5  # a shorter run is a prefix of a longer one


def test_guidance_weight_zero_is_the_conditional_model(tiny):
    from diffusion_course.diffusion.seeds import PerImageGenerator
    from diffusion_course.samplers import ddim

    y = torch.tensor([1, 7])
    x = generate(tiny, CONFIG, y, 2, sampler="ddim", steps=4, w=0.0, seed=1, progress=False)
    sched = schedule_from_config(CONFIG)
    x_T = PerImageGenerator(1, range(2)).randn((2, 1, 28, 28))
    ref = ddim(lambda xt, t: tiny(xt, t, y), x_T, sched, sched.timesteps(4, "trailing"), clip_x0=1.0)
    assert torch.allclose(x, ref.clamp(-1, 1), atol=1e-5)


def test_pipeline_reads_shape_clipping_and_latent_scale_from_the_config(tiny):
    pixel = pipeline_from_checkpoint(tiny, CONFIG)
    assert pixel.shape == (1, 28, 28) and pixel.clip_x0 == 1.0 and pixel.decoder is None
    decoded = []
    latent_cfg = {**CONFIG, "data_shape": [1, 28, 28], "clip_x0": None, "latent_scale": 2.0}
    latent = pipeline_from_checkpoint(tiny, latent_cfg, decoder=lambda z: decoded.append(z) or z * 0 + 0.25)
    assert latent.clip_x0 is None and latent.latent_scale == 2.0
    out = generate(latent, None, torch.tensor([3]), 1, steps=3, progress=False)
    assert torch.equal(out, torch.full((1, 1, 28, 28), 0.25)) and len(decoded) == 1


def test_bad_requests_are_rejected(tiny):
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        generate(tiny, CONFIG, None, 2, sampler="euler", progress=False)
    with pytest.raises(ValueError, match="one label per image"):
        generate(tiny, CONFIG, torch.tensor([1]), 2, progress=False)
    with pytest.raises(ValueError, match="no schedule spec"):
        generate(tiny, {"prediction": "eps"}, None, 2, progress=False)


def test_balanced_labels_cycle_through_the_classes():
    assert balanced_labels(23).tolist() == [i % 10 for i in range(23)]
    assert torch.bincount(balanced_labels(1000)).tolist() == [100] * 10


def test_results_name_the_weights_they_measured(tmp_path):
    """weights_sha256 gives the manifest's hash for a name and the file's hash for a path, and they agree."""
    path = verify("mnist-ddpm")
    assert weights_sha256("mnist-ddpm") == read_manifest()["mnist-ddpm"]["sha256"] == weights_sha256(str(path))
    other = tmp_path / "other.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    other.write_bytes(bytes(data))
    assert weights_sha256(str(other)) != weights_sha256("mnist-ddpm")


def test_shipped_model_draws_the_requested_digits():
    """The shipped mnist-ddpm weights, guided (w = 0.5, DDIM-20), are read as the requested digit
    by the independent shipped classifier: a broken or swapped checkpoint fails here."""
    from diffusion_course.evaluation.features import feature_network
    from diffusion_course.training.classifier import accuracy

    model, config = load_any("mnist-ddpm")
    y = balanced_labels(30)
    x = generate(model, config, y, 30, sampler="ddim", steps=20, w=0.5, seed=0, progress=False)
    assert accuracy(feature_network("mnist"), x, y) >= 0.9


# ----------------------------------------------------------------------------- the sample command


def _sample(argv, capsys):
    from diffusion_course.cli import sample

    code = sample.main(argv)
    return code, capsys.readouterr()


def test_sample_writes_npz_in_the_evaluation_suite_convention(tmp_path, capsys):
    out = tmp_path / "s.npz"
    code, _ = _sample(
        [
            "mnist-ddpm",
            "--n",
            "12",
            "--steps",
            "3",
            "--seed",
            "2",
            "--out",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0
    with np.load(out) as f:
        images, labels = f["arr_0"], f["arr_1"]
    assert images.shape == (12, 28, 28, 1) and images.dtype == np.uint8
    assert labels.tolist() == [i % 10 for i in range(12)]  # no --label: the classes cycle
    model, config = load_any("mnist-ddpm")
    x = generate(model, config, balanced_labels(12), 12, steps=3, w=0.5, seed=2, progress=False)
    assert np.abs(((x + 1) * 127.5).round().permute(0, 2, 3, 1).numpy() - images).max() <= 1  # the same images


def test_sample_png_with_one_label(tmp_path, capsys):
    out = tmp_path / "threes.png"
    code, _ = _sample(
        [
            "mnist-ddpm",
            "--n",
            "4",
            "--label",
            "3",
            "--steps",
            "2",
            "--out",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--label", "12"], "--label must be in 0..9"),
        (["--steps", "5000"], "--steps must be in 1..1000"),
        (["--out", "x.jpg"], "--out must end in one of"),
    ],
)
def test_sample_mistakes_are_one_line_and_status_2(tmp_path, capsys, extra, message):
    argv = ["mnist-ddpm", "--n", "2", "--out", str(tmp_path / "a.png"), "--no-progress", "--device", "cpu", *extra]
    code, cap = _sample(argv, capsys)
    assert code == 2 and message in cap.err and len(cap.err.strip().splitlines()) == 1
    assert not (tmp_path / "a.png").exists()


def test_sample_refuses_to_overwrite_and_unknown_checkpoints(tmp_path, capsys):
    out = tmp_path / "keep.png"
    out.write_bytes(b"keep")
    code, cap = _sample(["mnist-ddpm", "--out", str(out)], capsys)
    assert code == 2 and "--overwrite" in cap.err and out.read_bytes() == b"keep"
    code, cap = _sample(["no-such-model", "--out", str(tmp_path / "n.png"), "--device", "cpu"], capsys)
    assert code == 2 and "unknown pretrained checkpoint 'no-such-model'" in cap.err
    with pytest.raises(SystemExit) as exc:
        _sample(["mnist-ddpm", "--out", str(tmp_path / "n.png"), "--sampler", "euler"], capsys)
    assert exc.value.code == 2


def test_sample_dispatches_on_the_family_and_refuses_options_of_another_family(tmp_path, capsys):
    out = tmp_path / "vae.npz"
    code, _ = _sample(
        ["mnist-vae", "--n", "10", "--temperature", "0.8", "--out", str(out), "--no-progress", "--device", "cpu"],
        capsys,
    )
    assert code == 0
    with np.load(out) as f:
        assert f["arr_0"].shape == (10, 28, 28, 1) and f["arr_1"].tolist() == list(range(10))
    code, cap = _sample(["mnist-vae", "--steps", "20", "--out", str(tmp_path / "b.png"), "--device", "cpu"], capsys)
    assert code == 2 and "--steps does not apply to a 'vae' checkpoint" in cap.err
    code, cap = _sample(
        ["mnist-ddpm", "--temperature", "2", "--out", str(tmp_path / "c.png"), "--device", "cpu"], capsys
    )
    assert code == 2 and "--temperature does not apply to a 'diffusion' checkpoint" in cap.err


def test_progress_ticks_once_per_sampler_step_of_each_batch(tiny, monkeypatch):
    import tqdm.auto

    bars = []

    class Recorder:
        def __init__(self, total, **kw):
            self.total, self.n, self.closed = total, 0, False
            bars.append(self)

        def update(self, k=1):
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    y = torch.arange(7) % 10
    quiet = generate(tiny, CONFIG, y, 7, sampler="ddim", steps=5, seed=2, batch_size=3, progress=False)
    loud = generate(tiny, CONFIG, y, 7, sampler="ddim", steps=5, seed=2, batch_size=3, progress=True)
    assert torch.equal(quiet, loud)
    (bar,) = bars
    assert bar.total == 3 * 5 and bar.n == 15 and bar.closed  # 3 batches of 5 steps each
