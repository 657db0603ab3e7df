"""Tests of the VAE family: the ELBO against closed forms, the network's shapes and refusals,
training through the shared loop (save, load, exact resume), per-image seeds, and the commands."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffusion_course import checkpoints as ck
from diffusion_course.models.vae import VAE
from diffusion_course.pipelines.families import FAMILIES, generate_any
from diffusion_course.pipelines.vae import generate_vae, reconstruct
from diffusion_course.training.loop import Every, resume_path
from diffusion_course.training.objectives import (
    bernoulli_nll,
    gaussian_kl,
    gaussian_nll,
    negative_elbo,
    reconstruction_nll,
    vae_loss,
)
from diffusion_course.training.vae import elbo_terms, train_vae

# ---------------------------------------------------------------------------------------------
# The ELBO on a linear-Gaussian model, where log p(x) and the posterior are known exactly:
# p(z) = N(0, I_k), p(x | z) = N(W z + b, s^2 I_d)  =>  p(x) = N(b, W W^T + s^2 I_d),
# p(z | x) = N(m, S) with S = (I + W^T W / s^2)^-1, m = S W^T (x - b) / s^2.
# W has orthogonal columns, so S is diagonal and the exact posterior is a diagonal-Gaussian encoder.
# ---------------------------------------------------------------------------------------------

D, K, S_NOISE = 6, 3, 0.5


def _linear_model(seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(D, K, generator=g, dtype=torch.float64))
    w = q * torch.tensor([2.0, 1.0, 0.4], dtype=torch.float64)
    b = 0.3 * torch.randn(D, generator=g, dtype=torch.float64)
    return w, b, _draw_x(w, b, 5, g)


def _cov(w):
    return w @ w.T + S_NOISE**2 * torch.eye(D, dtype=torch.float64)


def _draw_x(w, b, n, g):
    """``n`` draws of x ~ p(x) = N(b, W W^T + s^2 I) from generator ``g``."""
    return b + torch.randn(n, D, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(_cov(w)).T


def _log_px(w, b, x):
    return torch.distributions.MultivariateNormal(b, _cov(w)).log_prob(x)


def _posterior(w, b, x):
    var = 1.0 / (1.0 + (w * w).sum(0) / S_NOISE**2)  # diagonal of S
    return ((x - b) @ w) * var / S_NOISE**2, var.log().expand(x.shape[0], K)


def _elbo_closed_form(w, b, x, mu, logvar):
    """E_q[log p(x|z)] - KL(q || p(z)) for q = N(mu, diag(exp(logvar))): the expected squared error
    is the error at the mean plus tr(W diag(var) W^T)."""
    trace = (logvar.exp() * (w * w).sum(0)).sum(1)
    expected_log_lik = -gaussian_nll(x, mu @ w.T + b, S_NOISE) - trace / (2 * S_NOISE**2)
    return expected_log_lik - gaussian_kl(mu, logvar)


def test_elbo_equals_log_px_at_the_exact_posterior():
    w, b, x = _linear_model()
    mu, logvar = _posterior(w, b, x)
    assert torch.allclose(_elbo_closed_form(w, b, x, mu, logvar), _log_px(w, b, x), rtol=0, atol=1e-10)
    # the one-draw estimator the trainer minimises (negative_elbo) has that mean too
    g = torch.Generator().manual_seed(1)
    n = 20000
    xs, mus, lvs = (t.repeat_interleave(n, 0) for t in (x, mu, logvar))
    z = mus + (0.5 * lvs).exp() * torch.randn(mus.shape, generator=g, dtype=torch.float64)
    _, recon, kl = negative_elbo(xs, z @ w.T + b, mus, lvs, likelihood="gaussian", sigma=S_NOISE, reduction="none")
    est = -(recon + kl).reshape(5, n)
    se = est.std(1) / math.sqrt(n)
    assert ((est.mean(1) - _log_px(w, b, x)).abs() < 5 * se + 1e-9).all()


def test_elbo_bounds_log_px_and_the_gap_is_the_kl_to_the_posterior():
    w, b, x = _linear_model(seed=2)
    mu, logvar = _posterior(w, b, x)
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        q_mu = mu + 0.3 * torch.randn(mu.shape, generator=g, dtype=torch.float64)
        q_lv = logvar + 0.5 * torch.randn(mu.shape, generator=g, dtype=torch.float64)
        elbo = _elbo_closed_form(w, b, x, q_mu, q_lv)
        assert (elbo < _log_px(w, b, x)).all()
        gap = _log_px(w, b, x) - elbo
        assert torch.allclose(gap, gaussian_kl(q_mu, q_lv, mu, logvar), rtol=1e-9, atol=1e-10)


def test_optimising_the_elbo_over_a_linear_encoder_makes_it_tight():
    """Maximise the ELBO over a linear encoder q(z|x) = N(A x + c, diag(exp(l))): it reaches log p(x)."""
    w, b, _ = _linear_model(seed=4)
    x = _draw_x(w, b, 256, torch.Generator().manual_seed(5))
    a = torch.zeros(D, K, dtype=torch.float64, requires_grad=True)
    c = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    lv = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a, c, lv], max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-12)

    def closure():
        opt.zero_grad()
        loss = -_elbo_closed_form(w, b, x, x @ a + c, lv.expand(len(x), K)).mean()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        elbo = _elbo_closed_form(w, b, x, x @ a + c, lv.expand(len(x), K))
    assert (elbo <= _log_px(w, b, x) + 1e-9).all()
    assert (_log_px(w, b, x) - elbo).max() < 1e-6


def test_kl_of_two_diagonal_gaussians_matches_torch_distributions():
    g = torch.Generator().manual_seed(5)
    mu, lv, pmu, plv = torch.randn(4, 7, 2, 3, 3, generator=g, dtype=torch.float64)
    ours = gaussian_kl(mu, lv, pmu, plv)
    q = torch.distributions.Independent(torch.distributions.Normal(mu, (0.5 * lv).exp()), 3)
    p = torch.distributions.Independent(torch.distributions.Normal(pmu, (0.5 * plv).exp()), 3)
    assert ours.shape == (7,) and torch.allclose(ours, torch.distributions.kl_divergence(q, p), rtol=1e-10)
    std = torch.distributions.Independent(torch.distributions.Normal(torch.zeros_like(mu), 1.0), 3)
    assert torch.allclose(gaussian_kl(mu, lv), torch.distributions.kl_divergence(q, std), rtol=1e-10)
    assert torch.allclose(gaussian_kl(mu, lv, pmu, None), gaussian_kl(mu, lv, pmu, torch.zeros_like(lv)))
    assert gaussian_kl(torch.zeros(2, 5), torch.zeros(2, 5)).abs().max() == 0


def test_likelihood_terms_are_normalised_log_densities_in_nats():
    g = torch.Generator().manual_seed(6)
    x, m = torch.rand(2, 3, 1, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    normal = torch.distributions.Normal(m, 0.3)
    assert torch.allclose(gaussian_nll(x, m, 0.3), -normal.log_prob(x).sum((1, 2, 3)))
    xb = torch.randint(0, 2, (3, 1, 4, 4), generator=g).double() * 2 - 1  # binary pixels: exact Bernoulli
    logits = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    bern = torch.distributions.Bernoulli(logits=logits)
    assert torch.allclose(bernoulli_nll(xb, logits), -bern.log_prob((xb + 1) / 2).sum((1, 2, 3)))
    mu, lv = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    total, recon, kl = negative_elbo(x, m, mu, lv, beta=0.25, sigma=0.3)
    assert torch.allclose(total, recon + 0.25 * kl) and torch.allclose(recon, gaussian_nll(x, m, 0.3).mean())
    # the short form vae_loss is the Gaussian with variance 1/2, without its constant
    _, r_short, k_short = vae_loss(x, m, mu, lv)
    const = x[0].numel() * 0.5 * math.log(math.pi)
    assert torch.allclose(r_short + const, gaussian_nll(x, m, math.sqrt(0.5)).mean()) and torch.allclose(k_short, kl)
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        reconstruction_nll(x, m, "poisson")
    with pytest.raises(ValueError, match="decoder output shape"):
        reconstruction_nll(x, m[:2])
    with pytest.raises(ValueError, match="sigma"):
        gaussian_nll(x, m, 0.0)


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------


def tiny(**kw):
    torch.manual_seed(0)
    base = dict(channels=(8, 8), num_res_blocks=1, latent_dim=4, latent_channels=2)
    return VAE(**{**base, **kw})


@pytest.mark.parametrize("shape", [(1, 28), (3, 32)])
@pytest.mark.parametrize("latent", ["vector", "spatial"])
@pytest.mark.parametrize("classes", [None, 10])
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_encoder_and_decoder_shapes(shape, latent, classes, likelihood):
    c, size = shape
    model = tiny(in_channels=c, image_size=size, latent=latent, num_classes=classes, likelihood=likelihood)
    r = size // 4
    want = (4,) if latent == "vector" else (2, r, r)
    assert model.latent_shape == want and model.in_channels == c and model.image_size == size
    assert model.num_classes == classes and model.config["likelihood"] == likelihood
    x = torch.rand(3, c, size, size) * 2 - 1
    y = None if classes is None else torch.tensor([0, 4, 9])
    mu, logvar = model.encode(x) if classes is None else model.encode(x, y)
    assert mu.shape == logvar.shape == (3, *want)
    out, mu2, _ = model(x, y, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(mu, mu2)
    images = model.sample_images(torch.randn(3, *want), y)
    assert images.shape == x.shape and images.min() >= -1 and images.max() <= 1
    assert torch.equal(model.to_images(model.decode(mu, y)), reconstruct(model, x, y))


def test_kl_f4_latent_shapes_and_the_reparameterization():
    """A spatial latent with f = 4: 1x28x28 -> 4x7x7 and 3x32x32 -> 4x8x8; z = mu + exp(logvar/2) eps."""
    assert VAE(latent="spatial", latent_channels=4).latent_shape == (4, 7, 7)
    assert VAE(in_channels=3, image_size=32, latent="spatial", latent_channels=4).latent_shape == (4, 8, 8)
    model = tiny()
    mu, lv = torch.randn(2, 5, 4)
    z = model.reparameterize(mu, lv, torch.Generator().manual_seed(3))
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(z, mu + (0.5 * lv).exp() * eps)


def test_bad_input_is_a_clear_value_error():
    model = tiny(num_classes=10)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\)"):
        model.encode(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="expected latents of shape"):
        model.decode(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="class-conditional"):
        model.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="class-conditional"):  # its encoder reads labels too
        model.encode(torch.zeros(2, 1, 28, 28))
    decoder_only = tiny(num_classes=10, encoder_labels=False)
    assert decoder_only.encode(torch.zeros(2, 1, 28, 28))[0].shape == (2, 4)
    with pytest.raises(ValueError, match=r"labels must lie in 0..9"):
        model.decode(torch.zeros(2, 4), torch.tensor([1, 10]))
    with pytest.raises(ValueError, match="unconditional"):
        tiny().decode(torch.zeros(2, 4), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="unknown latent kind 'grid'"):
        VAE(latent="grid")
    with pytest.raises(ValueError, match="unknown likelihood 'laplace'"):
        VAE(likelihood="laplace")
    with pytest.raises(ValueError, match="divisible by the downsampling factor"):
        VAE(image_size=28, channels=(8, 8, 8))
    with pytest.raises(ValueError, match="likelihood"):
        train_vae(tiny(likelihood="gaussian"), torch.zeros(8, 1, 28, 28), likelihood="bernoulli", progress=False)
    with pytest.raises(ValueError, match=r"pass data as \(x, y\)"):
        train_vae(model, torch.zeros(8, 1, 28, 28), steps=1, progress=False)
    with pytest.raises(ck.CheckpointError, match="cannot build VAE"):
        ck.build_model({"class": "VAE", "kwargs": {"latent": "grid"}})


# ---------------------------------------------------------------------------------------------
# Training, checkpoints, resume
# ---------------------------------------------------------------------------------------------


def toy_images(n=64, seed=0):
    """Bars on a dark background, a different bar per class (4 classes)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = -torch.ones(n, 1, 28, 28)
    for i, c in enumerate(y.tolist()):
        x[i, 0, 4 + 6 * c : 8 + 6 * c, 4:24] = 1.0
    return (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(-1, 1), y


def small(seed=0, **kw):
    torch.manual_seed(seed)
    return VAE(channels=(8, 8), num_res_blocks=0, latent_dim=4, num_classes=4, **kw)


def test_training_lowers_the_negative_elbo_and_records_its_terms():
    x, y = toy_images()
    model = small(likelihood="bernoulli", encoder_labels=True)
    before = elbo_terms(model, x, y)
    res = train_vae(model, (x, y), steps=40, batch_size=32, lr=3e-3, progress=False, ema_decay=0.9, eval_n=64)
    after = elbo_terms(res.ema, x, y)
    assert after["neg_elbo"] < 0.8 * before["neg_elbo"] and len(res.losses) == 40
    cfg = res.config
    assert cfg["family"] == "vae" and cfg["likelihood"] == "bernoulli" and cfg["beta"] == 1.0
    assert cfg["final_recon"] == pytest.approx(after["recon"], abs=1e-3) and cfg["final_eval_n"] == 64
    assert "gaussian_sigma" not in cfg


def test_save_load_and_exact_resume(tmp_path):
    x, y = toy_images()
    kw = dict(beta=0.5, batch_size=16, lr=2e-3, warmup=2, lr_decay="cosine", seed=3, progress=False, eval_n=32)
    config = {"data": {"name": "toy-bars"}, "command": "pytest"}
    full = train_vae(small(), (x, y), steps=10, config=config, **kw)

    def crash(info):
        if info["step"] == 6:
            raise KeyboardInterrupt

    path = tmp_path / "vae.pt"
    with pytest.raises(KeyboardInterrupt):
        train_vae(
            small(), (x, y), steps=10, checkpoint_path=path, checkpoint_every=3, callbacks=[Every(1, crash)], **kw
        )
    assert ck.load_checkpoint(path)[1]["steps"] == 6 and resume_path(path).exists()
    with pytest.raises(ck.CheckpointError, match="exists"):
        train_vae(small(), (x, y), steps=10, checkpoint_path=path, **kw)
    resumed = train_vae(small(seed=9), (x, y), steps=10, checkpoint_path=path, resume=True, config=config, **kw)
    assert resumed.losses == full.losses
    assert all(torch.equal(a, b) for a, b in zip(full.model.parameters(), resumed.model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(full.ema.parameters(), resumed.ema.parameters()))
    assert resumed.config["final_recon"] == full.config["final_recon"]

    # the checkpoint loads with weights_only (load_checkpoint) and through a manifest, sha256-checked
    manifest = tmp_path / "manifest.json"
    ck.add_to_manifest("tiny-vae", path, "pytest", "a tiny VAE", manifest_path=manifest)
    for model, cfg in (ck.load_checkpoint(path), ck.load_pretrained("tiny-vae", manifest_path=manifest)):
        assert isinstance(model, VAE) and not model.training
        assert cfg["family"] == "vae" and cfg["likelihood"] == "gaussian" and cfg["beta"] == 0.5
        assert cfg["data"] == {"name": "toy-bars"} and cfg["command"] == "pytest" and cfg["steps"] == 10
        assert cfg["final_kl"] == full.config["final_kl"] and cfg["state_dict_dtype"] == "float16"
        for a, b in zip(full.ema.state_dict().values(), model.state_dict().values()):
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)  # stored as float16
    raw = torch.load(path, weights_only=True)
    assert raw["config"]["model"]["class"] == "VAE"


# ---------------------------------------------------------------------------------------------
# Generation and the commands
# ---------------------------------------------------------------------------------------------


def test_generate_vae_draws_image_i_from_seed_and_i_alone():
    model = tiny(num_classes=10, likelihood="bernoulli")
    labels = torch.arange(50) % 10
    a = generate_vae(model, {}, labels, 50, seed=2, batch_size=7, progress=False)
    b = generate_vae(model, {}, labels, 50, seed=2, batch_size=50, progress=False)
    assert a.shape == (50, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert (a - b).abs().max() <= 1e-5  # the same latents; the convolutions' rounding may vary with the batch
    c = generate_vae(model, {}, labels[:20], 20, seed=2, batch_size=9, progress=False)
    assert (c - a[:20]).abs().max() <= 1e-5  # a shorter run is a prefix of a longer one
    assert not torch.equal(generate_vae(model, {}, labels, 50, seed=3, progress=False), a)
    cold = generate_vae(model, {}, labels, 50, seed=2, progress=False, temperature=0.0)
    assert torch.equal(cold, model.sample_images(torch.zeros(50, 4), labels))
    assert FAMILIES["vae"] is generate_vae
    assert torch.equal(generate_any(model, {"family": "vae"}, labels, 50, seed=2, progress=False), b)
    with pytest.raises(ValueError, match="one label per image"):
        generate_vae(model, {}, labels[:3], 50, progress=False)
    with pytest.raises(ValueError, match="class-conditional"):
        generate_vae(model, {}, None, 5, progress=False)


def test_sample_command_writes_an_npz_from_a_vae_checkpoint(tmp_path, capsys):
    from diffusion_course.cli import sample

    model = tiny(in_channels=3, image_size=32, latent="spatial", num_classes=10)
    path = ck.save_checkpoint(tmp_path / "vae.pt", model, {"family": "vae", "image_size": 32})
    out = tmp_path / "s.npz"
    code = sample.main([str(path), "--n", "12", "--seed", "4", "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0 and "12 images" in capsys.readouterr().out
    with np.load(out) as f:
        images, labels = f["arr_0"], f["arr_1"]
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [i % 10 for i in range(12)]
    loaded, config = ck.load_checkpoint(path)
    x = generate_vae(loaded, config, torch.arange(12) % 10, 12, seed=4, progress=False)
    assert np.abs(((x + 1) * 127.5).round().permute(0, 2, 3, 1).numpy() - images).max() <= 1


def test_train_command_runs_a_vae_recipe(tmp_path, monkeypatch, capsys):
    from diffusion_course.cli import train as train_cli
    from diffusion_course.training import recipes

    x, y = toy_images(96)
    monkeypatch.setattr(recipes, "load_data", lambda spec, seed=0: (x, y))
    out = tmp_path / "vae.pt"
    argv = ["mnist-vae", "--steps", "3", "--batch-size", "16", "--beta", "0.5", "--out", str(out)]
    argv += ["--device", "cpu", "--no-progress", "--sample-every", "3"]
    assert train_cli.main(argv) == 0
    assert "recon" in capsys.readouterr().out and (tmp_path / "samples_0000003.png").exists()
    model, config = ck.load_checkpoint(out)
    assert isinstance(model, VAE) and config["family"] == "vae" and config["beta"] == 0.5 and config["steps"] == 3
    assert config["recipe"] == "mnist-vae" and config["command"] == "python -m diffusion_course train " + " ".join(argv)
    assert config["data"] == {"name": "mnist"} and recipes.RECIPES["mnist-vae"]["train"]["beta"] != 0.5
    assert train_cli.main(argv) == 2 and "exists" in capsys.readouterr().err
    assert train_cli.main(["mnist-vae", "--p-uncond", "0.1", "--out", str(tmp_path / "b.pt")]) == 2
    assert train_cli.main(["mnist-ddpm", "--beta", "2", "--out", str(tmp_path / "c.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "VAE recipe" in err[0] and "--beta applies to VAE recipes" in err[1]
    for recipe in ("mnist-vae", "mnist-gan", "mnist-classifier"):  # the warm-up is a diffusion setting
        assert train_cli.main([recipe, "--warmup", "10", "--out", str(tmp_path / "d.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("--warmup applies to diffusion recipes" in line for line in err)
