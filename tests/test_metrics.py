"""Tests of the sample-quality metrics: 2-D distances and mixture metrics, the shipped MNIST
classifier, and the image metrics on its features (floors, corruption ladders, closed forms)."""

import json
import math
from types import SimpleNamespace

import pytest
import torch

from diffusion_course import tables
from diffusion_course.toy import metrics
from diffusion_course.toy.oracle import GaussianMixture


@pytest.fixture(scope="module")
def ring():
    return GaussianMixture.ring(8, radius=2.0, std=0.15)


def _draw(mix, n, seed):
    return mix.sample(n, generator=torch.Generator().manual_seed(seed))[0].double()


# ----------------------------------------------------------------------------- 2-D


def test_sliced_wasserstein_of_a_translation_matches_closed_form(ring):
    # shifting a cloud by d shifts each 1-D projection by d.theta; E[(d.theta)^2] = |d|^2 / 2 in 2-D
    a = _draw(ring, 1000, 0)
    d = torch.tensor([0.6, -0.3], dtype=torch.float64)
    sw = metrics.sliced_wasserstein(a, a + d, n_projections=2000, generator=torch.Generator().manual_seed(1))
    assert sw == pytest.approx(float(d.norm()) / math.sqrt(2), rel=0.03)


def test_exact_w2_of_a_translation_is_its_length_and_bounds_sliced(ring):
    a = _draw(ring, 300, 0)
    d = torch.tensor([0.5, 0.2], dtype=torch.float64)
    assert metrics.wasserstein2_exact(a, a + d) == pytest.approx(float(d.norm()), rel=1e-9)
    b = _draw(ring, 300, 1)
    assert metrics.sliced_wasserstein(a, b) <= metrics.wasserstein2_exact(a, b) + 1e-12


@pytest.mark.parametrize("metric,n", [("sliced_wasserstein", 4000), ("mmd_rbf", 1000)])
def test_2d_distances_sit_at_floor_for_real_data_and_grow_with_noise(ring, metric, n):
    f = getattr(metrics, metric)
    ref, real = _draw(ring, n, 0), _draw(ring, n, 1)
    g = torch.Generator().manual_seed(2)
    ladder = [
        f(real + s * torch.randn(real.shape, generator=g, dtype=torch.float64), ref) for s in (0.0, 0.2, 0.4, 0.8)
    ]
    assert all(lo < hi for lo, hi in zip(ladder, ladder[1:])), ladder
    assert ladder[0] < 0.5 * ladder[2]  # real vs real: well below a visible corruption
    if metric == "mmd_rbf":
        assert abs(ladder[0]) < 2e-3  # unbiased estimate of 0


def test_unequal_sample_counts_are_allowed(ring):
    a, b = _draw(ring, 700, 0), _draw(ring, 1500, 1)
    assert 0 < metrics.sliced_wasserstein(a, b) < metrics.sliced_wasserstein(a + 0.3, b)
    assert abs(metrics.mmd_rbf(_draw(ring, 700, 0), _draw(ring, 1500, 1))) < 3e-3


def test_log_likelihood_of_a_gaussian_is_minus_its_entropy():
    std = 0.5
    mix = GaussianMixture.isotropic([[1.0, -1.0]], std)
    entropy = 1 + math.log(2 * math.pi * std**2)  # 2-D: d/2 (1 + log 2 pi sigma^2)
    ll = metrics.mixture_log_likelihood(_draw(mix, 20000, 0), mix)
    assert ll == pytest.approx(-entropy, abs=0.03)


def test_mode_coverage_detects_a_dropped_component(ring):
    full = metrics.mode_coverage(_draw(ring, 4000, 0), ring)
    assert full["modes_covered"] == 8 and full["coverage"] == 1.0 and full["weight_tv"] < 0.03
    keep = [k for k in range(8) if k != 3]
    seven = GaussianMixture(ring.means[keep], ring.covs[keep])
    dropped = metrics.mode_coverage(_draw(seven, 4000, 0), ring)
    assert dropped["modes_covered"] == 7 and dropped["covered"][3] is False
    assert dropped["weights"][3] < 0.01 and dropped["weight_tv"] == pytest.approx(0.125, abs=0.03)


def test_mode_coverage_duck_types_a_mixture_without_component_log_prob(ring):
    x = _draw(ring, 2000, 0)
    plain = SimpleNamespace(means=ring.means, covariances=ring.covs, weights=ring.weights)
    assert metrics.mode_coverage(x, plain)["weights"] == pytest.approx(metrics.mode_coverage(x, ring)["weights"])


def test_evaluate_2d_reports_rounded_numbers_and_detects_collapse(ring):
    good = metrics.evaluate_2d(_draw(ring, 1000, 5), ring)
    collapsed = metrics.evaluate_2d(_draw(GaussianMixture(ring.means[:2], ring.covs[:2]), 1000, 5), ring)
    assert good["n"] == 1000 and good["modes_covered"] == "8/8" and collapsed["modes_covered"] == "2/8"
    assert good["sliced_w2"] < collapsed["sliced_w2"] and good["mmd_rbf"] < collapsed["mmd_rbf"]
    assert good["sliced_w2"] == tables.round_sig(good["sliced_w2"])
    vs_points = metrics.evaluate_2d(_draw(ring, 500, 5), _draw(ring, 500, 6))
    assert set(vs_points) == {"n", "n_reference", "sliced_w2", "mmd_rbf"}
    assert "sliced_w2" in tables.format_table(good)


def test_escaped_flags_exactly_the_far_and_non_finite_points_and_follows_the_gaussian_tail(ring):
    x = _draw(ring, 1000, 0)
    assert not metrics.escaped(x, 4.0).any()  # the ring (radius 2, std 0.15) stays well inside 4
    far = x.clone()
    far[[3, 500]] = torch.tensor([[40.0, 0.0], [-3.0, 3.0]], dtype=far.dtype)  # |x| = 40 and 4.24: both beyond 4
    far[7, 1] = float("nan")
    far[9, 0] = float("inf")
    assert metrics.escaped(far, 4.0).nonzero().flatten().tolist() == [3, 7, 9, 500]
    assert metrics.escaped(far, 4.3).nonzero().flatten().tolist() == [3, 7, 9]  # a norm, not the box [-4, 4]^2
    # for N(0, I) in 2-D, |x|^2 is chi-square with 2 dof: P(|x| > r) = exp(-r^2 / 2)
    z = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0))
    for r in (1.0, 2.0, 3.0):
        assert metrics.escaped(z, r).double().mean().item() == pytest.approx(math.exp(-(r**2) / 2), rel=0.05)
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="radius"):
            metrics.escaped(x, bad)
    with pytest.raises(ValueError, match="point cloud"):
        metrics.escaped(x[:, 0], 4.0)


def test_round_sig_and_bad_inputs():
    assert tables.round_sig(123456) == 123000 and tables.round_sig(0.0012345) == 0.00123
    with pytest.raises(ValueError, match="same dimension"):
        metrics.sliced_wasserstein(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="equal sample counts"):
        metrics.wasserstein2_exact(torch.zeros(5, 2), torch.zeros(6, 2))
    with pytest.raises(ValueError, match="bandwidths"):
        metrics.mmd_rbf(torch.randn(5, 2), torch.randn(5, 2), bandwidths=[0.0])


# ----------------------------------------------------------------------------- images

from diffusion_course.evaluation import features  # noqa: E402
from diffusion_course.evaluation import floors as mr  # noqa: E402
from diffusion_course.evaluation import image_metrics as im  # noqa: E402
from diffusion_course.models import classifier as clf_mod  # noqa: E402
from diffusion_course.training.classifier import accuracy  # noqa: E402


@pytest.fixture(scope="module")
def clf():
    return features.feature_network("mnist")  # fails (never skips) when the shipped checkpoint is missing


@pytest.fixture(scope="module")
def mnist_test():
    from diffusion_course.data import mnist

    x, y = mnist(train=False)
    return x[:2000], y[:2000]


@pytest.fixture(scope="module")
def mnist_train500():
    from diffusion_course.data import mnist

    return mnist(train=True, n=500, generator=torch.Generator().manual_seed(0))[0]


def test_shipped_classifier_matches_manifest_and_its_accuracy(clf, mnist_test):
    from diffusion_course import checkpoints

    entry = checkpoints.read_manifest()[features.FEATURE_NETWORKS["mnist"].checkpoint]
    assert clf.sha256 == entry["sha256"] and entry["metrics"]["test_accuracy"] >= 0.992
    assert entry["bytes"] == checkpoints.verify("mnist_classifier").stat().st_size
    x, y = mnist_test
    assert accuracy(clf, x, y) >= 0.985  # first 2000 test images
    assert clf.features(x[:4]).shape == (4, clf_mod.FEATURE_DIM)


def test_a_tampered_checkpoint_is_refused(tmp_path):
    from diffusion_course import checkpoints

    entry = dict(checkpoints.read_manifest()["mnist_classifier"])
    data = bytearray(checkpoints.verify("mnist_classifier").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "mnist_classifier.pt").write_bytes(bytes(data))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"mnist_classifier": {**entry, "file": "mnist_classifier.pt"}}))
    with pytest.raises(ValueError, match="sha256"):  # checkpoints.CheckpointError is a ValueError
        checkpoints.load_pretrained("mnist_classifier", manifest_path=manifest)


def test_feature_networks_are_registered_per_dataset(clf):
    assert features.dataset_of((1, 28, 28)) == "mnist" and clf.image_shape == (1, 28, 28)
    assert features.dataset_of((3, 32, 32)) == "cifar10"
    with pytest.raises(ValueError, match="no single feature network"):
        features.dataset_of((3, 64, 64))
    with pytest.raises(ValueError, match="no feature network for dataset 'svhn'"):
        features.feature_network("svhn")
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):  # the classifier checks its own input shape
        im.extract(torch.zeros(2, 3, 32, 32), clf)


def test_training_cli_refuses_to_overwrite_without_flag(tmp_path, capsys):
    from diffusion_course.cli import train as train_cli

    existing = tmp_path / "c.pt"
    existing.write_bytes(b"keep")
    assert train_cli.main(["mnist-classifier", "--out", str(existing), "--epochs", "1"]) == 2  # before training
    assert existing.read_bytes() == b"keep" and "--overwrite" in capsys.readouterr().err


def test_fid_with_classifier_as_torchmetrics_extractor_equals_feature_path(clf, mnist_test, mnist_train500):
    a, b = mnist_test[0][:300], mnist_train500[:300]
    direct = im.classifier_fid(a, b, clf)
    via_features = im.frechet_distance(im.extract(a, clf)[0], im.extract(b, clf)[0])
    assert direct == pytest.approx(via_features, rel=1e-4)


def test_image_metrics_sit_at_floor_for_real_data_and_degrade_with_noise(clf, mnist_test, mnist_train500):
    ref = mnist_test[0][:500]
    g = torch.Generator().manual_seed(0)
    rows = [
        im.evaluate_images(mr.add_noise(mnist_train500, s, g) if s else mnist_train500, ref, classifier=clf)
        for s in (0.0, 0.2, 0.4, 0.8)
    ]
    fid = [r["mnist_classifier_fid"] for r in rows]
    kid = [r["mnist_classifier_kid"] for r in rows]
    precision = [r["precision_pct"] for r in rows]
    assert all(lo < hi for lo, hi in zip(fid, fid[1:])), fid
    assert all(lo < hi for lo, hi in zip(kid, kid[1:])), kid
    assert all(hi > lo for hi, lo in zip(precision, precision[1:])), precision
    assert fid[0] < 0.5 * fid[1] and rows[0]["precision_pct"] > 60 and rows[0]["recall_pct"] > 60
    assert rows[0]["n"] == rows[0]["n_reference"] == 500


def test_class_coverage_of_real_digits_and_requested_labels(clf, mnist_test):
    x, y = mnist_test[0][:500], mnist_test[1][:500]
    right = im.evaluate_images(x, x, labels=y, classifier=clf)
    wrong = im.evaluate_images(x, x, labels=(y + 1) % 10, classifier=clf)
    assert right["class_accuracy_pct"] >= 98.0 and wrong["class_accuracy_pct"] <= 2.0
    assert right["max_class_deviation_pct"] < 5.0 and right["mean_confidence_pct"] > 95.0
    assert sum(right["class_histogram_pct"]) == pytest.approx(100, abs=0.5)


def test_class_coverage_closed_forms():
    uniform = torch.eye(10).repeat(5, 1)
    cov = im.class_coverage(uniform, labels=torch.arange(10).repeat(5))
    assert cov["kl_to_uniform"] == 0 and cov["max_class_deviation"] == 0 and cov["class_accuracy"] == 1
    one_class = im.class_coverage(torch.eye(10)[[3] * 20])
    assert one_class["kl_to_uniform"] == pytest.approx(math.log(10)) and one_class["max_class_deviation"] == 0.9


def test_precision_recall_of_identical_disjoint_and_collapsed_sets():
    real = torch.randn(400, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert im.precision_recall(real, real) == (1.0, 1.0)
    assert im.precision_recall(real, real + 100.0) == (0.0, 0.0)
    collapsed = real[:5].repeat(40, 1) + 1e-3  # every fake near 5 real points: precise, no recall
    precision, recall = im.precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.05


def test_gaussian_blur_keeps_background_and_mass():
    assert torch.equal(mr.gaussian_blur(-torch.ones(2, 1, 28, 28), 1.5), -torch.ones(2, 1, 28, 28))
    x = -torch.ones(1, 1, 28, 28)
    x[0, 0, 14, 14] = 1.0
    y = mr.gaussian_blur(x, 1.0) + 1
    assert float(y.sum()) == pytest.approx(2.0, rel=1e-5) and float(y.max()) < 0.5


def test_reports_are_cached_by_count_and_classifier(clf, monkeypatch, tmp_path):
    monkeypatch.setenv("DIFFUSION_COURSE_CACHE", str(tmp_path))
    calls = []
    real_eval = im.evaluate_images
    monkeypatch.setattr(im, "evaluate_images", lambda *a, **k: calls.append(1) or real_eval(*a, **k))
    first = mr.real_floor(40, classifier=clf)
    assert mr.real_floor(40, classifier=clf) == first and len(calls) == 1
    (path,) = (tmp_path / "metrics").glob("real_floor_n40_*.json")
    assert json.loads(path.read_text())["settings"]["classifier_sha256"] == clf.sha256


def test_image_metrics_accept_any_shape_through_a_registered_feature_network(monkeypatch):
    """A 3x32x32 'dataset' with a random conv feature network: same instruments, any C x H x W."""
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.num_features, self.num_classes, self.image_shape = 16, 4, (3, 32, 32)
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2), nn.ReLU(), nn.Flatten(), nn.LazyLinear(16))
            self.head = nn.Linear(16, 4)

        def features(self, x):
            return self.body(x)

    torch.manual_seed(0)
    net = Net().eval()
    net.features(torch.zeros(1, 3, 32, 32))  # materialise the lazy layer
    g = torch.Generator().manual_seed(0)
    reals = torch.rand(400, 3, 32, 32, generator=g) * 2 - 1
    entry = features.FeatureNetwork("toy32", "none", (3, 32, 32), 4, lambda train, n, gen: (reals[:n], None))
    monkeypatch.setitem(features.FEATURE_NETWORKS, "toy32", entry)
    monkeypatch.setitem(features._LOADED, "toy32", net)
    same = im.evaluate_images(reals[200:], reals[:200], dataset="toy32")
    shifted = im.evaluate_images((reals[200:] + 0.5).clamp(-1, 1), reals[:200], dataset="toy32")
    assert "toy32_classifier_fid" in same and len(same["class_histogram_pct"]) == 4
    assert same["toy32_classifier_fid"] < shifted["toy32_classifier_fid"]
