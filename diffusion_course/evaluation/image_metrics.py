"""Image metrics on the features of a dataset's classifier (offline, CPU friendly), for any C x H x W.

- "<dataset> classifier FID" and "... KID" (``mnist_classifier_fid`` ...): the Frechet distance
  (Heusel et al. 2017) and the kernel distance (Binkowski et al. 2018), computed by torchmetrics
  with the dataset's registered feature network (:mod:`.features`; for MNIST the shipped
  :class:`~diffusion_course.models.classifier.MNISTClassifier`, 128-d penultimate layer) as the
  feature extractor. They are NOT Inception FIDs: never compare them with published numbers, only
  with each other at the same sample count (FID is biased upward at small n).
- ``precision_recall``: improved precision and recall (Kynkaanniemi et al. 2019), k = 3.
- ``class_coverage``: histogram of predicted classes, mean confidence, accuracy on the
  requested classes of conditional samples, and distance of the histogram from uniform.
- ``evaluate_images``: all of them, as a small dict of rounded numbers with the sample count.

Reference points for reading these numbers: :mod:`.floors`
(the real-vs-real floor and a corruption ladder).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from ..tables import round_sig
from .features import dataset_of, feature_network, real_images

_CACHE: dict[tuple, torch.Tensor] = {}  # in-process cache of reference features


def _images(x: Any, name: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Check a batch of images ``(N, C, H, W)`` in [-1, 1] (of ``shape`` when given) and return it as float."""
    x = torch.as_tensor(x)
    if x.ndim != 4 or (shape is not None and tuple(x.shape[1:]) != tuple(shape)):
        want = f"(N, {', '.join(map(str, shape))})" if shape is not None else "(N, C, H, W)"
        raise ValueError(f"{name} must be images shaped {want} in [-1, 1], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floats in [-1, 1], got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x.detach().float()


def default_classifier(dataset: str = "mnist") -> nn.Module:
    """The shipped feature network of ``dataset`` (loaded once per process, sha256-checked)."""
    return feature_network(dataset)


def _classifier_for(x: torch.Tensor, classifier: nn.Module | None, dataset: str | None) -> nn.Module:
    if classifier is not None:
        return classifier
    return feature_network(dataset or dataset_of(tuple(x.shape[1:])))


class ClassifierFeatures(nn.Module):
    """Feature extractor for torchmetrics: images (N, C, H, W) in [-1,1] -> the classifier's
    penultimate features (N, d); ``num_features`` tells torchmetrics the dimension d."""

    def __init__(self, classifier: nn.Module, batch_size: int = 1000):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = int(classifier.num_features)
        self.batch_size = batch_size

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dev = next(self.classifier.parameters()).device
        return torch.cat(
            [
                self.classifier.features(x[i : i + self.batch_size].to(dev)).cpu()
                for i in range(0, x.shape[0], self.batch_size)
            ]
        )


class _Precomputed(nn.Module):
    """Identity "extractor": lets torchmetrics compute FID/KID from features we already have."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f


@torch.no_grad()
def extract(
    images: Any,
    classifier: nn.Module | None = None,
    batch_size: int = 1000,
    dataset: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of the classifier: ``(features (N, d) float64, class probabilities (N, classes))``."""
    x = _images(images, "images")
    clf = _classifier_for(x, classifier, dataset).eval()
    x = _images(x, "images", getattr(clf, "image_shape", None))
    feats = ClassifierFeatures(clf, batch_size)(x)
    dev = next(clf.parameters()).device
    probs = torch.softmax(clf.head(feats.to(dev)).cpu(), dim=1)
    return feats.double(), probs.double()


def frechet_distance(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017), via torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=_Precomputed(real_features.shape[1]))
    fid.update(real_features.double(), real=True)
    fid.update(fake_features.double(), real=False)
    return float(fid.compute())


def kernel_distance(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    subsets: int = 20,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel distance (KID, Binkowski et al. 2018): unbiased cubic-polynomial MMD^2 averaged over
    random subsets, via torchmetrics; ``(mean, std over subsets)``, seeded for reproducibility.
    Subsets hold ``subset_size`` samples, or half the smaller set when that is smaller."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = max(2, min(subset_size, real_features.shape[0] // 2, fake_features.shape[0] // 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features"
        kid = KernelInceptionDistance(feature=_Precomputed(real_features.shape[1]), subsets=subsets, subset_size=size)
    kid.update(real_features.double(), real=True)
    kid.update(fake_features.double(), real=False)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws subsets with the global RNG
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


def classifier_fid(
    real_images: Any,
    fake_images: Any,
    classifier: nn.Module | None = None,
    dataset: str | None = None,
) -> float:
    """Classifier FID: torchmetrics' FID with the dataset's feature network as its feature extractor."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real = _images(real_images, "real_images")
    clf = _classifier_for(real, classifier, dataset)
    fid = FrechetInceptionDistance(feature=ClassifierFeatures(clf))
    fid.update(_images(real, "real_images", getattr(clf, "image_shape", None)), real=True)
    fid.update(_images(fake_images, "fake_images", getattr(clf, "image_shape", None)), real=False)
    return float(fid.compute())


def _kth_nn_radius(f: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row of ``f`` to its k-th nearest other row."""
    return torch.cat(
        [
            torch.cdist(f[i : i + chunk], f).kthvalue(k + 1, dim=1).values  # +1: itself at 0
            for i in range(0, f.shape[0], chunk)
        ]
    )


def _inside_any_ball(q: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    return torch.cat(
        [(torch.cdist(q[i : i + chunk], centers) <= radii).any(dim=1) for i in range(0, q.shape[0], chunk)]
    )


def precision_recall(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): the real manifold is the union of
    balls around real features reaching their k-th nearest real neighbour; precision is the
    fraction of fakes inside it, recall the fraction of reals inside the fake manifold.
    Distances in float32 (this is the O(n^2) part)."""
    real, fake = real_features.float(), fake_features.float()
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    precision = _inside_any_ball(fake, real, _kth_nn_radius(real, k)).double().mean()
    recall = _inside_any_ball(real, fake, _kth_nn_radius(fake, k)).double().mean()
    return float(precision), float(recall)


def class_coverage(probs: torch.Tensor, labels: Any = None, num_classes: int | None = None) -> dict:
    """Class coverage of samples from classifier probabilities (N, C): histogram of predicted
    classes, mean confidence (max probability), KL(histogram || uniform) in nats, largest
    deviation of a class share from 1/C, and (given requested ``labels``) class accuracy.
    ``num_classes`` defaults to the width of ``probs``."""
    probs = torch.as_tensor(probs, dtype=torch.float64)
    num_classes = num_classes or probs.shape[1]
    pred = probs.argmax(1)
    hist = torch.bincount(pred, minlength=num_classes).double() / pred.numel()
    nz = hist[hist > 0]
    out = {
        "histogram": hist.tolist(),
        "mean_confidence": float(probs.max(1).values.mean()),
        "kl_to_uniform": float((nz * (nz * num_classes).log()).sum()),
        "max_class_deviation": float((hist - 1.0 / num_classes).abs().max()),
    }
    if labels is not None:
        labels = torch.as_tensor(labels).long().reshape(-1)
        if labels.numel() != pred.numel():
            raise ValueError(f"labels must have one entry per sample ({pred.numel()}), got {labels.numel()}")
        out["class_accuracy"] = float((pred == labels.to(pred.device)).double().mean())
    return out


def _pct(x: float) -> float:
    return round(100 * x, 1)


def reference_features(
    n: int = 10000,
    train: bool = False,
    seed: int = 0,
    classifier: nn.Module | None = None,
    dataset: str = "mnist",
) -> torch.Tensor:
    """Features of ``n`` real images of ``dataset`` (test split by default, random subset with ``seed``),
    cached in-process."""
    clf = classifier or default_classifier(dataset)
    key = ("ref", dataset, n, train, seed, getattr(clf, "sha256", id(clf)))
    if key not in _CACHE:
        x, _ = real_images(dataset, train, n, torch.Generator().manual_seed(seed))
        _CACHE[key] = extract(x, clf)[0]
    return _CACHE[key]


def evaluate_images(
    samples: Any,
    reference: Any = None,
    labels: Any = None,
    n: int | None = None,
    classifier: nn.Module | None = None,
    k: int = 3,
    dataset: str | None = None,
) -> dict:
    """Evaluate samples in [-1, 1] against a reference set: classifier FID/KID, precision/recall
    (k = 3), class coverage, on the features of ``dataset``'s feature network (default: the one
    registered for the samples' shape). ``reference``: images, or None for ``n`` random test
    images of the dataset. Returns a dict of rounded numbers (FID/KID 3 significant digits,
    percentages to 0.1) that states the sample counts; the FID/KID keys name the dataset
    (``mnist_classifier_fid``). Print it with ``tables.format_table``."""
    x = _images(samples, "samples")
    dataset = dataset or (None if classifier is not None else dataset_of(tuple(x.shape[1:])))
    n = x.shape[0] if n is None else n
    if not 2 <= n <= x.shape[0]:
        raise ValueError(f"n must be in [2, {x.shape[0]}] (the number of samples), got {n}")
    clf = classifier or default_classifier(dataset)
    name = dataset or "mnist"
    feats, probs = extract(x[:n], clf)
    ref = reference_features(n, classifier=clf, dataset=name) if reference is None else extract(reference, clf)[0]
    precision, recall = precision_recall(ref, feats, k)
    kid, kid_std = kernel_distance(ref, feats)
    cov = class_coverage(probs, None if labels is None else torch.as_tensor(labels)[:n])
    out = {
        "n": n,
        "n_reference": int(ref.shape[0]),
        f"{name}_classifier_fid": round_sig(frechet_distance(ref, feats)),
        f"{name}_classifier_kid": round_sig(kid),
        "kid_std": round_sig(kid_std),
        "precision_pct": _pct(precision),
        "recall_pct": _pct(recall),
        "mean_confidence_pct": _pct(cov["mean_confidence"]),
        "max_class_deviation_pct": _pct(cov["max_class_deviation"]),
        "class_kl_to_uniform": round_sig(cov["kl_to_uniform"], 2),
        "class_histogram_pct": [_pct(h) for h in cov["histogram"]],
    }
    if "class_accuracy" in cov:
        out["class_accuracy_pct"] = _pct(cov["class_accuracy"])
    return out
