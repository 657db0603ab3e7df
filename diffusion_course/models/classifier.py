"""Feature classifiers: small CNNs whose penultimate layer gives the features behind the course's
"MNIST classifier FID/KID" and "CIFAR-10 classifier FID/KID", precision/recall and class coverage.

These numbers are *not* Inception FIDs and must never be compared with published ones. The
network only: training lives in :mod:`diffusion_course.training.classifier`, loading as a feature
network in :mod:`diffusion_course.evaluation.features`; the manifest records its command and accuracy.
"""

from __future__ import annotations

import torch
from torch import nn

NUM_CLASSES = 10
FEATURE_DIM = 128


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class MNISTClassifier(nn.Module):
    """LeNet-style CNN for MNIST (LeCun et al. 1998, with batch norm and dropout).

    Input: images ``(B, 1, 28, 28)`` in ``[-1, 1]``. ``forward`` returns logits ``(B, 10)``;
    ``features`` returns the ``feature_dim``-dimensional penultimate embedding (``num_features``),
    which ``evaluation.image_metrics.ClassifierFeatures`` hands to torchmetrics as its feature extractor.
    """

    def __init__(self, width: int = 32, feature_dim: int = FEATURE_DIM, dropout: float = 0.3):
        super().__init__()
        self.config = {"width": width, "feature_dim": feature_dim, "dropout": dropout}
        self.num_features = feature_dim
        self.num_classes = NUM_CLASSES
        self.image_shape = (1, 28, 28)
        self.body = nn.Sequential(
            _conv_block(1, width),
            _conv_block(width, width),
            nn.MaxPool2d(2),  # 14x14
            _conv_block(width, 2 * width),
            _conv_block(2 * width, 2 * width),
            nn.MaxPool2d(2),  # 7x7
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate embedding ``(B, feature_dim)`` of images ``(B, 1, 28, 28)`` in [-1, 1]."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"expected images of shape (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.body(x.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def _down_block(c_in: int, c_out: int) -> nn.Sequential:
    """conv -> 2x2 max-pool -> BN -> GELU -> conv -> BN -> GELU (the block of Jordan's airbench, 2024)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.MaxPool2d(2),
        nn.BatchNorm2d(c_out),
        nn.GELU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.GELU(),
    )


class CIFAR10Classifier(nn.Module):
    """A small VGG-style CNN for CIFAR-10 (three conv/pool blocks, after Jordan's airbench, 2024).

    Input: images ``(B, 3, 32, 32)`` in ``[-1, 1]``. ``forward`` returns logits ``(B, 10)``;
    ``features`` returns the ``widths[-1]``-dimensional global-max-pooled embedding (``num_features``).
    Inputs are made channels-last, which is about 1.5x faster for these convolutions on a CPU.
    """

    def __init__(self, widths: tuple[int, int, int] | list[int] = (64, 128, 256)):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != 3 or min(widths) < 1:
            raise ValueError(f"widths must be three positive channel counts, got {widths}")
        self.config = {"widths": widths}
        self.num_features = widths[-1]
        self.num_classes = NUM_CLASSES
        self.image_shape = (3, 32, 32)
        w0, w1, w2 = widths
        self.body = nn.Sequential(
            nn.Conv2d(3, w0, 3, padding=1, bias=False),
            nn.BatchNorm2d(w0),
            nn.GELU(),
            _down_block(w0, w0),  # 16x16
            _down_block(w0, w1),  # 8x8
            _down_block(w1, w2),  # 4x4
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(w2, NUM_CLASSES, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Global-max-pooled embedding ``(B, widths[-1])`` of images ``(B, 3, 32, 32)`` in [-1, 1]."""
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"expected images of shape (B, 3, 32, 32), got {tuple(x.shape)}")
        return self.body(x.float().contiguous(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
