"""The shared training loop: clean stops, several phases (a GAN's two optimisers), EMA, exact resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from diffusion_course.checkpoints import register_model
from diffusion_course.training.batches import make_batches
from diffusion_course.training.callbacks import evaluate_every, stop_when
from diffusion_course.training.diffusion import train_diffusion
from diffusion_course.training.guard import TrainingDivergedError
from diffusion_course.training.loop import STOP, Every, Phase, lr_at, run_loop
from diffusion_course.training.objectives import gan_losses


@register_model
class Tiny(nn.Module):
    def __init__(self, d_in: int = 2, d_out: int = 2) -> None:
        super().__init__()
        self.config = {"d_in": d_in, "d_out": d_out}
        self.net = nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.net(x)


def _gan(seed: int = 0):
    """A 2-D GAN: generator and discriminator, two phases in the order D then G."""
    torch.manual_seed(seed)
    G, D = Tiny(2, 2), Tiny(2, 1)
    g = torch.Generator().manual_seed(seed)
    opt_d, opt_g = torch.optim.Adam(D.parameters(), 1e-2), torch.optim.Adam(G.parameters(), 1e-2)

    def d_loss(batch):
        x, _ = batch
        fake = G(torch.randn(x.shape, generator=g)).detach()
        return gan_losses(D(x), D(fake))[0]

    def g_loss(batch):
        x, _ = batch
        return gan_losses(D(x), D(G(torch.randn(x.shape, generator=g))))[1]

    phases = [Phase("d", d_loss, opt_d, 1e-2), Phase("g", g_loss, opt_g, 1e-2)]
    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(1)) + 3.0
    return phases, {"generator": G, "discriminator": D}, make_batches(data, 32, g, torch.device("cpu")), g


def test_two_phases_train_two_models_with_their_own_optimisers_and_ema(tmp_path):
    phases, models, batches, g = _gan()
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in models.items()}
    res = run_loop(
        phases,
        models=models,
        batches=batches,
        generator=g,
        steps=12,
        ema_decays={"generator": 0.9},
        export="generator",
        progress=False,
        checkpoint_path=tmp_path / "gan.pt",
    )
    assert set(res.losses) == {"d", "g"} and len(res.losses["d"]) == len(res.losses["g"]) == 12
    for k, m in models.items():  # both models moved
        assert any(not torch.equal(a, b) for a, b in zip(before[k], m.parameters()))
    assert set(res.emas) == {"generator"}
    ema_w, w = res.emas["generator"].net.weight, models["generator"].net.weight
    assert not torch.equal(ema_w, w)  # an average, not a copy
    from diffusion_course.checkpoints import load_checkpoint

    exported, cfg = load_checkpoint(tmp_path / "gan.pt")
    assert torch.allclose(exported.net.weight, ema_w, atol=1e-3) and set(cfg["final_losses"]) == {"d", "g"}


def test_an_interrupted_two_phase_run_resumes_exactly(tmp_path):
    phases, models, batches, g = _gan()
    full = run_loop(
        phases, models=models, batches=batches, generator=g, steps=10, ema_decays={"generator": 0.9}, progress=False
    )
    phases, models, batches, g = _gan()
    path = tmp_path / "run.pt"
    part = run_loop(
        phases,
        models=models,
        batches=batches,
        generator=g,
        steps=10,
        ema_decays={"generator": 0.9},
        progress=False,
        checkpoint_path=path,
        callbacks=[stop_when(1, lambda i: i["step"] == 6)],
    )
    assert part.stopped and part.step == 6
    phases, models2, batches, g = _gan(seed=5)  # fresh weights: all state must come from the resume file
    res = run_loop(
        phases,
        models=models2,
        batches=batches,
        generator=g,
        steps=10,
        ema_decays={"generator": 0.9},
        progress=False,
        checkpoint_path=path,
        resume=True,
    )
    assert res.losses == full.losses
    assert torch.equal(res.emas["generator"].net.weight, full.emas["generator"].net.weight)


def test_a_callback_stops_diffusion_training_cleanly_and_the_checkpoint_holds_that_step(tmp_path):
    from diffusion_course.checkpoints import load_checkpoint
    from diffusion_course.diffusion.schedules import make_schedule
    from diffusion_course.models.mlp import MLPDenoiser

    torch.manual_seed(0)
    model = MLPDenoiser(dim=2, hidden=16, depth=1, time_dim=8)
    x = torch.randn(128, 2, generator=torch.Generator().manual_seed(0))
    log = []
    res = train_diffusion(
        model,
        x,
        make_schedule("linear", T=50),
        steps=1000,
        batch_size=32,
        progress=False,
        checkpoint_path=tmp_path / "m.pt",
        callbacks=[
            evaluate_every(5, lambda info: {"loss": info["loss"]}, log),
            Every(5, lambda info: STOP if info["step"] >= 15 else None),
        ],
    )
    assert res.stopped and res.step == 15 and len(res.losses) == 15 and [r["step"] for r in log] == [5, 10, 15]
    assert load_checkpoint(tmp_path / "m.pt")[1]["steps"] == 15


def test_guard_names_the_phase_that_diverged():
    phases, models, batches, g = _gan()
    phases[1] = Phase("g", lambda batch: torch.tensor(float("nan"), requires_grad=True), phases[1].optimizer, 1e-2)
    with pytest.raises(TrainingDivergedError, match="phase 'g'"):
        run_loop(phases, models=models, batches=batches, generator=g, steps=3, progress=False)


def test_learning_rate_warm_up_and_cosine_decay():
    assert lr_at(0, 1.0, 10, 100, "constant") == pytest.approx(0.1) and lr_at(50, 1.0, 10, 100, "constant") == 1.0
    assert lr_at(10, 1.0, 10, 100, "cosine") == pytest.approx(1.0) and lr_at(100, 1.0, 10, 100, "cosine") == 0.1
    with pytest.raises(ValueError, match="unknown lr_decay"):
        run_loop([], models={"m": Tiny()}, batches=None, generator=torch.Generator(), steps=1, lr_decay="step")


def test_batches_without_drop_last_keep_the_remainder():
    b = make_batches(
        torch.arange(10.0).reshape(10, 1), 4, torch.Generator().manual_seed(0), torch.device("cpu"), drop_last=False
    )
    sizes = [len(b.next()[0]) for _ in range(6)]
    assert sizes == [4, 4, 2, 4, 4, 2]


def test_the_classifier_trains_through_the_same_loop_deterministically():
    from diffusion_course.training.classifier import train_classifier

    logs: list[str] = []
    kw = {"epochs": 2, "batch_size": 64, "n_train": 640, "n_test": 500, "seed": 0}
    a, acc_a = train_classifier(log=logs.append, **kw)
    b, acc_b = train_classifier(log=lambda s: None, **kw)
    assert [line.split(":")[0] for line in logs] == ["epoch 1/2", "epoch 2/2"]
    assert acc_a == acc_b and all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert acc_a > 0.5  # 20 steps on 640 digits: far above chance (0.1)


def test_guard_explosion_test_and_a_loss_that_touches_zero():
    from diffusion_course.training.guard import DivergenceGuard

    def feed(losses):
        guard = DivergenceGuard()
        for step, value in enumerate(losses):
            guard.check(step, value, True, 1e-4, "d")

    # a hinge discriminator's loss: down to 1e-5, back up to 0.07 (the collapse benchmark's false alarm)
    feed([1.0] * 10 + [1e-5] * 60 + [0.07] * 60)
    # a real explosion from a small best still fires, and so does one from an ordinary best
    with pytest.raises(TrainingDivergedError, match="over 1000x its best .* \\(and over 10\\)"):
        feed([1.0] * 10 + [1e-5] * 60 + [50.0] * 60)
    with pytest.raises(TrainingDivergedError, match="over 1000x its best 0.1"):
        feed([0.1] * 60 + [1e4] * 60)
