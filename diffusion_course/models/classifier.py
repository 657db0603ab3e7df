"""MNIST feature classifier: a small LeNet-style CNN whose penultimate layer gives the features
behind the course's "MNIST classifier FID/KID", precision/recall and class coverage.

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
