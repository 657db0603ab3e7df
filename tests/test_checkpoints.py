"""Tests of checkpoints: round trips, refusals, clear errors, and the sha256 manifest."""

import json

import pytest
import torch

from diffusion_course import checkpoints as ck
from diffusion_course.checkpoints import CheckpointError
from diffusion_course.models.mlp import MLPDenoiser
from diffusion_course.models.unet import UNet


def tiny_unet(**kw):
    return UNet(
        base_channels=8,
        channel_mults=(1, 2),
        num_res_blocks=1,
        dropout=0.0,
        attention_heads=2,
        num_classes=10,
        **kw,
    )


def perturbed(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.data.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


@pytest.fixture
def manifest(tmp_path):
    return tmp_path / "manifest.json"


def test_round_trip_float32_is_exact(tmp_path, manifest):
    model = perturbed(tiny_unet())
    path = ck.save_checkpoint(
        tmp_path / "m.pt",
        model,
        {"prediction": "v", "steps": 3},
        half=False,
        manifest_path=manifest,
    )
    loaded, config = ck.load_checkpoint(path)
    assert type(loaded) is UNet and not loaded.training
    assert config["prediction"] == "v" and config["model"]["class"] == "UNet"
    assert config["torch"] == torch.__version__ and config["state_dict_dtype"] == "float32"
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_round_trip_float16_is_close_and_restored_to_float32(tmp_path, manifest):
    model = perturbed(MLPDenoiser(hidden=64, depth=2, time_dim=32))
    p16 = ck.save_checkpoint(tmp_path / "h.pt", model, {}, manifest_path=manifest)
    p32 = ck.save_checkpoint(tmp_path / "f.pt", model, {}, half=False, manifest_path=manifest)
    loaded, config = ck.load_checkpoint(p16)
    assert config["state_dict_dtype"] == "float16"
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert b.dtype == torch.float32
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)
    assert p16.stat().st_size < 0.7 * p32.stat().st_size
    x, t = torch.randn(4, 2), torch.tensor([1, 2, 3, 4])
    assert torch.allclose(model(x, t), loaded(x, t), atol=1e-2)


def test_save_refuses_to_overwrite(tmp_path, manifest):
    model = tiny_unet()
    path = ck.save_checkpoint(tmp_path / "m.pt", model, {}, manifest_path=manifest)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="exists.*overwrite=True"):
        ck.save_checkpoint(path, perturbed(model), {}, manifest_path=manifest)
    assert path.read_bytes() == before
    ck.save_checkpoint(path, model, {"x": 1}, overwrite=True, manifest_path=manifest)
    assert ck.load_checkpoint(path)[1]["x"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary files left behind


def test_save_refuses_shipped_file(tmp_path, manifest):
    model = tiny_unet()
    path = ck.save_checkpoint(tmp_path / "ship.pt", model, {}, manifest_path=manifest)
    ck.add_to_manifest("ship", path, "cmd", "desc", {}, manifest_path=manifest)
    with pytest.raises(CheckpointError, match="shipped"):
        ck.save_checkpoint(path, model, {}, overwrite=True, manifest_path=manifest)
    ck.save_checkpoint(path, model, {}, overwrite=True, allow_shipped=True, manifest_path=manifest)


def test_config_must_be_jsonable(tmp_path, manifest):
    with pytest.raises(CheckpointError, match="JSON"):
        ck.save_checkpoint(tmp_path / "m.pt", tiny_unet(), {"bad": object()}, manifest_path=manifest)


def test_load_missing_and_corrupt_files(tmp_path, manifest):
    with pytest.raises(CheckpointError, match="does not exist"):
        ck.load_checkpoint(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt.*not a readable checkpoint"):
        ck.load_checkpoint(junk)
    path = ck.save_checkpoint(tmp_path / "m.pt", tiny_unet(), {}, manifest_path=manifest)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        ck.load_checkpoint(truncated)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="'config' and 'state_dict'"):
        ck.load_checkpoint(tmp_path / "other.pt")


def test_load_rejects_mismatched_state_dict(tmp_path, manifest):
    path = ck.save_checkpoint(tmp_path / "m.pt", tiny_unet(), {}, manifest_path=manifest)
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["model"]["kwargs"]["base_channels"] = 16  # architecture no longer matches weights
    torch.save(ckpt, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="shape.pt.*shape mismatches"):
        ck.load_checkpoint(tmp_path / "shape.pt")
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"].pop("conv_in.weight")
    ckpt["state_dict"]["extra.weight"] = torch.zeros(1)
    torch.save(ckpt, tmp_path / "keys.pt")
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): conv_in.weight.*unexpected keys \(1\): extra"):
        ck.load_checkpoint(tmp_path / "keys.pt")
    ckpt["config"]["model"]["class"] = "NoSuchNet"
    torch.save(ckpt, tmp_path / "cls.pt")
    with pytest.raises(CheckpointError, match="unknown model class 'NoSuchNet'"):
        ck.load_checkpoint(tmp_path / "cls.pt")


def test_register_model_extension_point(tmp_path, manifest):
    class TestAffine(torch.nn.Module):
        def __init__(self, n=3):
            super().__init__()
            self.config = {"n": n}
            self.lin = torch.nn.Linear(n, n)

    assert ck.register_model(TestAffine) is TestAffine
    m = TestAffine(4)
    loaded, _ = ck.load_checkpoint(ck.save_checkpoint(tmp_path / "a.pt", m, {}, half=False, manifest_path=manifest))
    assert torch.equal(loaded.lin.weight, m.lin.weight)


def test_manifest_verify_and_load_pretrained(tmp_path, manifest):
    model = perturbed(tiny_unet())
    path = ck.save_checkpoint(tmp_path / "m.pt", model, {"prediction": "eps"}, half=False, manifest_path=manifest)
    entry = ck.add_to_manifest(
        "tiny",
        path,
        "python -m diffusion_course train tiny",
        "a tiny UNet",
        {"fid": 1.0},
        manifest_path=manifest,
    )
    assert entry["file"] == "m.pt" and entry["bytes"] == path.stat().st_size
    assert json.loads(manifest.read_text())["tiny"]["sha256"] == ck.sha256_file(path)
    assert ck.verify("tiny", manifest_path=manifest) == path.resolve()
    loaded, config = ck.load_pretrained("tiny", manifest_path=manifest)
    assert torch.equal(loaded.conv_in.weight, model.conv_in.weight) and config["prediction"] == "eps"


def test_manifest_rejects_tampered_file(tmp_path, manifest):
    path = ck.save_checkpoint(tmp_path / "m.pt", tiny_unet(), {}, manifest_path=manifest)
    ck.add_to_manifest("tiny", path, "python -m diffusion_course train tiny", "d", manifest_path=manifest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256.*differs.*git checkout.*train tiny"):
        ck.verify("tiny", manifest_path=manifest)
    with pytest.raises(CheckpointError, match="sha256"):
        ck.load_pretrained("tiny", manifest_path=manifest)
    path.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        ck.verify("tiny", manifest_path=manifest)


def test_load_pretrained_unknown_name_lists_available(tmp_path, manifest):
    path = ck.save_checkpoint(tmp_path / "m.pt", tiny_unet(), {}, manifest_path=manifest)
    ck.add_to_manifest("tiny", path, "cmd", "d", manifest_path=manifest)
    with pytest.raises(CheckpointError, match=r"unknown pretrained checkpoint 'huge'; available: \['tiny'\]"):
        ck.load_pretrained("huge", manifest_path=manifest)


def test_shipped_manifest_entries_verify():
    """Every checkpoint listed in the shipped manifest matches its sha256 and loads."""
    for name, entry in ck.read_manifest().items():
        path = ck.verify(name)
        assert path.stat().st_size == entry["bytes"]
