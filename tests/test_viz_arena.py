"""The arena's pictures: the same request through every entry, a missing entry kept as a panel, the plots."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from diffusion_course.viz.arena import ArenaEntry, draw_panels, plot_panels, plot_trilemma  # noqa: E402


class Decoder(nn.Module):
    """A stand-in VAE: one linear decoder from a 2-D latent to a 1x4x4 image."""

    num_classes = None

    def __init__(self):
        super().__init__()
        self.latent_dim = 2
        self.lin = nn.Linear(2, 16)


def test_draw_panels_keeps_a_missing_entry_and_times_the_others(monkeypatch):
    calls = []

    def fake_generate(model, config, labels, n, **options):
        calls.append((labels, n, options))
        return torch.zeros(n, 1, 4, 4)

    monkeypatch.setattr("diffusion_course.viz.arena.generate_any", fake_generate)
    entries = [
        ArenaEntry("VAE", Decoder(), {"family": "vae"}),
        ArenaEntry("GAN", None, None, missing="not shipped: mnist-gan"),
    ]
    panels = draw_panels(entries, label=3, n=4, seed=7)
    assert [p["title"] for p in panels] == ["VAE", "GAN"]
    assert panels[0]["images"].shape == (4, 1, 4, 4) and panels[0]["ms_per_image"] >= 0
    assert panels[0]["nfe"] == 1  # a VAE decodes once per image
    assert panels[1]["images"] is None and panels[1]["missing"] == "not shipped: mnist-gan"
    assert calls == [(None, 4, {"seed": 7, "batch_size": 4, "progress": False})]  # unconditional model: no labels
    fig = plot_panels(panels, nrow=2, suptitle="class 3")
    assert len(fig.axes) == 2
    plt.close(fig)


def test_plot_trilemma_puts_one_point_per_row_on_log_axes():
    rows = [
        {"name": "slow", "fid_over_floor": 1.2, "ms_per_image": 500.0, "recall_pct": 80.0},
        {"name": "fast", "fid_over_floor": 3.0, "ms_per_image": 0.1, "recall_pct": 20.0},
    ]
    ax = plot_trilemma(rows, title="toy")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.collections) == 2
    sizes = [c.get_sizes()[0] for c in ax.collections]
    assert sizes[0] > sizes[1]  # more recall, larger marker
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["slow", "fast"]
    plt.close(ax.figure)


def test_plot_trilemma_draws_a_row_at_another_n_hollow_and_says_so():
    rows = [
        {"name": "a", "fid_over_floor": 1.5, "ms_per_image": 500.0, "recall_pct": 80.0, "n": 1000},
        {"name": "b", "fid_over_floor": 2.0, "ms_per_image": 1.0, "recall_pct": 70.0, "n": 1000},
        {"name": "slow", "fid_over_floor": 1.0, "ms_per_image": 9000.0, "recall_pct": 80.0, "n": 100},
    ]
    ax = plot_trilemma(rows)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a", "b", "slow (n = 100: not comparable)"]
    assert ax.collections[0].get_facecolors()[0][3] > 0 and len(ax.collections[2].get_facecolors()) == 0
    plt.close(ax.figure)
