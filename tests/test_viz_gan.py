"""Pictures of the GAN game on a 2-D toy: the decision surface's grid order, snapshots during training, the plot."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from diffusion_course.models.gan import MLPDiscriminator, MLPGenerator  # noqa: E402
from diffusion_course.training.gan import train_gan  # noqa: E402
from diffusion_course.viz.gan import decision_surface, game_snapshot, plot_game, snapshot_every  # noqa: E402


class RightHalf(nn.Module):
    """A discriminator whose logit is 10 x: D ~ 1 on the right half of the plane, ~ 0 on the left."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([10.0, 0.0]))

    def forward(self, x, y=None):
        return x @ self.w


def test_decision_surface_rows_are_heights_and_columns_are_x():
    surface = decision_surface(RightHalf(), lim=2.0, n=5)
    assert surface.shape == (5, 5)
    assert torch.allclose(surface[:, 0], surface[0, 0].expand(5))  # constant along y
    assert surface[2, 0] < 0.01 and surface[2, -1] > 0.99 and abs(surface[2, 2] - 0.5) < 1e-6


def test_decision_surface_keeps_the_mode_and_computes_no_gradient():
    d = MLPDiscriminator(hidden=16, depth=2)
    d.train()
    surface = decision_surface(d, n=7)
    assert d.training and not surface.requires_grad
    assert ((surface >= 0) & (surface <= 1)).all()
    with pytest.raises(ValueError, match="one logit per point"):
        decision_surface(nn.Linear(2, 2), n=4)


def test_game_snapshot_holds_the_generators_points_for_the_given_noise():
    torch.manual_seed(0)
    g, d = MLPGenerator(latent_dim=4, hidden=16, depth=2), MLPDiscriminator(hidden=16, depth=2)
    z = torch.randn(50, 4)
    snap = game_snapshot(g, d, z, step=7, lim=2.5, n=9)
    assert snap["step"] == 7 and snap["lim"] == 2.5 and snap["surface"].shape == (9, 9)
    with torch.no_grad():
        assert torch.allclose(snap["points"], g(z))
    assert g.training


def test_snapshot_every_records_the_game_during_training():
    torch.manual_seed(0)
    g, d = MLPGenerator(latent_dim=4, hidden=16, depth=2), MLPDiscriminator(hidden=16, depth=2)
    data = torch.randn(256, 2)
    z = torch.randn(32, 4)
    log: list = []
    cb = snapshot_every(5, z, log, n=6, models=(g, d))
    assert [s["step"] for s in log] == [0]
    first = log[0]["points"].clone()
    train_gan(g, d, data, steps=10, batch_size=32, lr_g=1e-2, lr_d=1e-2, progress=False, callbacks=[cb])
    assert [s["step"] for s in log] == [0, 5, 10]
    assert not torch.allclose(log[-1]["points"], first)  # the generator moved
    with pytest.raises(ValueError):
        snapshot_every(0, z, log)


def test_plot_game_draws_a_snapshot():
    torch.manual_seed(0)
    g, d = MLPGenerator(latent_dim=4, hidden=16, depth=2), MLPDiscriminator(hidden=16, depth=2)
    snap = game_snapshot(g, d, torch.randn(20, 4), step=3, n=8)
    ax = plot_game(snap, data=torch.randn(30, 2), colorbar=True)
    assert ax.get_title() == "step 3"
    plt.close("all")
