"""Training the feature classifiers (MNIST now): cross-entropy with light affine augmentation.

Runs through the shared loop (:func:`~diffusion_course.training.loop.run_loop`) with AdamW and a
one-cycle learning rate (Smith & Topin 2019) owned by torch's ``OneCycleLR``; the batch order and
the augmentation draw from one seeded generator. Each epoch logs the loss and the test accuracy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..models.classifier import MNISTClassifier
from .batches import make_batches
from .loop import Every, Phase, run_loop

__all__ = [
    "random_affine",
    "accuracy",
    "train_classifier",
    "save_classifier",
    "CLASSIFIER_DESCRIPTION",
]

CLASSIFIER_DESCRIPTION = (
    "MNIST feature classifier (LeNet-style CNN): the feature extractor of the course's MNIST classifier "
    "FID/KID, precision/recall and class coverage (not an Inception network)"
)


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


def train_classifier(
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    seed: int = 0,
    device: str | torch.device = "cpu",
    root: str | Path | None = None,
    log: Callable[[str], None] = print,
    progress: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
) -> tuple[MNISTClassifier, float]:
    """Train ``MNISTClassifier`` with AdamW + OneCycle (Smith & Topin 2019) and random affine
    augmentation; return ``(model in eval mode on the CPU, test accuracy)``. ``n_train`` and ``n_test``
    limit the training and test sets to their first images (for quick checks)."""
    from ..data import mnist

    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # parameter initialisation
    x_train, y_train = mnist(train=True, root=root)
    if n_train is not None:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    x_test, y_test = mnist(train=False, root=root)
    x_test, y_test = x_test[:n_test], y_test[:n_test]
    model = MNISTClassifier().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    per_epoch = math.ceil(len(x_train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch)
    batches = make_batches((x_train, y_train), batch_size, g, torch.device("cpu"), drop_last=False)

    def loss(batch):
        xb, yb = batch
        return F.cross_entropy(model(random_affine(xb, generator=g).to(dev)), yb.to(dev))

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
        desc="classifier",
    )
    model = model.cpu().eval()
    return model, accuracy(model, x_test, y_test)


def save_classifier(
    model: MNISTClassifier,
    path: str | Path,
    command: str,
    test_accuracy: float,
    *,
    overwrite: bool = False,
    name: str = "mnist_classifier",
    **extra,
) -> dict:
    """Write float32 weights with ``checkpoints.save_checkpoint`` and add/update the manifest entry."""
    from .. import checkpoints

    config = {"command": command, "test_accuracy": test_accuracy, **extra}
    checkpoints.save_checkpoint(path, model, config, overwrite=overwrite, allow_shipped=overwrite, half=False)
    return checkpoints.add_to_manifest(
        name,
        path,
        command,
        CLASSIFIER_DESCRIPTION,
        metrics={"test_accuracy": test_accuracy},
        **{"class": "MNISTClassifier"},
        **extra,
    )
