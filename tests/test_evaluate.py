"""evaluate.generate: shapes, determinism under a seed, guidance wiring; the CLIs refuse to overwrite."""
from __future__ import annotations

import pytest
import torch

from diffusion_course import evaluate
from diffusion_course.models.unet import UNet

CONFIG = {"schedule": {"name": "linear", "T": 50}, "prediction": "eps", "image_size": 28}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_classes=10,
                attention_resolutions=(), dropout=0.0).eval()


def test_generate_shapes_range_and_seed(tiny):
    y = torch.arange(6) % 10
    a = evaluate.generate(tiny, CONFIG, y, 6, sampler="ddim", steps=5, w=0.5, seed=3, progress=False)
    b = evaluate.generate(tiny, CONFIG, y, 6, sampler="ddim", steps=5, w=0.5, seed=3, progress=False)
    c = evaluate.generate(tiny, CONFIG, y, 6, sampler="ddim", steps=5, w=0.5, seed=4, progress=False)
    assert a.shape == (6, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_guidance_weight_zero_is_the_conditional_model(tiny):
    from diffusion_course.samplers import ddim

    y = torch.tensor([1, 7])
    x = evaluate.generate(tiny, CONFIG, y, 2, sampler="ddim", steps=4, w=0.0, seed=1, progress=False)
    sched = evaluate.schedule_of(CONFIG)
    x_T = torch.randn((2, 1, 28, 28), generator=torch.Generator().manual_seed(1))
    ref = ddim(lambda xt, t: tiny(xt, t, y), x_T, sched, sched.timesteps(4, "trailing"), clip_x0=1.0)
    assert torch.allclose(x, ref.clamp(-1, 1), atol=1e-5)


def test_unknown_sampler_is_rejected(tiny):
    with pytest.raises(ValueError, match="unknown sampler"):
        evaluate.generate(tiny, CONFIG, None, 2, sampler="euler", progress=False)


def test_clis_refuse_to_overwrite(tmp_path):
    out = tmp_path / "r.json"
    out.write_text("keep me")
    with pytest.raises(SystemExit):
        evaluate.main(["mnist-ddpm", "--out", str(out)])
    with pytest.raises(SystemExit):
        evaluate.sample_main(["mnist-ddpm", "--out", str(out)])
    assert out.read_text() == "keep me"


def test_results_name_the_weights_they_measured(tmp_path):
    """checkpoint_sha256 gives the manifest's hash for a name and the file's hash for a path, and they agree."""
    from diffusion_course.checkpoints import read_manifest, verify

    path = verify("mnist-ddpm")
    assert evaluate.checkpoint_sha256("mnist-ddpm") == read_manifest()["mnist-ddpm"]["sha256"]
    assert evaluate.checkpoint_sha256(str(path)) == evaluate.checkpoint_sha256("mnist-ddpm")
    other = tmp_path / "other.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    other.write_bytes(bytes(data))
    assert evaluate.checkpoint_sha256(str(other)) != evaluate.checkpoint_sha256("mnist-ddpm")


def test_provenance_says_whether_the_shipped_weights_were_measured():
    from diffusion_course.checkpoints import read_manifest

    sha = read_manifest()["mnist-ddpm"]["sha256"]
    assert evaluate.provenance({"checkpoint_sha256": sha}).startswith("measured on the shipped mnist-ddpm")
    other = evaluate.provenance({"checkpoint_sha256": "0" * 64, "checkpoint_note": "an older run"})
    assert other.startswith("measured on other weights (sha256 000000000000)") and other.endswith("; the file says: an older run")
    assert "does not record" in evaluate.provenance({})


def test_shipped_model_draws_the_requested_digits():
    """The shipped mnist-ddpm weights, guided (w = 0.5, DDIM-20), are read as the requested digit
    by the independent shipped classifier: a broken or swapped checkpoint fails here."""
    from diffusion_course.models.classifier import accuracy, load_classifier

    model, config = evaluate.load_model("mnist-ddpm")
    y = torch.arange(30) % 10
    x = evaluate.generate(model, config, y, 30, sampler="ddim", steps=20, w=0.5, seed=0, progress=False)
    assert accuracy(load_classifier(), x, y) >= 0.9
