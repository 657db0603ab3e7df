"""Training the feature classifiers of MNIST and CIFAR-10: cross-entropy with data augmentation.

Runs through the shared loop (:func:`~diffusion_course.training.loop.run_loop`) with a one-cycle
learning rate (Smith & Topin 2019) owned by torch's ``OneCycleLR``: AdamW and light affine
augmentation for MNIST, Nesterov SGD with random crops and flips for CIFAR-10. The batch order and
the augmentation draw from one seeded generator, so an interrupted run resumes exactly from the
loop's resume file. Each epoch logs the loss and the test accuracy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..models.classifier import CIFAR10Classifier, MNISTClassifier
from .batches import make_batches
from .loop import Every, Phase, run_loop

__all__ = [
    "random_affine",
    "random_crop_flip",
    "CLASSIFIER_SETTINGS",
    "accuracy",
    "train_classifier",
    "save_classifier",
    "CLASSIFIER_DESCRIPTION",
]

CLASSIFIER_DESCRIPTION = {
    "mnist": "MNIST feature classifier (LeNet-style CNN): the feature extractor of the course's MNIST classifier "
    "FID/KID, precision/recall and class coverage (not an Inception network)",
    "cifar10": "CIFAR-10 feature classifier (VGG-style CNN after airbench): the feature extractor of the course's "
    "CIFAR-10 classifier FID/KID, precision/recall and class coverage (not an Inception network; trained and "
    "tested on the course's JPEG copy of CIFAR-10)",
}

# Default training settings per dataset (the CLI's --epochs/--batch-size/--lr override them).
CLASSIFIER_SETTINGS: dict[str, dict] = {
    "mnist": {"epochs": 5, "batch_size": 128, "lr": 3e-3, "optimizer": "adamw", "weight_decay": 5e-4},
    "cifar10": {"epochs": 16, "batch_size": 256, "lr": 0.2, "optimizer": "sgd", "weight_decay": 5e-4},
}


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    degrees: float = 10.0,
    shift: float = 2.0,
    scale: float = 0.1,
) -> torch.Tensor:
    """Light augmentation: per-image random rotation, scaling and shift (in pixels), background -1."""
    b = x.shape[0]
    u = torch.rand(b, 4, generator=generator).to(x) * 2 - 1
    angle, s = u[:, 0] * math.radians(degrees), 1 + u[:, 1] * scale
    tx, ty = u[:, 2] * shift * 2 / x.shape[-1], u[:, 3] * shift * 2 / x.shape[-2]
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on ``(x, y)``."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    correct = sum(
        int((model(x[i : i + batch_size].to(dev)).argmax(1).cpu() == y[i : i + batch_size]).sum())
        for i in range(0, len(x), batch_size)
    )
    model.train(was_training)
    return correct / len(x)


def random_crop_flip(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    """Per-image random crop of a reflect-padded image and a random horizontal flip (He et al. 2016)."""
    b, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    off = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    rows = (off[:, 0, None] + torch.arange(h)).to(x.device)  # (B, H)
    cols = (off[:, 1, None] + torch.arange(w)).to(x.device)  # (B, W)
    out = xp[torch.arange(b, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    out = out.permute(0, 3, 1, 2)
    return torch.where(flip.to(x.device)[:, None, None, None], out.flip(-1), out)


_NETWORKS = {"mnist": MNISTClassifier, "cifar10": CIFAR10Classifier}
_AUGMENT = {"mnist": random_affine, "cifar10": random_crop_flip}


def _optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; expected 'adamw' or 'sgd'")


def train_classifier(
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    root: str | Path | None = None,
    log: Callable[[str], None] = print,
    progress: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    *,
    dataset: str = "mnist",
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    allow_shipped: bool = False,
    config: dict | None = None,
) -> tuple[nn.Module, float]:
    """Train the feature classifier of ``dataset`` with a one-cycle schedule (Smith & Topin 2019).

    Settings left None come from ``CLASSIFIER_SETTINGS[dataset]``. Returns ``(model in eval mode on
    the CPU, test accuracy)``. ``n_train`` and ``n_test`` limit the training and test sets to seeded
    random subsets (for quick checks; the CIFAR-10 folders are sorted by class). With
    ``checkpoint_path`` the loop saves the weights and a resume file every ``checkpoint_every``
    steps; ``resume=True`` continues an interrupted run exactly.
    """
    from ..data import cifar10, mnist

    if dataset not in CLASSIFIER_SETTINGS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(CLASSIFIER_SETTINGS)}")
    s = CLASSIFIER_SETTINGS[dataset]
    epochs = s["epochs"] if epochs is None else epochs
    batch_size = batch_size or s["batch_size"]
    lr = lr or s["lr"]
    weight_decay = s["weight_decay"] if weight_decay is None else weight_decay
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    load = {"mnist": mnist, "cifar10": cifar10}[dataset]
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # parameter initialisation
    x_train, y_train = load(train=True, root=root, n=n_train, generator=torch.Generator().manual_seed(seed))
    x_test, y_test = load(train=False, root=root, n=n_test, generator=torch.Generator().manual_seed(seed + 1))
    model = _NETWORKS[dataset]().to(dev)
    opt = _optimizer(model, s["optimizer"], lr, weight_decay)
    per_epoch = math.ceil(len(x_train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch)
    batches = make_batches((x_train, y_train), batch_size, g, torch.device("cpu"), drop_last=False)
    augment = _AUGMENT[dataset]

    def loss(batch):
        xb, yb = batch
        return F.cross_entropy(model(augment(xb, generator=g).to(dev)), yb.to(dev))

    t0 = time.perf_counter()

    def epoch_end(info: dict) -> None:
        log(
            f"epoch {info['step'] // per_epoch}/{epochs}: loss {info['loss']:.4f} (last step)  test accuracy "
            f"{accuracy(model, x_test, y_test):.4f}  ({time.perf_counter() - t0:.0f} s)"
        )

    run_loop(
        [Phase("classifier", loss, opt, lr, scheduler=sched)],
        models={"classifier": model},
        batches=batches,
        generator=g,
        steps=epochs * per_epoch,
        grad_clip=None,
        device=dev,
        progress=progress,
        callbacks=[Every(per_epoch, epoch_end)],
        desc=f"{dataset} classifier",
        export="classifier" if checkpoint_path is not None else None,
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        resume=resume,
        overwrite=overwrite,
        allow_shipped=allow_shipped,
        config=config,
        checkpoint_half=False,
    )
    model = model.cpu().eval()
    return model, accuracy(model, x_test, y_test)


def save_classifier(
    model: nn.Module,
    path: str | Path,
    command: str,
    test_accuracy: float,
    *,
    overwrite: bool = False,
    allow_shipped: bool = False,
    name: str | None = None,
    **extra,
) -> dict | None:
    """Write float32 weights with ``checkpoints.save_checkpoint``; with ``name``, add/update that manifest entry.

    Returns the manifest entry, or None when ``name`` is None.
    """
    from .. import checkpoints

    dataset = "cifar10" if isinstance(model, CIFAR10Classifier) else "mnist"
    config = {"command": command, "test_accuracy": test_accuracy, "dataset": dataset, **extra}
    checkpoints.save_checkpoint(path, model, config, overwrite=overwrite, allow_shipped=allow_shipped, half=False)
    if name is None:
        return None
    return checkpoints.add_to_manifest(
        name,
        path,
        command,
        CLASSIFIER_DESCRIPTION[dataset],
        metrics={"test_accuracy": test_accuracy},
        **{"class": type(model).__name__},
        **extra,
    )
