"""MNIST feature classifier: a small LeNet-style CNN whose penultimate layer gives the features
behind the course's "MNIST classifier FID/KID", precision/recall and class coverage.

These numbers are *not* Inception FIDs and must never be compared with published ones.

Train the shipped network (records its command, sha256 and test accuracy in the manifest)::

    python -m diffusion_course.models.classifier --out assets/checkpoints/mnist_classifier.pt --epochs 5

(5 epochs: 99.60% test accuracy; 32 min on a heavily shared 2-core CPU with 1 thread.)
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 10
FEATURE_DIM = 128
CHECKPOINT_NAME = "mnist_classifier"


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class MNISTClassifier(nn.Module):
    """LeNet-style CNN for MNIST (LeCun et al. 1998, with batch norm and dropout).

    Input: images ``(B, 1, 28, 28)`` in ``[-1, 1]``. ``forward`` returns logits ``(B, 10)``;
    ``features`` returns the ``feature_dim``-dimensional penultimate embedding (``num_features``),
    which ``image_metrics.ClassifierFeatures`` hands to torchmetrics as its feature extractor.
    """

    def __init__(self, width: int = 32, feature_dim: int = FEATURE_DIM, dropout: float = 0.3):
        super().__init__()
        self.config = {"width": width, "feature_dim": feature_dim, "dropout": dropout}
        self.num_features = feature_dim
        self.body = nn.Sequential(
            _conv_block(1, width), _conv_block(width, width), nn.MaxPool2d(2),  # 14x14
            _conv_block(width, 2 * width), _conv_block(2 * width, 2 * width), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, feature_dim), nn.ReLU(),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate embedding ``(B, feature_dim)`` of images ``(B, 1, 28, 28)`` in [-1, 1]."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected images of shape (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.body(x.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


# ----------------------------------------------------------------------------- data

def random_affine(x: torch.Tensor, generator: torch.Generator | None = None, degrees: float = 10.0,
                  shift: float = 2.0, scale: float = 0.1) -> torch.Tensor:
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
    correct = sum(int((model(x[i:i + batch_size].to(dev)).argmax(1).cpu() == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    model.train(was_training)
    return correct / len(x)


def train_classifier(epochs: int = 5, batch_size: int = 128, lr: float = 3e-3, weight_decay: float = 5e-4,
                     seed: int = 0, device: str | torch.device = "cpu", root: str | Path | None = None,
                     log=print) -> tuple[MNISTClassifier, float]:
    """Train ``MNISTClassifier`` with AdamW + OneCycle (Smith & Topin 2019) and random affine
    augmentation; return ``(model in eval mode on the CPU, test accuracy)``."""
    from diffusion_course.data import mnist
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # parameter initialisation
    x_train, y_train = mnist(train=True, root=root)
    x_test, y_test = mnist(train=False, root=root)
    model = MNISTClassifier().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for epoch in range(epochs):
        t0, total, model = time.perf_counter(), 0.0, model.train()
        perm = torch.randperm(len(x_train), generator=g)
        for step, i in enumerate(range(0, len(x_train), batch_size)):
            idx = perm[i:i + batch_size]
            xb = random_affine(x_train[idx], generator=g).to(dev)
            loss = F.cross_entropy(model(xb), y_train[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            if step % 100 == 99:
                log(f"  epoch {epoch + 1} step {step + 1}: loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)")
        acc = accuracy(model, x_test, y_test)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x_train):.4f}  test accuracy {acc:.4f}  "
            f"({time.perf_counter() - t0:.0f} s)")
    model = model.cpu().eval()
    return model, accuracy(model, x_test, y_test)


# ----------------------------------------------------------------------------- checkpoint

def default_path() -> Path:
    from diffusion_course.config import ASSETS_DIR
    return ASSETS_DIR / "checkpoints" / f"{CHECKPOINT_NAME}.pt"


def save_classifier(model: MNISTClassifier, path: str | Path, command: str, test_accuracy: float, *,
                    overwrite: bool = False, name: str = CHECKPOINT_NAME, **extra) -> dict:
    """Write float32 weights with ``checkpoints.save_checkpoint`` and add/update the manifest entry."""
    from diffusion_course import checkpoints

    config = {"command": command, "test_accuracy": test_accuracy, **extra}
    checkpoints.save_checkpoint(path, model, config, overwrite=overwrite, allow_shipped=overwrite, half=False)
    return checkpoints.add_to_manifest(
        name, path, command, "MNIST feature classifier (LeNet-style CNN): the feature extractor of the "
        "course's MNIST classifier FID/KID, precision/recall and class coverage (not an Inception network)",
        metrics={"test_accuracy": test_accuracy}, **{"class": "MNISTClassifier"}, **extra)


def load_classifier(path: str | Path | None = None, name: str = CHECKPOINT_NAME,
                    device: str | torch.device = "cpu") -> MNISTClassifier:
    """Load the shipped classifier (``weights_only``) after checking its sha256 against the
    manifest entry ``name``; ``path`` defaults to the manifest's file. Sets ``model.sha256``."""
    from diffusion_course import checkpoints

    entry = checkpoints.read_manifest().get(name)
    if entry is None:
        raise checkpoints.CheckpointError(
            f"no manifest entry {name!r} in {checkpoints.MANIFEST_PATH}; train the classifier with "
            f"python -m diffusion_course.models.classifier --out {default_path()}")
    if path is None:
        path = checkpoints.verify(name)
    else:
        path, digest = Path(path), checkpoints.sha256_file(path)
        if digest != entry["sha256"]:
            raise checkpoints.CheckpointError(f"the sha256 of {path} ({digest[:16]}...) differs from the "
                                              f"manifest entry {name!r} ({entry['sha256'][:16]}...)")
    model, _ = checkpoints.load_checkpoint(path, device, model_class="MNISTClassifier")
    if not isinstance(model, MNISTClassifier):
        raise checkpoints.CheckpointError(f"{path} holds a {type(model).__name__}, not an MNISTClassifier")
    model.sha256 = entry["sha256"]
    return model


def main(argv: list[str] | None = None) -> int:
    """CLI: train the MNIST feature classifier and record it in the checkpoint manifest."""
    p = argparse.ArgumentParser(prog="python -m diffusion_course.models.classifier", description=main.__doc__)
    p.add_argument("--out", default=str(default_path()), help="checkpoint path (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--overwrite", action="store_true", help="replace an existing (even shipped) checkpoint")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        print(f"{out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    model, acc = train_classifier(args.epochs, args.batch_size, args.lr, seed=args.seed, device=args.device,
                                  log=lambda s: print(s, flush=True))
    minutes = (time.perf_counter() - t0) / 60
    argv = sys.argv[1:] if argv is None else argv
    cmd = "python -m diffusion_course.models.classifier " + " ".join(shlex.quote(a) for a in argv)
    entry = save_classifier(model, out, cmd, round(acc, 4), overwrite=args.overwrite,
                            train_minutes=round(minutes, 1), device=str(args.device),
                            torch_threads=torch.get_num_threads())
    print(f"test accuracy {acc:.4f}; wrote {out} ({entry['bytes']} bytes) in {minutes:.1f} min")
    return 0 if acc >= 0.992 else 3


if __name__ == "__main__":
    sys.exit(main())
