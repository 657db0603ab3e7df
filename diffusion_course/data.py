"""Datasets of the course: seeded 2-D toys, MNIST and CIFAR-10 through torchvision, image folders.

Images come back as float32 tensors scaled to [-1, 1] (``x = 2 * pixel / 255 - 1``), shaped
(N, C, H, W), with LongTensor labels. MNIST and CIFAR-10 are read by torchvision's own dataset
classes from the data root (``config.data_dir()``, set by ``DIFFUSION_COURSE_DATA``):

- ``<root>/MNIST/raw/``                  torchvision.datasets.MNIST
- ``<root>/cifar-10-batches-py/``        torchvision.datasets.CIFAR10 (the original download)
- ``<root>/cifar10/{train,test}/<class>/`` torchvision.datasets.ImageFolder (offline copies)

Downloads go through torchvision when ``download`` is true (default: the environment variable
``DIFFUSION_COURSE_DOWNLOAD``, on unless set to 0). Offline, a missing dataset raises
:class:`DatasetNotFoundError`, which says where it looked and how to get the data.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from . import config

TOYS = ("moons", "swiss_roll", "gaussians8", "checkerboard")
SHARED_PREPARE = config.REPO_ROOT.parent / "shared" / "data" / "prepare_data.py"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk and could not be downloaded."""


# ---------------------------------------------------------------- 2-D toys

def _uniform(n: int, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64)


def _moons(n: int, g):
    n1 = n // 2
    a = math.pi * _uniform(n, g)
    upper = torch.stack([torch.cos(a), torch.sin(a)], 1)
    lower = torch.stack([1 - torch.cos(a), 0.5 - torch.sin(a)], 1)
    x = torch.cat([upper[:n1], lower[n1:]])
    return (x - torch.tensor([0.5, 0.25], dtype=torch.float64)) * 2.0


def _swiss_roll(n: int, g):
    u = 1.5 * math.pi * (1 + 2 * _uniform(n, g))
    return torch.stack([u * torch.cos(u), u * torch.sin(u)], 1) / 5.0


def _gaussians8(n: int, g, radius: float = 2.0, std: float = 0.15):
    k = torch.randint(0, 8, (n,), generator=g)
    angle = 2 * math.pi * k.double() / 8
    centers = radius * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return centers + std * torch.randn(n, 2, generator=g, dtype=torch.float64)


def _checkerboard(n: int, g):
    x1 = 4 * _uniform(n, g) - 2
    x2 = _uniform(n, g) + 2 * torch.randint(0, 2, (n,), generator=g).double() - 2
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], 1) * 1.5


_TOY_FUNCS = {"moons": _moons, "swiss_roll": _swiss_roll,
              "gaussians8": _gaussians8, "checkerboard": _checkerboard}


def make_toy(name: str, n: int, generator: torch.Generator | None = None,
             noise: float = 0.05) -> torch.Tensor:
    """Sample a 2-D toy dataset as an (n, 2) float32 tensor, roughly centred with unit scale.

    ``gaussians8``: 8 equal-weight Gaussians on a circle of radius 2, std 0.15 (the exact
    mixture is ``oracle.GaussianMixture.ring(8, radius=2.0, std=0.15)``). ``moons``,
    ``swiss_roll`` and ``checkerboard`` get isotropic Gaussian ``noise`` added (std).
    The same generator seed gives the same points.
    """
    if name not in _TOY_FUNCS:
        raise ValueError(f"unknown toy dataset {name!r}; expected one of {TOYS}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    x = _TOY_FUNCS[name](n, generator)
    if name != "gaussians8" and noise > 0:
        x = x + noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    return x.float()


# ---------------------------------------------------------------- images

def to_unit_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """Map uint8 pixels (N, C, H, W) in 0..255 to float32 in [-1, 1]."""
    return images_uint8.float().div(127.5).sub(1.0)


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Map images in [-1, 1] back to [0, 1] for plotting (clamped)."""
    return x.add(1.0).div(2.0).clamp(0.0, 1.0)


def _download_default() -> bool:
    return os.environ.get("DIFFUSION_COURSE_DOWNLOAD", "1").strip().lower() not in {"0", "false", "no", "off"}


def _how_to_get(name: str, root: Path, looked: list[Path]) -> str:
    where = "\n".join(f"  - {p}" for p in looked)
    return (
        f"{name} was not found. Looked in:\n{where}\n"
        "How to get it:\n"
        f"  - with a network: python -m diffusion_course.data prepare --root {root}\n"
        "    (torchvision downloads it), or pass download=True;\n"
        "  - offline, next to the course's shared folder: python ../shared/data/prepare_data.py DIR\n"
        "    then set DIFFUSION_COURSE_DATA=DIR;\n"
        "  - or copy an existing torchvision data folder there and point DIFFUSION_COURSE_DATA at it."
    )


def _subset(n_total: int, n: int | None, generator: torch.Generator | None) -> torch.Tensor | None:
    if n is None or n >= n_total:
        return None
    if n < 1:
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    return torch.randperm(n_total, generator=g)[:n]


def mnist(train: bool = True, root: str | Path | None = None, n: int | None = None,
          download: bool | None = None, generator: torch.Generator | None = None
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST (LeCun et al. 1998) through ``torchvision.datasets.MNIST``: (N,1,28,28) in [-1,1], labels.

    ``n`` takes a random subset (seeded by ``generator``, default seed 0).
    """
    from torchvision.datasets import MNIST

    root = Path(root) if root is not None else config.data_dir()
    download = _download_default() if download is None else download
    try:
        ds = MNIST(str(root), train=train, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found" or a failed download
        raise DatasetNotFoundError(_how_to_get("MNIST", root, [root / "MNIST" / "raw"])) from err
    x, y = ds.data, ds.targets
    idx = _subset(len(x), n, generator)
    if idx is not None:
        x, y = x[idx], y[idx]
    return to_unit_range(x.unsqueeze(1)), y.long()


def _folder_tensors(folder: Path, n: int | None, generator, size: int | None = None):
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    tf = [transforms.Resize((size, size))] if size else []
    ds = ImageFolder(str(folder), transform=transforms.Compose(tf + [transforms.PILToTensor()]))
    idx = _subset(len(ds), n, generator)
    order = idx.tolist() if idx is not None else range(len(ds))
    xs, ys = zip(*(ds[i] for i in order))
    return to_unit_range(torch.stack(xs)), torch.tensor(ys, dtype=torch.long), ds.classes


def cifar10(train: bool = True, root: str | Path | None = None, n: int | None = None,
            download: bool | None = None, generator: torch.Generator | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 (Krizhevsky 2009): (N,3,32,32) in [-1,1] and labels in the CIFAR-10 class order.

    Reads ``<root>/cifar10/{train,test}`` as an ImageFolder when present (the offline JPEG copy:
    not the original pixels, don't compare with published numbers), else the original batches
    through ``torchvision.datasets.CIFAR10`` (downloading them when allowed). ``n`` takes a
    random subset, decoding only those images.
    """
    from torchvision.datasets import CIFAR10

    root = Path(root) if root is not None else config.data_dir()
    folder = root / "cifar10" / ("train" if train else "test")
    if folder.is_dir():
        x, y, classes = _folder_tensors(folder, n, generator)
        if tuple(classes) != CIFAR10_CLASSES:
            raise ValueError(f"{folder} has classes {classes}; expected the CIFAR-10 classes {CIFAR10_CLASSES}")
        return x, y
    download = _download_default() if download is None else download
    try:
        ds = CIFAR10(str(root), train=train, download=download)
    except RuntimeError as err:
        raise DatasetNotFoundError(_how_to_get("CIFAR-10", root, [folder, root / "cifar-10-batches-py"])) from err
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2)
    y = torch.tensor(ds.targets, dtype=torch.long)
    idx = _subset(len(x), n, generator)
    if idx is not None:
        x, y = x[idx], y[idx]
    return to_unit_range(x.contiguous()), y


def image_folder(path: str | Path, size: int = 32, n: int | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A learner's own images from ``path/<class>/<file>`` (torchvision ImageFolder), resized to size x size.

    Returns images in [-1, 1], labels and the class names.
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetNotFoundError(f"image folder {path} does not exist; expected {path}/<class>/<image files>")
    return _folder_tensors(path, n, generator, size=size)


def loader(x: torch.Tensor, y: torch.Tensor | None = None, batch_size: int = 128,
           shuffle: bool = True, generator: torch.Generator | None = None) -> DataLoader:
    """A DataLoader over in-memory tensors; shuffling is seeded by ``generator``."""
    ds = TensorDataset(x) if y is None else TensorDataset(x, y)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=shuffle)


def available() -> dict[str, bool]:
    """Which datasets are on disk under the data root (no download attempted)."""
    root = config.data_dir()
    raw = root / "MNIST" / "raw"
    mnist_ok = all((raw / f).exists() for f in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"))
    cifar_ok = (root / "cifar10" / "train").is_dir() or (root / "cifar-10-batches-py").is_dir()
    return {"MNIST": mnist_ok, "CIFAR-10": cifar_ok}


def prepare(root: str | Path | None = None) -> Path:
    """Put MNIST and CIFAR-10 under the data root: from ../shared/data when present, else download."""
    root = Path(root) if root is not None else config.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    if SHARED_PREPARE.exists():
        subprocess.run([sys.executable, str(SHARED_PREPARE), str(root)], check=True)
    else:
        from torchvision.datasets import CIFAR10, MNIST
        for train in (True, False):
            MNIST(str(root), train=train, download=True)
            CIFAR10(str(root), train=train, download=True)
    return root


def main(argv: list[str] | None = None) -> int:
    """``python -m diffusion_course.data prepare [--root DIR]``"""
    import argparse

    p = argparse.ArgumentParser(prog="python -m diffusion_course.data", description=main.__doc__)
    p.add_argument("command", choices=["prepare"])
    p.add_argument("--root", default=None, help="data root (default: DIFFUSION_COURSE_DATA or ~/.cache)")
    args = p.parse_args(argv)
    print("data root:", prepare(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
