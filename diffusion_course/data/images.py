"""Image datasets of the course: MNIST and CIFAR-10 through torchvision, and image folders.

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

import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from .. import config

__all__ = [
    "CIFAR10_CLASSES",
    "DatasetNotFoundError",
    "to_unit_range",
    "to_pixels",
    "mnist",
    "cifar10",
    "image_folder",
    "loader",
    "available",
]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk and could not be downloaded."""


def to_unit_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """Map uint8 pixels (N, C, H, W) in 0..255 to float32 in [-1, 1]."""
    return images_uint8.float().div(127.5).sub(1.0)


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Map images in [-1, 1] back to [0, 1] for plotting (clamped)."""
    return x.add(1.0).div(2.0).clamp(0.0, 1.0)


def _download_default() -> bool:
    return os.environ.get("DIFFUSION_COURSE_DOWNLOAD", "1").strip().lower() not in {
        "0",
        "false",
        "no",
        "off",
    }


def _how_to_get(name: str, root: Path, looked: list[Path]) -> str:
    where = "\n".join(f"  - {p}" for p in looked)
    return (
        f"{name} was not found. Looked in:\n{where}\n"
        "How to get it:\n"
        f"  - with a network: python -m diffusion_course data prepare --root {root}\n"
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


def mnist(
    train: bool = True,
    root: str | Path | None = None,
    n: int | None = None,
    download: bool | None = None,
    generator: torch.Generator | None = None,
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


def cifar10(
    train: bool = True,
    root: str | Path | None = None,
    n: int | None = None,
    download: bool | None = None,
    generator: torch.Generator | None = None,
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


def image_folder(
    path: str | Path, size: int = 32, n: int | None = None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A learner's own images from ``path/<class>/<file>`` (torchvision ImageFolder), resized to size x size.

    Returns images in [-1, 1], labels and the class names.
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetNotFoundError(f"image folder {path} does not exist; expected {path}/<class>/<image files>")
    return _folder_tensors(path, n, generator, size=size)


def loader(
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    batch_size: int = 128,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
) -> DataLoader:
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
