"""Tests of the training loop: learning, determinism, exact resume, the NaN guard, the CLI."""

import pytest
import torch

from diffusion_course import checkpoints as ck
from diffusion_course.diffusion.losses import diffusion_loss
from diffusion_course.diffusion.schedules import make_schedule
from diffusion_course.models.mlp import MLPDenoiser
from diffusion_course.models.unet import UNet
from diffusion_course.training.diffusion import train_diffusion
from diffusion_course.training.ema import ema_update
from diffusion_course.training.guard import TrainingDivergedError
from diffusion_course.training.loop import resume_path

SCHEDULE = make_schedule("linear", T=100)


def toy_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    return centers[y] + 0.05 * torch.randn(n, 2, generator=g), y


def mlp(seed=0, **kw):
    torch.manual_seed(seed)
    return MLPDenoiser(hidden=32, depth=2, time_dim=16, num_classes=3, **kw)


def fixed_batch_loss(model, x, y, seed=123):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, SCHEDULE.T, (x.shape[0],), generator=g)
    noise = torch.randn(x.shape, generator=g)
    with torch.no_grad():
        return diffusion_loss(model, x, SCHEDULE, "eps", y=y, t=t, noise=noise).item()


def test_training_decreases_the_loss_on_a_fixed_batch():
    x, y = toy_data(64)
    model = mlp()
    before = fixed_batch_loss(model, x, y)
    res = train_diffusion(model, (x, y), SCHEDULE, steps=30, batch_size=64, lr=3e-3, progress=False)
    assert len(res.losses) == 30 and res.step == 30
    assert fixed_batch_loss(res.model, x, y) < 0.8 * before
    assert fixed_batch_loss(res.ema, x, y) < before


def test_one_unet_step_decreases_the_loss_on_that_batch():
    torch.manual_seed(0)
    model = UNet(
        base_channels=8,
        channel_mults=(1, 2),
        num_res_blocks=1,
        dropout=0.0,
        attention_heads=2,
        num_classes=10,
    )
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    y = torch.arange(8)
    before = fixed_batch_loss(model, x, y)
    res = train_diffusion(
        model,
        (x, y),
        SCHEDULE,
        steps=1,
        batch_size=8,
        lr=1e-3,
        p_uncond=0.0,
        seed=0,
        progress=False,
    )
    assert fixed_batch_loss(res.model, x, y) < before


def test_training_is_deterministic_under_the_seed():
    x, y = toy_data()
    a = train_diffusion(mlp(), (x, y), SCHEDULE, steps=12, batch_size=32, progress=False, seed=5)
    b = train_diffusion(mlp(), (x, y), SCHEDULE, steps=12, batch_size=32, progress=False, seed=5)
    c = train_diffusion(mlp(), (x, y), SCHEDULE, steps=12, batch_size=32, progress=False, seed=6)
    assert a.losses == b.losses and a.losses != c.losses


def test_resume_equals_one_long_run(tmp_path):
    """N steps, then resume to N+M == N+M steps in one go (weights, EMA, losses, bit for bit)."""
    x, y = toy_data()
    kw = dict(batch_size=48, lr=2e-3, warmup=3, progress=False, seed=1, p_uncond=0.3)
    full = train_diffusion(mlp(), (x, y), SCHEDULE, steps=17, **kw)
    path = tmp_path / "run.pt"
    train_diffusion(mlp(), (x, y), SCHEDULE, steps=9, checkpoint_path=path, **kw)
    assert path.exists() and resume_path(path).exists()
    with pytest.raises(ck.CheckpointError, match="exists"):
        train_diffusion(mlp(), (x, y), SCHEDULE, steps=17, checkpoint_path=path, **kw)
    resumed = train_diffusion(mlp(seed=99), (x, y), SCHEDULE, steps=17, checkpoint_path=path, resume=True, **kw)
    assert resumed.losses == full.losses
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(full.ema.parameters(), resumed.ema.parameters()):
        assert torch.equal(a, b)
    loaded, config = ck.load_checkpoint(path)
    assert config["steps"] == 17 and config["prediction"] == "eps"
    for a, b in zip(full.ema.state_dict().values(), loaded.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)  # stored as float16


def test_interrupted_run_resumes_exactly(tmp_path):
    """A run killed after a periodic checkpoint continues exactly, cosine learning rate included."""
    x, y = toy_data()
    kw = dict(batch_size=32, lr=2e-3, warmup=2, lr_decay="cosine", progress=False, seed=3, log_every=1)
    full = train_diffusion(mlp(), (x, y), SCHEDULE, steps=12, **kw)

    def crash(info):
        if info["step"] == 8:
            raise KeyboardInterrupt

    path = tmp_path / "crash.pt"
    with pytest.raises(KeyboardInterrupt):
        train_diffusion(
            mlp(),
            (x, y),
            SCHEDULE,
            steps=12,
            checkpoint_path=path,
            checkpoint_every=4,
            callback=crash,
            **kw,
        )
    assert ck.load_checkpoint(path)[1]["steps"] == 8
    resumed = train_diffusion(mlp(), (x, y), SCHEDULE, steps=12, checkpoint_path=path, resume=True, **kw)
    assert resumed.losses == full.losses
    assert all(torch.equal(a, b) for a, b in zip(full.ema.parameters(), resumed.ema.parameters()))


def test_resume_with_dropout_is_exact(tmp_path):
    """The resume file restores torch's global RNG, which dropout draws from."""
    torch.manual_seed(0)
    make = lambda: UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, dropout=0.3, attention_heads=2)
    x = torch.rand(16, 1, 8, 8) * 2 - 1
    kw = dict(batch_size=4, lr=1e-3, progress=False, seed=2, prediction="v")
    torch.manual_seed(0)
    m1, m2 = make(), make()
    m2.load_state_dict(m1.state_dict())
    torch.manual_seed(7)
    full = train_diffusion(m1, x, SCHEDULE, steps=6, **kw)
    torch.manual_seed(7)
    train_diffusion(m2, x, SCHEDULE, steps=3, checkpoint_path=tmp_path / "u.pt", **kw)
    torch.manual_seed(1234)  # the global RNG moved on in between
    resumed = train_diffusion(make(), x, SCHEDULE, steps=6, checkpoint_path=tmp_path / "u.pt", resume=True, **kw)
    assert resumed.losses == full.losses


def test_resume_rejects_other_architecture_or_prediction(tmp_path):
    x, y = toy_data()
    path = tmp_path / "r.pt"
    train_diffusion(mlp(), (x, y), SCHEDULE, steps=2, batch_size=32, checkpoint_path=path, progress=False)
    other = MLPDenoiser(hidden=16, depth=1, time_dim=8, num_classes=3)
    with pytest.raises(ck.CheckpointError, match="cannot resume"):
        train_diffusion(
            other,
            (x, y),
            SCHEDULE,
            steps=4,
            batch_size=32,
            checkpoint_path=path,
            resume=True,
            progress=False,
        )
    with pytest.raises(ck.CheckpointError, match="prediction"):
        train_diffusion(
            mlp(),
            (x, y),
            SCHEDULE,
            steps=4,
            batch_size=32,
            checkpoint_path=path,
            resume=True,
            prediction="v",
            progress=False,
        )


def test_nan_guard_fires_on_a_huge_learning_rate():
    x, y = toy_data()
    with pytest.raises(TrainingDivergedError, match="diverged at step.*Lower the learning rate") as err:
        train_diffusion(
            mlp(),
            (x, y),
            SCHEDULE,
            steps=200,
            batch_size=32,
            lr=1e6,
            grad_clip=None,
            progress=False,
        )
    assert isinstance(err.value, ValueError) and err.value.step < 200


def test_deferred_loss_checks_match_and_still_guard(tmp_path):
    """Reading losses back every few steps (as on a GPU) changes nothing but when they are read."""
    x, y = toy_data()
    kw = dict(batch_size=32, seed=4, log_every=4)
    a = train_diffusion(mlp(), (x, y), SCHEDULE, steps=10, progress=False, **kw)
    b = train_diffusion(mlp(), (x, y), SCHEDULE, steps=10, progress=True, check_every=7, **kw)
    assert a.losses == b.losses
    with pytest.raises(TrainingDivergedError) as now:
        train_diffusion(mlp(), (x, y), SCHEDULE, steps=60, lr=1e6, grad_clip=None, progress=False, **kw)
    with pytest.raises(TrainingDivergedError) as later:
        train_diffusion(
            mlp(),
            (x, y),
            SCHEDULE,
            steps=60,
            lr=1e6,
            grad_clip=None,
            check_every=25,
            progress=False,
            checkpoint_path=tmp_path / "x.pt",
            checkpoint_every=5,
            **kw,
        )
    assert later.value.step == now.value.step < 5  # the first bad step, found before the save at step 5
    assert not (tmp_path / "x.pt").exists()


def test_guard_fires_on_an_exploding_but_finite_loss():
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))
            self.calls = 0

        def forward(self, x, t):
            self.calls += 1
            return x * 1.5**self.calls + self.w

    with pytest.raises(TrainingDivergedError, match="smoothed loss .* over 1000x its best"):
        train_diffusion(Exploding(), torch.randn(64, 2), SCHEDULE, steps=200, batch_size=32, progress=False)


def test_nan_guard_fires_on_a_nan_model():
    class NaNModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, x, t):
            return x * self.w * float("nan")

    with pytest.raises(TrainingDivergedError, match="step 0.*not finite"):
        train_diffusion(NaNModel(), torch.randn(16, 2), SCHEDULE, steps=5, batch_size=8, progress=False)


def test_label_dropout_feeds_the_null_label():
    seen = []

    class Spy(MLPDenoiser):
        def forward(self, x, t, y=None):
            seen.append(y.clone())
            return super().forward(x, t, y)

    torch.manual_seed(0)
    x, y = toy_data()
    model = Spy(hidden=8, depth=1, time_dim=8, num_classes=3)
    train_diffusion(model, (x, y), SCHEDULE, steps=20, batch_size=64, p_uncond=0.25, progress=False)
    labels = torch.cat(seen)
    frac_null = (labels == 3).float().mean().item()
    assert 0.15 < frac_null < 0.35 and set(labels.tolist()) == {0, 1, 2, 3}


def test_ema_update_is_a_lerp_and_callback_and_samples(tmp_path):
    a, b = mlp(0), mlp(1)
    expect = [0.9 * p + 0.1 * q for p, q in zip(a.parameters(), b.parameters())]
    ema_update(a, b, 0.9)
    assert all(torch.allclose(p, e) for p, e in zip(a.parameters(), expect))
    infos = []
    x, y = toy_data()
    sample_fn = lambda ema, step: torch.zeros(4, 1, 8, 8)
    train_diffusion(
        mlp(),
        (x, y),
        SCHEDULE,
        steps=6,
        batch_size=32,
        log_every=2,
        sample_every=3,
        sample_fn=sample_fn,
        run_dir=tmp_path,
        callback=infos.append,
        progress=False,
    )
    assert [i["step"] for i in infos] == [2, 3, 4, 6]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "samples_0000003.png",
        "samples_0000006.png",
    ]


def test_cli_trains_toy_recipe_and_records_the_command(tmp_path, monkeypatch, capsys):
    from diffusion_course.cli import train as train_cli
    from diffusion_course.training import recipes

    monkeypatch.setitem(recipes.RECIPES["toy-ddpm"]["data"], "n", 512)
    out = tmp_path / "toy.pt"
    argv = [
        "toy-ddpm",
        "--steps",
        "5",
        "--batch-size",
        "64",
        "--p-uncond",
        "0.25",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--lr-decay",
        "constant",
        "--warmup",
        "3",
    ]
    assert train_cli.main(argv) == 0
    model, config = ck.load_checkpoint(out)
    assert config["lr_decay"] == "constant" and recipes.RECIPES["toy-ddpm"]["train"]["lr_decay"] == "cosine"
    assert config["warmup"] == 3 != recipes.RECIPES["toy-ddpm"]["train"]["warmup"]
    assert type(model).__name__ == "MLPDenoiser" and config["steps"] == 5 and config["batch_size"] == 64
    assert config["p_uncond"] == 0.25 and recipes.RECIPES["toy-ddpm"]["train"]["p_uncond"] == 0.0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # a rate outside [0, 1) is refused before anything is trained
        train_cli.main(argv[:6] + ["1.5"] + argv[7:])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err.strip().splitlines()) == 1 and "[0, 1)" in err
    assert config["command"] == "python -m diffusion_course train " + " ".join(argv)
    assert config["schedule"]["name"] == "linear" and config["recipe"] == "toy-ddpm"
    assert train_cli.main(argv) == 2  # refuses to overwrite without --overwrite: one line, status 2
    assert "exists" in capsys.readouterr().err
    assert train_cli.main(argv[:2] + ["9"] + argv[3:] + ["--resume"]) == 0
    assert ck.load_checkpoint(out)[1]["steps"] == 9


def test_cli_log_snr_shift_trains_on_the_shifted_schedule_and_records_it(tmp_path, monkeypatch, capsys):
    from diffusion_course.cli import train as train_cli
    from diffusion_course.diffusion.schedules import schedule_from_config
    from diffusion_course.training import recipes

    monkeypatch.setitem(recipes.RECIPES["toy-ddpm"]["data"], "n", 256)
    out = tmp_path / "toy.pt"
    argv = ["toy-ddpm", "--steps", "3", "--batch-size", "64", "--out", str(out), "--device", "cpu", "--no-progress"]
    assert train_cli.main(argv + ["--log-snr-shift", "1.5"]) == 0
    config = ck.load_checkpoint(out)[1]
    assert config["schedule"]["log_snr_shift"] == 1.5 and "log_snr_shift" not in recipes.RECIPES["toy-ddpm"]["schedule"]
    t = torch.arange(10)
    base = schedule_from_config(recipes.RECIPES["toy-ddpm"])
    torch.testing.assert_close(schedule_from_config(config).log_snr(t), base.log_snr(t) + 1.5)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # not a number: one line, status 2
        train_cli.main(argv + ["--log-snr-shift", "inf", "--overwrite"])
    assert exc.value.code == 2 and "finite" in capsys.readouterr().err


def test_accepts_a_dataloader_and_a_tensordataset():
    from torch.utils.data import DataLoader, TensorDataset

    x, y = toy_data(64)
    ds = TensorDataset(x, y)
    a = train_diffusion(mlp(), ds, SCHEDULE, steps=3, batch_size=16, progress=False)
    b = train_diffusion(mlp(), (x, y), SCHEDULE, steps=3, batch_size=16, progress=False)
    assert a.losses == b.losses  # a TensorDataset is read as its tensors
    loader = DataLoader(ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    c = train_diffusion(mlp(), loader, SCHEDULE, steps=9, batch_size=16, progress=False)  # cycles past one epoch
    assert len(c.losses) == 9 and all(torch.isfinite(torch.tensor(c.losses)))
    with pytest.raises(ValueError, match="float tensor"):
        train_diffusion(
            mlp(),
            torch.zeros(8, 2, dtype=torch.long),
            SCHEDULE,
            steps=1,
            batch_size=4,
            progress=False,
        )
