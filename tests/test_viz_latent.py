"""Latent-space pictures of a VAE: grid order, decoding, traversals, and the plots (headless Agg backend)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from diffusion_course.models.vae import VAE  # noqa: E402
from diffusion_course.viz.latent import (  # noqa: E402
    decode_latent_grid,
    latent_grid,
    latent_traversal,
    plot_latent_map,
    plot_path,
)


def small_vae(latent_dim: int, num_classes: int | None = None) -> VAE:
    torch.manual_seed(0)
    return VAE(latent_dim=latent_dim, channels=(8, 8), num_classes=num_classes, likelihood="bernoulli").eval()


def test_latent_grid_is_in_image_order():
    z = latent_grid((1.0, -1.0), 2.0, 3)
    assert z.shape == (9, 2)
    assert torch.allclose(z[:3, 1], torch.full((3,), 1.0))  # top row: largest z_2 = -1 + 2
    assert torch.allclose(z[-3:, 1], torch.full((3,), -3.0))
    assert torch.allclose(z[:3, 0], torch.tensor([-1.0, 1.0, 3.0]))  # z_1 grows left to right
    with pytest.raises(ValueError):
        latent_grid(span=0.0)
    with pytest.raises(ValueError):
        latent_grid(n=1)


def test_decode_latent_grid_decodes_each_grid_point():
    vae = small_vae(2)
    images = decode_latent_grid(vae, (0.5, 0.0), 1.0, 4)
    assert images.shape == (16, 1, 28, 28)
    with torch.no_grad():
        expected = vae.sample_images(latent_grid((0.5, 0.0), 1.0, 4))
    assert torch.allclose(images, expected)
    assert images.min() >= -1 and images.max() <= 1
    with pytest.raises(ValueError, match="2-dimensional"):
        decode_latent_grid(small_vae(3))


def test_decode_latent_grid_needs_a_label_for_a_conditional_model():
    vae = small_vae(2, num_classes=10)
    with pytest.raises(ValueError, match="class-conditional"):
        decode_latent_grid(vae, n=2)
    assert decode_latent_grid(vae, n=2, y=3).shape == (4, 1, 28, 28)


def test_latent_traversal_changes_one_coordinate_per_row():
    vae = small_vae(4, num_classes=10)
    z = torch.randn(4, generator=torch.Generator().manual_seed(0))
    images = latent_traversal(vae, z, dims=[0, 2], values=[-1.0, 0.0, 1.0], y=5)
    assert images.shape == (6, 1, 28, 28)
    zs = z.repeat(6, 1)
    zs[:3, 0] = torch.tensor([-1.0, 0.0, 1.0])
    zs[3:, 2] = torch.tensor([-1.0, 0.0, 1.0])
    with torch.no_grad():
        expected = vae.sample_images(zs, torch.full((6,), 5))
    assert torch.allclose(images, expected)
    with pytest.raises(ValueError):
        latent_traversal(vae, z, dims=[4], values=[0.0], y=5)
    with pytest.raises(ValueError):
        latent_traversal(vae, torch.zeros(3), dims=[0], values=[0.0], y=5)


def test_plots_draw():
    vae = small_vae(2)
    images = decode_latent_grid(vae, n=3)
    ax = plot_latent_map(images, span=3.0, points=torch.zeros(5, 2), point_labels=torch.arange(5), title="map")
    assert ax.get_title() == "map" and len(ax.images) == 1 and len(ax.collections) == 1
    left, right, bottom, top = ax.images[0].get_extent()
    assert (left, right, bottom, top) == pytest.approx((-4.5, 4.5, -4.5, 4.5))  # half a cell beyond +-3
    probs = torch.softmax(torch.randn(5, 10, generator=torch.Generator().manual_seed(0)), 1)
    axes = plot_path(torch.rand(5, 1, 28, 28) * 2 - 1, probs, title="path", min_prob=0.0)
    assert len(axes[1].lines) == 10 and len(axes[2].patches) == 4
    with pytest.raises(ValueError):
        plot_path(torch.zeros(5, 1, 28, 28), probs[:4])
    plt.close("all")
