"""The resumable sample cache: chunks reused, an interruption resumed, foreign or corrupt chunks refused;
``first=`` in every family's generator; measure() with a cache equals measure() without one."""

from __future__ import annotations

import pytest
import torch

from diffusion_course.evaluation.measure import measure
from diffusion_course.evaluation.sample_cache import draw_in_chunks, read_cache, weights_fingerprint
from diffusion_course.models.gan import Generator
from diffusion_course.models.unet import UNet
from diffusion_course.models.vae import VAE
from diffusion_course.pipelines.families import generate_any
from diffusion_course.pipelines.generate import balanced_labels

KEY = {"weights": "abc", "options": {"steps": 3}}


class Recorder:
    """draw(first, count): image i is the constant i; records the calls; may fail at a given chunk."""

    def __init__(self, fail_at: int | None = None):
        self.calls: list[tuple[int, int]] = []
        self.fail_at = fail_at

    def __call__(self, first: int, count: int) -> torch.Tensor:
        if first == self.fail_at:
            raise KeyboardInterrupt
        self.calls.append((first, count))
        return torch.arange(first, first + count, dtype=torch.float32)[:, None].expand(count, 4).clone()


def test_chunks_cover_every_image_once_and_are_reused(tmp_path):
    first = Recorder()
    x, timing = draw_in_chunks(first, 23, tmp_path, KEY, chunk=5)
    assert first.calls == [(0, 5), (5, 5), (10, 5), (15, 5), (20, 3)]
    assert torch.equal(x[:, 0], torch.arange(23, dtype=torch.float32))
    assert timing["chunks"] == 5 and timing["chunks_reused"] == 0 and len(timing["load_averages"]) == 5
    again = Recorder()
    y, timing2 = draw_in_chunks(again, 23, tmp_path, KEY, chunk=5)
    assert again.calls == [] and torch.equal(x, y)
    assert timing2["chunks_reused"] == 5 and timing2["seconds"] == pytest.approx(timing["seconds"])


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        draw_in_chunks(Recorder(fail_at=10), 20, tmp_path, KEY, chunk=5)
    assert not list(tmp_path.glob("*.tmp"))  # no half-written chunk
    rest = Recorder()
    x, timing = draw_in_chunks(rest, 20, tmp_path, KEY, chunk=5)
    assert rest.calls == [(10, 5), (15, 5)] and timing["chunks_reused"] == 2
    assert torch.equal(x[:, 0], torch.arange(20, dtype=torch.float32))


def test_a_longer_run_reuses_the_shorter_ones_chunks(tmp_path):
    draw_in_chunks(Recorder(), 10, tmp_path, KEY, chunk=5)
    more = Recorder()
    draw_in_chunks(more, 15, tmp_path, KEY, chunk=5)
    assert more.calls == [(10, 5)]


def test_foreign_resized_and_corrupt_chunks_are_refused(tmp_path):
    draw_in_chunks(Recorder(), 10, tmp_path, KEY, chunk=5)
    with pytest.raises(ValueError, match="another request"):
        draw_in_chunks(Recorder(), 10, tmp_path, {**KEY, "weights": "xyz"}, chunk=5)
    with pytest.raises(ValueError, match="another chunk size"):
        draw_in_chunks(Recorder(), 10, tmp_path, KEY, chunk=3)
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    (tmp_path / "images_0000005_00005.pt").rename(renamed / "images_0000000_00005.pt")  # content: images 5..9
    with pytest.raises(ValueError, match="expected 0"):
        draw_in_chunks(Recorder(), 5, renamed, KEY, chunk=5)
    next(iter(sorted(tmp_path.glob("*.pt")))).write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable sample chunk"):
        draw_in_chunks(Recorder(), 10, tmp_path, KEY, chunk=5)


@pytest.mark.parametrize("n, chunk", [(0, 5), (10, 0), (2.5, 5)])
def test_bad_sizes_are_refused(tmp_path, n, chunk):
    with pytest.raises(ValueError, match="must be an int >= 1"):
        draw_in_chunks(Recorder(), n, tmp_path, KEY, chunk=chunk)


def test_weights_fingerprint_sees_one_changed_weight():
    torch.manual_seed(0)
    a = torch.nn.Linear(3, 2)
    fp = weights_fingerprint(a)
    assert weights_fingerprint(a) == fp
    with torch.no_grad():
        a.weight[0, 0] += 1e-6
    assert weights_fingerprint(a) != fp


def _tiny_models():
    torch.manual_seed(0)
    unet = UNet(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_classes=10, attention_resolutions=())
    gan = Generator(in_channels=1, image_size=28, latent_dim=8, width=8, num_classes=10)
    vae = VAE(in_channels=1, image_size=28, latent_dim=4, num_classes=10)
    diffusion_config = {"schedule": {"name": "linear", "T": 50}, "prediction": "eps", "image_size": 28}
    return [
        (unet.eval(), diffusion_config, {"sampler": "ddpm", "steps": 3, "w": 0.5}),
        (gan.eval(), {"family": "gan"}, {}),
        (vae.eval(), {"family": "vae"}, {}),
    ]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["diffusion", "gan", "vae"])
def test_first_continues_the_run_in_every_family(which):
    """Images 6..9 drawn alone with first=6 are images 6..9 of the whole run (same batch sizes: bit for bit)."""
    model, config, opts = _tiny_models()[which]
    y = balanced_labels(10)
    whole = generate_any(model, config, y, 10, seed=4, batch_size=2, progress=False, **opts)
    tail = generate_any(model, config, y[6:], 4, seed=4, first=6, batch_size=2, progress=False, **opts)
    assert torch.equal(whole[6:], tail)
    with pytest.raises(ValueError, match="first"):
        generate_any(model, config, y[:2], 2, seed=4, first=-1, progress=False, **opts)


def test_measure_with_a_cache_equals_measure_without(tmp_path):
    model, config, opts = _tiny_models()[0]
    plain = measure(model, config, n=20, seed=2, batch_size=5, **opts)
    cached = measure(model, config, n=20, seed=2, batch_size=5, cache=tmp_path, chunk=5, **opts)
    again = measure(model, config, n=20, seed=2, batch_size=5, cache=tmp_path, chunk=5, **opts)
    for key in ("class_accuracy_pct", "mnist_classifier_fid", "precision_pct", "recall_pct"):
        assert cached[key] == plain[key] == again[key]
    assert cached["chunks"]["chunks"] == 4 and cached["chunks"]["reused_from_earlier_runs"] == 0
    assert again["chunks"]["reused_from_earlier_runs"] == 4 and "chunks" not in plain
    with pytest.raises(ValueError, match="another request"):
        measure(model, config, n=20, seed=3, batch_size=5, cache=tmp_path, chunk=5, **opts)


def test_read_cache_returns_what_draw_in_chunks_drew_and_refuses_a_gap(tmp_path):
    x, _ = draw_in_chunks(Recorder(), 12, tmp_path, KEY, chunk=5)
    back, key = read_cache(tmp_path)
    assert torch.equal(back, x) and key == KEY
    (tmp_path / "images_0000005_00005.pt").unlink()
    with pytest.raises(ValueError, match="gap: images 5..9"):
        read_cache(tmp_path)
    with pytest.raises(ValueError, match="holds no sample chunks"):
        read_cache(tmp_path / "empty")
