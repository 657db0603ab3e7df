"""Datasets: toy shapes and seeds, MNIST/CIFAR-10 layouts and ranges, the clear offline error."""

from __future__ import annotations

import pytest
import torch

from diffusion_course import data


@pytest.mark.parametrize("name", data.TOYS)
def test_toy_shape_dtype_and_seed(name):
    a = data.make_toy(name, 500, torch.Generator().manual_seed(1))
    b = data.make_toy(name, 500, torch.Generator().manual_seed(1))
    c = data.make_toy(name, 500, torch.Generator().manual_seed(2))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.isfinite(a).all()
    # roughly centred with unit-ish scale, so one model config serves every toy
    assert a.mean(0).abs().max() < 0.6 and 0.5 < a.std(0).min() and a.std(0).max() < 2.5


def test_gaussians8_lies_on_its_ring():
    x = data.make_toy("gaussians8", 4000, torch.Generator().manual_seed(0)).double()
    r = x.norm(dim=1)
    assert abs(r.mean().item() - 2.0) < 0.02
    angle = torch.atan2(x[:, 1], x[:, 0]) % (2 * torch.pi)
    k = torch.round(angle / (2 * torch.pi / 8)).long() % 8
    counts = torch.bincount(k, minlength=8).double() / len(k)
    assert (counts - 0.125).abs().max() < 0.02


def test_unknown_toy_and_bad_n():
    with pytest.raises(ValueError, match="expected one of"):
        data.make_toy("spiral", 10)
    with pytest.raises(ValueError, match="positive int"):
        data.make_toy("moons", 0)


def test_missing_dataset_offline_gives_clear_error(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.mnist(root=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "prepare_data.py" in msg and "DIFFUSION_COURSE_DATA" in msg
    with pytest.raises(data.DatasetNotFoundError, match="cifar-10-batches-py"):
        data.cifar10(root=tmp_path, download=False)
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.image_folder(tmp_path / "mine")


def test_offline_download_is_off_in_the_test_command(monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFUSION_COURSE_DOWNLOAD", "0")
    with pytest.raises(data.DatasetNotFoundError):
        data.mnist(root=tmp_path)  # would try the network if the variable were ignored


def test_mnist_layout_range_and_subset():
    x, y = data.mnist(train=False, n=256, generator=torch.Generator().manual_seed(0))
    assert x.shape == (256, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert y.dtype == torch.long and 0 <= y.min() and y.max() <= 9
    x2, y2 = data.mnist(train=False, n=256, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    full_x, full_y = data.mnist(train=False)
    assert full_x.shape[0] == 10_000
    assert torch.bincount(full_y).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def test_cifar10_from_image_folder():
    x, y = data.cifar10(train=False, n=40, generator=torch.Generator().manual_seed(0))
    assert x.shape == (40, 3, 32, 32) and x.dtype == torch.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    assert len(torch.unique(y)) > 3


def test_image_folder_reads_own_images(tmp_path):
    from PIL import Image

    for cls, color in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 20), color).save(tmp_path / cls / f"{i}.png")
    x, y, classes = data.image_folder(tmp_path, size=16)
    assert x.shape == (6, 3, 16, 16) and classes == ["blue", "red"]
    red = x[y == 1]
    assert torch.allclose(red[:, 0], torch.ones_like(red[:, 0])) and torch.allclose(
        red[:, 2], -torch.ones_like(red[:, 2])
    )


def test_loader_is_seeded():
    x = torch.arange(20.0).unsqueeze(1)
    a = [b[0].squeeze(1).tolist() for b in data.loader(x, batch_size=5, generator=torch.Generator().manual_seed(0))]
    b = [b[0].squeeze(1).tolist() for b in data.loader(x, batch_size=5, generator=torch.Generator().manual_seed(0))]
    assert a == b and sorted(sum(a, [])) == list(range(20))
