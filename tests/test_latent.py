"""Tests of latent diffusion: the autoencoder's shapes, the scale factor, samplers that cannot tell
latents from pixels, the activation-memory counter, the latent pipeline and its commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from diffusion_course import checkpoints as ck
from diffusion_course.diffusion.schedules import schedule_from_config
from diffusion_course.diffusion.seeds import PerImageGenerator
from diffusion_course.evaluation.cost import forward_flops, saved_tensor_bytes
from diffusion_course.models.unet import UNet
from diffusion_course.models.vae import VAE
from diffusion_course.pipelines.generate import Pipeline, generate
from diffusion_course.pipelines.latent import encode_images, reconstruct_autoencoder
from diffusion_course.samplers.ddim import ddim
from diffusion_course.training.latent import check_autoencoder, latent_dataset, latent_scale

SCHEDULE = {"schedule": {"name": "cosine", "T": 100, "zero_terminal_snr": False}}


def autoencoder(in_channels=1, image_size=28, seed=0):
    torch.manual_seed(seed)
    return VAE(
        in_channels=in_channels,
        image_size=image_size,
        latent="spatial",
        latent_channels=4,
        channels=(8, 8),
        num_res_blocks=1,
        num_classes=None,
    ).eval()


def unet(size=7, seed=0):
    torch.manual_seed(seed)
    return UNet(
        in_channels=4,
        base_channels=8,
        channel_mults=[1],
        num_res_blocks=1,
        attention_resolutions=[],
        num_classes=10,
        image_size=size,
    ).eval()


@pytest.mark.parametrize(("c", "size", "latent"), [(1, 28, (4, 7, 7)), (3, 32, (4, 8, 8))])
def test_encode_and_decode_shapes_of_the_f4_autoencoder(c, size, latent):
    ae = autoencoder(c, size)
    x = torch.rand(5, c, size, size) * 2 - 1
    z = encode_images(ae, x, batch_size=2)
    assert tuple(z.shape) == (5, *latent) and torch.allclose(z, ae.encode(x)[0], atol=1e-5)
    rec = reconstruct_autoencoder(ae, x, batch_size=3)
    assert rec.shape == x.shape and rec.min() >= -1 and rec.max() <= 1
    check_autoencoder(ae)


def test_the_scale_factor_gives_unit_variance_latents():
    ae = autoencoder()
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    (z, y), scale = latent_dataset(ae, x, torch.arange(64) % 10)
    raw = encode_images(ae, x)
    assert scale == pytest.approx(1 / float(raw.double().std()), rel=1e-9)
    assert float(z.double().std()) == pytest.approx(1.0, abs=1e-5) and y.tolist() == [i % 10 for i in range(64)]
    assert latent_scale(torch.tensor([0.0, 4.0])) == pytest.approx(1 / float(torch.tensor([0.0, 4.0]).std()))
    with pytest.raises(ValueError, match="zero variance"):
        latent_scale(torch.zeros(10))


def test_a_conditional_or_vector_autoencoder_is_refused():
    with pytest.raises(ValueError, match="unconditional"):
        check_autoencoder(VAE(latent="spatial", num_classes=10, channels=(8, 8)))
    with pytest.raises(ValueError, match="spatial latent"):
        check_autoencoder(VAE(latent="vector", channels=(8, 8)))


def test_the_sampler_cannot_tell_a_latent_model_from_a_pixel_model():
    """DDIM on the bare network equals the latent pipeline's samples before decoding, bit for bit."""
    model, schedule = unet(), schedule_from_config(SCHEDULE)
    labels = torch.arange(6) % 10
    seen = []

    def decoder(z):
        seen.append(z)
        return torch.zeros(len(z), 1, 28, 28)

    pipe = Pipeline(model, schedule, "v", (4, 7, 7), clip_x0=None, decoder=decoder, latent_scale=2.5)
    out = generate(pipe, None, labels, 6, steps=5, w=0.0, seed=3, progress=False)
    assert out.shape == (6, 1, 28, 28)
    x_t = PerImageGenerator(3, range(6)).randn((6, 4, 7, 7))
    direct = ddim(lambda x, t: model(x, t, labels), x_t, schedule, schedule.timesteps(5, "trailing"), prediction="v")
    assert torch.equal(seen[0] * 2.5, direct) or torch.allclose(seen[0] * 2.5, direct, atol=1e-6, rtol=0)


def test_saved_tensor_bytes_counts_what_a_linear_layer_and_a_relu_keep():
    lin = nn.Linear(10, 20)
    x = torch.randn(8, 10)
    # a linear layer saves its input (8 x 10 floats) for the weight gradient; its weight is excluded
    assert saved_tensor_bytes(lambda: lin(x).sum(), exclude=lin.parameters()) == 8 * 10 * 4
    # relu saves its output (8 x 20); square saves its input, the same storage, counted once
    assert saved_tensor_bytes(lambda: torch.relu(lin(x)).square().sum(), exclude=lin.parameters()) == 4 * (80 + 160)
    # an input that needs a gradient makes the layer save its weight (20 x 10) too, unless excluded
    xg = x.clone().requires_grad_()
    assert saved_tensor_bytes(lambda: lin(xg).sum()) == 4 * (80 + 200)
    assert saved_tensor_bytes(lambda: lin(xg).sum(), exclude=lin.parameters()) == 4 * 80
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: lin(x).sum()) == 0
    assert forward_flops(lambda: lin(x)) == 2 * 8 * 10 * 20


def _write_latent_pair(tmp_path):
    ae_path = ck.save_checkpoint(tmp_path / "ae.pt", autoencoder(), {"family": "autoencoder", "image_size": 28})
    cfg = {
        **SCHEDULE,
        "family": "latent-diffusion",
        "prediction": "v",
        "autoencoder": str(ae_path),
        "autoencoder_sha256": ck.weights_sha256(str(ae_path)),
        "latent_scale": 1.7,
        "data_shape": [4, 7, 7],
        "clip_x0": None,
        "image_size": 28,
    }
    return ae_path, ck.save_checkpoint(tmp_path / "ldm.pt", unet(), cfg)


def test_latent_checkpoints_sample_through_the_common_command(tmp_path, capsys):
    from diffusion_course.cli import sample
    from diffusion_course.pipelines.families import generate_any

    _, path = _write_latent_pair(tmp_path)
    out = tmp_path / "s.npz"
    argv = [str(path), "--n", "4", "--steps", "3", "--seed", "1", "--out", str(out), "--no-progress", "--device", "cpu"]
    assert sample.main(argv) == 0 and "latent-diffusion" in capsys.readouterr().out
    with np.load(out) as f:
        images = f["arr_0"]
    assert images.shape == (4, 28, 28, 1) and images.dtype == np.uint8
    model, config = ck.load_checkpoint(path)
    x = generate_any(model, config, torch.arange(4) % 10, 4, steps=3, w=0.5, seed=1, progress=False)
    assert np.abs(((x + 1) * 127.5).round().permute(0, 2, 3, 1).numpy() - images).max() <= 1
    ae_only = tmp_path / "ae.pt"
    assert sample.main([str(ae_only), "--n", "2", "--out", str(tmp_path / "a.png")]) == 2
    assert "autoencoder" in capsys.readouterr().err


def test_a_mismatched_autoencoder_is_refused(tmp_path):
    from diffusion_course.pipelines import latent
    from diffusion_course.pipelines.families import generate_any

    ae_path, path = _write_latent_pair(tmp_path)
    ck.save_checkpoint(ae_path, autoencoder(seed=5), {"family": "autoencoder"}, overwrite=True)
    latent._CACHE.clear()
    model, config = ck.load_checkpoint(path)
    with pytest.raises(ck.CheckpointError, match="trained on"):
        generate_any(model, config, torch.arange(2), 2, steps=2, progress=False)


def test_train_command_trains_a_latent_recipe_and_resumes_exactly(tmp_path, monkeypatch, capsys):
    from diffusion_course.cli import train as train_cli
    from diffusion_course.training import recipes

    ae_path = ck.save_checkpoint(tmp_path / "ae.pt", autoencoder(), {"family": "autoencoder", "image_size": 28})
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 1, 28, 28, generator=g) * 2 - 1, torch.arange(64) % 10
    monkeypatch.setattr(recipes, "load_data", lambda spec, seed=0: (x, y))
    recipe = dict(recipes.RECIPES["mnist-ldm"], autoencoder=str(ae_path))
    recipe["model"] = {"class": "UNet", "kwargs": dict(unet().config)}
    monkeypatch.setitem(recipes.RECIPES, "mnist-ldm", recipe)
    out = tmp_path / "ldm.pt"
    argv = ["mnist-ldm", "--steps", "4", "--batch-size", "16", "--out", str(out), "--device", "cpu", "--no-progress"]
    assert train_cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "latent scale factor" in printed and "trained mnist-ldm" in printed
    model, config = ck.load_checkpoint(out)
    _, scale = latent_dataset(ck.load_checkpoint(ae_path)[0], x)  # the file holds float16 weights
    assert config["family"] == "latent-diffusion" and config["latent_scale"] == pytest.approx(scale, rel=1e-6)
    assert config["data_shape"] == [4, 7, 7] and config["autoencoder_sha256"] == ck.weights_sha256(str(ae_path))
    first = {k: v.clone() for k, v in model.state_dict().items()}

    # the same run in two halves: stop at step 2 (checkpoint every 2), then --resume to step 4
    out2 = tmp_path / "ldm2.pt"
    half = ["mnist-ldm", "--steps", "4", "--batch-size", "16", "--out", str(out2), "--device", "cpu"]
    half += ["--no-progress", "--checkpoint-every", "2"]
    from diffusion_course.training import loop

    real_run_loop = loop.run_loop

    def stop_at_2(*a, **kw):
        kw["callbacks"] = [
            *kw.get("callbacks", []),
            loop.Every(1, lambda info: loop.STOP if info["step"] == 2 else None),
        ]
        return real_run_loop(*a, **kw)

    monkeypatch.setattr("diffusion_course.training.diffusion.run_loop", stop_at_2)
    assert train_cli.main(half) == 0
    assert ck.load_checkpoint(out2)[1]["steps"] == 2
    monkeypatch.setattr("diffusion_course.training.diffusion.run_loop", real_run_loop)
    assert train_cli.main([*half, "--resume"]) == 0
    resumed, _ = ck.load_checkpoint(out2)
    assert all(torch.equal(first[k], v) for k, v in resumed.state_dict().items())
