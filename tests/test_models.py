"""Tests of the denoisers: embeddings, MLPDenoiser and UNet (shapes, conditioning, sizes)."""

import math

import pytest
import torch

from diffusion_course.models.embeddings import ClassEmbedding, TimeEmbedding, sinusoidal_embedding
from diffusion_course.models.mlp import MLPDenoiser
from diffusion_course.models.unet import UNet, count_parameters


def tiny_unet(**kw):
    args = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, dropout=0.0, attention_heads=2)
    args.update(kw)
    return UNet(**args)


# ------------------------------------------------------------------ embeddings


def test_sinusoidal_embedding_matches_closed_form():
    t = torch.tensor([0, 1, 7, 999])
    emb = sinusoidal_embedding(t, 6, max_period=10000.0)
    freqs = [10000.0 ** (-k / 3) for k in range(3)]
    expect = torch.tensor([[math.cos(ti * f) for f in freqs] + [math.sin(ti * f) for f in freqs] for ti in t.tolist()])
    assert emb.shape == (4, 6)
    assert torch.allclose(emb, expect, atol=1e-5)
    assert torch.equal(sinusoidal_embedding(t, 7)[:, -1], torch.zeros(4))  # odd dim pads one zero


def test_sinusoidal_embedding_distinguishes_timesteps():
    emb = sinusoidal_embedding(torch.arange(1000), 64)
    dist = torch.cdist(emb, emb) + torch.eye(1000) * 1e9
    assert dist.min() > 1e-2  # no two timesteps share an embedding


def test_sinusoidal_embedding_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        sinusoidal_embedding(torch.zeros(2, 3), 8)
    with pytest.raises(ValueError, match="dim"):
        sinusoidal_embedding(torch.zeros(2), 1)


def test_class_embedding_null_label_and_range():
    emb = ClassEmbedding(10, 16)
    assert emb.null_label == 10
    assert torch.equal(emb(None, 3), emb(torch.full((3,), 10)))
    assert not torch.equal(emb(torch.tensor([0])), emb(torch.tensor([10])))
    with pytest.raises(ValueError, match="0..9"):
        emb(torch.tensor([11]))
    with pytest.raises(ValueError, match="0..9"):
        emb(torch.tensor([-1]))
    with pytest.raises(ValueError, match="integer"):
        emb(torch.tensor([1.0]))


def test_time_embedding_shape():
    assert TimeEmbedding(32, freq_dim=16)(torch.tensor([3, 4])).shape == (2, 32)


# ------------------------------------------------------------------ MLP


def test_mlp_shapes_and_conditioning():
    torch.manual_seed(0)
    m = MLPDenoiser(dim=2, hidden=32, depth=2, time_dim=16, num_classes=4)
    x, t = torch.randn(5, 2), torch.randint(0, 1000, (5,))
    a, b = m(x, t, torch.zeros(5, dtype=torch.long)), m(x, t, torch.ones(5, dtype=torch.long))
    assert a.shape == (5, 2)
    assert not torch.allclose(a, b)  # the label changes the prediction
    assert torch.equal(m(x, t), m(x, t, torch.full((5,), 4)))  # None means the null label
    assert torch.equal(m(x, torch.tensor(7)), m(x, torch.full((5,), 7)))  # scalar t broadcasts


def test_mlp_unconditional_and_errors():
    m = MLPDenoiser(dim=3, hidden=16, depth=1)
    assert m(torch.randn(4, 3), torch.zeros(4, dtype=torch.long)).shape == (4, 3)
    with pytest.raises(ValueError, match="unconditional"):
        m(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        m(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden"):
        MLPDenoiser(hidden=0)


# ------------------------------------------------------------------ UNet


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3)])
@pytest.mark.parametrize("num_classes", [None, 10])
def test_unet_output_shape(size, channels, num_classes):
    torch.manual_seed(0)
    m = tiny_unet(in_channels=channels, image_size=size, num_classes=num_classes, channel_mults=(1, 2, 2))
    x, t = torch.randn(2, channels, size, size), torch.tensor([0, 999])
    y = None if num_classes is None else torch.tensor([3, 10])
    assert m(x, t, y).shape == x.shape


def test_unet_starts_at_zero_and_labels_matter_after_a_step():
    torch.manual_seed(0)
    m = tiny_unet(num_classes=10)
    x, t = torch.randn(4, 1, 28, 28), torch.randint(0, 1000, (4,))
    assert torch.equal(m(x, t), torch.zeros_like(x))  # zero-initialised output layer
    for p in m.parameters():  # move every weight off its initial value
        p.data.add_(0.05 * torch.randn_like(p))
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert not torch.allclose(m(x, t, y0), m(x, t, y1))
    assert torch.equal(m(x, t), m(x, t, torch.full((4,), 10)))


def test_unet_batch_independence():
    """Each example's output depends only on that example (GroupNorm, not BatchNorm)."""
    torch.manual_seed(0)
    m = tiny_unet().eval()
    for p in m.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([5, 500, 900])
    full = m(x, t)
    assert torch.allclose(full[1:2], m(x[1:2], t[1:2]), atol=1e-5)


def test_unet_attention_placement_and_errors():
    m = tiny_unet(channel_mults=(1, 2, 2))
    assert m.config["attention_resolutions"] == [7]  # default: the lowest resolution
    n_attn = sum(type(mod).__name__ == "SelfAttention" for mod in m.modules())
    none = tiny_unet(channel_mults=(1, 2, 2), attention_resolutions=())
    assert n_attn > 0 and not any(type(mod).__name__ == "SelfAttention" for mod in none.modules())
    with pytest.raises(ValueError, match=r"\(28, 14, 7\)"):
        tiny_unet(channel_mults=(1, 2, 2), attention_resolutions=(8,))
    with pytest.raises(ValueError, match="divisible by 4"):
        tiny_unet(channel_mults=(1, 2, 2))(torch.randn(1, 1, 30, 30), torch.tensor([0]))
    with pytest.raises(ValueError, match="unconditional"):
        tiny_unet()(torch.randn(1, 1, 28, 28), torch.tensor([0]), torch.tensor([1]))


def test_unet_default_size_for_mnist():
    """The MNIST recipe's architecture is in the 1-4M parameter range the course aims at."""
    from diffusion_course.training.recipes import RECIPES

    n = count_parameters(UNet(**RECIPES["mnist-ddpm"]["model"]["kwargs"]))
    assert 1_000_000 <= n <= 4_000_000
    assert count_parameters(tiny_unet()) < 100_000


def test_unet_config_rebuilds_same_architecture():
    m = tiny_unet(num_classes=10, channel_mults=(1, 2, 2))
    m2 = UNet(**m.config)
    assert [(k, v.shape) for k, v in m.state_dict().items()] == [(k, v.shape) for k, v in m2.state_dict().items()]
