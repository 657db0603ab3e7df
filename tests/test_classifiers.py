"""Tests of the CIFAR-10 feature classifier: the network's shapes and refusals, the crop-and-flip
augmentation, and training through the shared loop with an exact resume."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from diffusion_course import checkpoints as ck
from diffusion_course.models.classifier import CIFAR10Classifier
from diffusion_course.training.classifier import random_crop_flip, save_classifier, train_classifier


def test_the_cifar10_network_gives_logits_and_features_and_refuses_other_shapes():
    torch.manual_seed(0)
    model = CIFAR10Classifier(widths=(8, 16, 32)).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert model(x).shape == (3, 10) and model.features(x).shape == (3, 32) and model.num_features == 32
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        model(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="three positive"):
        CIFAR10Classifier(widths=(8, 16))


def test_crop_and_flip_moves_each_image_by_at_most_the_padding():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 32, 32, generator=g)
    out = random_crop_flip(x, torch.Generator().manual_seed(1), pad=4)
    assert out.shape == x.shape
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    for i in range(16):  # every output is one 32x32 window of the padded image, maybe mirrored
        windows = [padded[i, :, r : r + 32, c : c + 32] for r in range(9) for c in range(9)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    assert not torch.equal(out, x)  # 16 images: some moved
    assert torch.equal(random_crop_flip(x, torch.Generator().manual_seed(1)), out)  # seeded
    centred = random_crop_flip(x, torch.Generator().manual_seed(1), pad=0)
    assert all(torch.equal(centred[i], x[i]) or torch.equal(centred[i], x[i].flip(-1)) for i in range(16))


def test_cifar10_training_resumes_exactly_and_saves_its_accuracy(tmp_path, monkeypatch):
    from diffusion_course import data
    from diffusion_course.training import classifier as clf_mod

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(96, 3, 32, 32, generator=g) * 2 - 1, torch.arange(96) % 10

    def fake(train=True, root=None, n=None, generator=None):
        return (x, y) if train else (x[:40], y[:40])

    monkeypatch.setattr(data, "cifar10", fake)
    monkeypatch.setattr(clf_mod, "_NETWORKS", {**clf_mod._NETWORKS, "cifar10": lambda: CIFAR10Classifier((4, 8, 8))})
    kw = dict(epochs=2, batch_size=32, lr=0.05, dataset="cifar10", log=lambda s: None, config={"command": "pytest"})
    full, acc = train_classifier(**kw)

    path = tmp_path / "clf.pt"
    from diffusion_course.training import loop

    real = loop.run_loop

    def stop_at_4(*a, **k):
        k["callbacks"] = [*k["callbacks"], loop.Every(1, lambda info: loop.STOP if info["step"] == 4 else None)]
        return real(*a, **k)

    monkeypatch.setattr(clf_mod, "run_loop", stop_at_4)
    train_classifier(checkpoint_path=path, checkpoint_every=2, **kw)
    assert ck.load_checkpoint(path)[1]["steps"] == 4
    monkeypatch.setattr(clf_mod, "run_loop", real)
    resumed, acc2 = train_classifier(checkpoint_path=path, checkpoint_every=2, resume=True, **kw)
    assert acc2 == acc
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))

    assert save_classifier(resumed, path, "pytest", acc2, overwrite=True) is None  # no name: manifest untouched
    model, config = ck.load_checkpoint(path)
    assert isinstance(model, CIFAR10Classifier) and config["dataset"] == "cifar10" and config["test_accuracy"] == acc2
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), model.state_dict().values()))
