"""Tests of the 2-D field and path plots (headless Agg backend)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from diffusion_course.viz.fields import grid2d, plot_paths, plot_vector_field  # noqa: E402


def test_grid2d_covers_the_square_in_x_fastest_order():
    pts = grid2d(2.0, 5)
    assert pts.shape == (25, 2)
    assert torch.equal(pts[:5, 1], torch.full((5,), -2.0))  # first row: y = -lim
    assert torch.allclose(pts[:5, 0], torch.linspace(-2, 2, 5))
    assert pts.min() == -2.0 and pts.max() == 2.0


@pytest.mark.parametrize("lim, n", [(0.0, 5), (1.0, 1), (1.0, 2.5)])
def test_grid2d_rejects_bad_input(lim, n):
    with pytest.raises(ValueError):
        grid2d(lim, n)


def test_plot_vector_field_draws_and_checks_shapes():
    ax = plot_vector_field(lambda x: -x, lim=2.0, n=10, title="-x")
    assert ax.get_title() == "-x" and ax.get_xlim() == (-2.0, 2.0)
    assert len(ax.collections) > 0  # the stream lines
    ax = plot_vector_field(lambda x: -x, lim=2.0, n=10, vmin=-1.0, vmax=1.0)
    assert (ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="fn must return"):
        plot_vector_field(lambda x: x[:, :1], lim=2.0, n=10)
    plt.close("all")


def test_plot_paths_draws_one_line_per_path():
    paths = torch.cumsum(torch.randn(20, 3, 2, generator=torch.Generator().manual_seed(0)), 0)
    ax = plot_paths(paths, lim=None)
    assert len(ax.lines) == 3 * 3  # line, start and end marker per path
    assert torch.allclose(torch.tensor(ax.lines[0].get_xydata()), paths[:, 0].double())
    with pytest.raises(ValueError, match="paths must be"):
        plot_paths(paths[0])
    plt.close("all")
