"""Data-parallel training under torchrun (2 gloo processes on the CPU) and the loop's speed options.

One ``torchrun --standalone --nproc_per_node 2`` launch of this file (see ``_worker``) trains every
model family for a few steps, an uninterrupted and an interrupted-then-resumed diffusion run,
and the ``train`` command; the tests compare what rank 0 saved with the same runs in one process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from diffusion_course.checkpoints import load_checkpoint
from diffusion_course.diffusion.schedules import make_schedule
from diffusion_course.models.gan import Discriminator, Generator
from diffusion_course.models.unet import UNet
from diffusion_course.models.vae import VAE
from diffusion_course.training.diffusion import train_diffusion
from diffusion_course.training.gan import train_gan
from diffusion_course.training.loop import STOP, Every, resume_path
from diffusion_course.training.shards import GlobalDraws, Shard, shard_batch
from diffusion_course.training.vae import train_vae

LR = 1e-4  # Adam turns float rounding in a near-zero gradient into a step of up to lr: keep lr small
TOL = 1e-5


def _images(n: int = 48, size: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


def _state(*modules) -> list[dict]:
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]


def run_diffusion(steps: int = 3, dropout: float = 0.1, **kw) -> dict:
    """A tiny class-conditional UNet with dropout, label dropout and v-prediction."""
    torch.manual_seed(0)
    model = UNet(
        in_channels=1,
        base_channels=8,
        channel_mults=[1, 2],
        num_res_blocks=1,
        attention_resolutions=[4],
        num_classes=10,
        dropout=dropout,
        image_size=8,
    )
    res = train_diffusion(
        model,
        _images(),
        make_schedule("cosine", 100),
        steps=steps,
        batch_size=16,
        lr=LR,
        p_uncond=0.2,
        prediction="v",
        progress=False,
        **kw,
    )
    return {"states": _state(res.model, res.ema), "losses": {"diffusion": res.losses}}


def run_gan() -> dict:
    """A DCGAN pair (BatchNorm in the generator) with the R1 penalty: two phases per step."""
    torch.manual_seed(0)
    G = Generator(1, 28, latent_dim=16, width=8, num_classes=10)
    D = Discriminator(1, 28, width=8, num_classes=10)
    x, y = _images(32, 28)
    res = train_gan(G, D, (x, y), steps=3, batch_size=16, lr_g=LR, lr_d=LR, r1_gamma=0.1, progress=False)
    return {"states": _state(res.generator, res.discriminator, res.ema), "losses": res.losses}


def run_vae(**kw) -> dict:
    """A small class-conditional VAE: the reparameterization's eps comes from the loop's generator."""
    torch.manual_seed(0)
    model = VAE(channels=(8, 8), num_res_blocks=0, latent_dim=4, num_classes=10)
    res = train_vae(model, _images(32, 28), steps=3, batch_size=16, lr=LR, progress=False, eval_n=8, **kw)
    return {"states": _state(res.model, res.ema), "losses": {"vae": res.losses}}


def run_classifier() -> dict | None:
    """The MNIST classifier (BatchNorm, dropout, augmentation, one-cycle): 129 digits in batches of 64,
    so the last step has a single row, which the second process does not get.

    It trains with its SGD option (CIFAR-10's): in Adam's first steps each weight moves by about
    lr whatever its gradient's size, so a rounding difference in a near-zero gradient component
    becomes a step of up to 2 lr, and the convolutions before BatchNorm have many such components.
    """
    from diffusion_course.data import DatasetNotFoundError
    from diffusion_course.training.classifier import CLASSIFIER_SETTINGS, train_classifier

    settings = CLASSIFIER_SETTINGS["mnist"]
    try:
        CLASSIFIER_SETTINGS["mnist"] = {**settings, "optimizer": "sgd"}
        model, _ = train_classifier(1, 64, 1e-2, n_train=129, n_test=10, log=lambda s: None)
    except DatasetNotFoundError:
        return None
    finally:
        CLASSIFIER_SETTINGS["mnist"] = settings
    return {"states": _state(model), "losses": {}}


FAMILIES = {"diffusion": run_diffusion, "gan": run_gan, "vae": run_vae, "classifier": run_classifier}


def _worker(out: Path) -> None:
    """Run by each of the 2 processes; rank 0 saves what the tests compare, into ``out``."""
    from diffusion_course.cli import train as train_cli
    from diffusion_course.training import recipes
    from diffusion_course.training.distributed import is_main

    rank = int(os.environ["RANK"])
    results: dict = {name: fn() for name, fn in FAMILIES.items()}
    mine = out / f"rank{rank}"  # each rank names its own folder; only rank 0's may get files

    def grid(ema, step):
        return torch.zeros(4, 1, 8, 8)

    results["full"] = run_diffusion(6, checkpoint_path=mine / "full.pt", sample_every=3, sample_fn=grid, run_dir=mine)
    run_diffusion(6, checkpoint_path=mine / "part.pt", callbacks=[Every(3, lambda info: STOP)])
    if is_main():
        (out / "step3").mkdir()
        for name in ("part.pt", "part.resume.pt"):
            shutil.copy(mine / name, out / "step3" / name)
    results["resumed"] = run_diffusion(6, checkpoint_path=mine / "part.pt", resume=True)
    run_vae(checkpoint_path=mine / "vae.pt")  # train_vae re-saves its checkpoint with the ELBO terms: rank 0 only
    recipes.RECIPES["toy-ddpm"]["data"]["n"] = 512
    cli = ["toy-ddpm", "--steps", "4", "--batch-size", "64", "--device", "cpu", "--no-progress"]
    results["cli"] = train_cli.main([*cli, "--out", str(mine / "cli" / "toy.pt"), "--checkpoint-every", "2"])
    if is_main():
        torch.save(results, out / "results.pt")


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    """The folder of one 2-process launch of :func:`_worker`."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__, str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"torchrun failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    assert "per rank" not in proc.stderr  # every draw of these runs was made for the global batch
    return out


def _max_diff(a: list[dict], b: list[dict]) -> float:
    assert [list(s) for s in a] == [list(s) for s in b]
    return max(
        float((sa[k].double() - sb[k].double()).abs().max()) if sa[k].numel() else 0.0
        for sa, sb in zip(a, b)
        for k in sa
    )


@pytest.mark.parametrize("family", list(FAMILIES))
def test_two_processes_equal_one_process_on_the_combined_batch(two, family):
    one = FAMILIES[family]()
    if one is None:
        pytest.skip("MNIST is not in the data root")
    got = torch.load(two / "results.pt", weights_only=False)[family]
    assert _max_diff(one["states"], got["states"]) < TOL  # weights, EMA weights and BatchNorm statistics
    for phase, losses in one["losses"].items():
        assert got["losses"][phase] == pytest.approx(losses, rel=1e-5, abs=1e-6)


def test_only_rank_0_writes_files(two):
    assert not (two / "rank1").exists()
    files = sorted(str(p.relative_to(two / "rank0")) for p in (two / "rank0").rglob("*") if p.is_file())
    assert files == [
        "cli/toy.pt",
        "cli/toy.resume.pt",
        "full.pt",
        "full.resume.pt",
        "part.pt",
        "part.resume.pt",
        "samples_0000003.png",
        "samples_0000006.png",
        "vae.pt",
        "vae.resume.pt",
    ]
    assert "final_neg_elbo" in load_checkpoint(two / "rank0" / "vae.pt")[1]


def test_a_resumed_two_process_run_equals_an_uninterrupted_one(two):
    results = torch.load(two / "results.pt", weights_only=False)
    assert load_checkpoint(two / "step3" / "part.pt")[1]["steps"] == 3
    full, resumed = results["full"], results["resumed"]
    assert resumed["losses"] == full["losses"]
    assert _max_diff(full["states"], resumed["states"]) == 0.0


def test_a_two_process_checkpoint_is_a_one_process_checkpoint_and_resumes_in_one_process(two, tmp_path):
    one = run_diffusion(6, checkpoint_path=tmp_path / "one.pt")
    model_1, cfg_1 = load_checkpoint(tmp_path / "one.pt")
    model_2, cfg_2 = load_checkpoint(two / "rank0" / "full.pt")
    assert set(cfg_1) == set(cfg_2) and cfg_1["world_size"] == 1 and cfg_2["world_size"] == 2
    varies = ("world_size", "train_seconds", "final_loss", "date")
    assert {k: v for k, v in cfg_1.items() if k not in varies} == {k: v for k, v in cfg_2.items() if k not in varies}
    assert cfg_1["final_loss"] == pytest.approx(cfg_2["final_loss"], rel=1e-5)
    assert _max_diff(_state(model_1), _state(model_2)) < TOL
    state_1 = torch.load(resume_path(tmp_path / "one.pt"), weights_only=True)
    state_2 = torch.load(resume_path(two / "rank0" / "full.pt"), weights_only=True)
    assert set(state_1) == set(state_2) and state_1["batches"]["pos"] == state_2["batches"]["pos"]
    assert torch.equal(state_1["generator"], state_2["generator"])  # the streams stayed those of one process
    # the 2-process run stopped at step 3 goes on in one process as if it had not stopped
    shutil.copytree(two / "step3", tmp_path / "step3")
    moved = run_diffusion(6, checkpoint_path=tmp_path / "step3" / "part.pt", resume=True)
    assert _max_diff(one["states"], moved["states"]) < TOL


def test_the_train_command_runs_under_torchrun(two):
    assert torch.load(two / "results.pt", weights_only=False)["cli"] == 0
    _, config = load_checkpoint(two / "rank0" / "cli" / "toy.pt")
    assert config["world_size"] == 2 and config["steps"] == 4 and config["batch_size"] == 64


# -- without processes -------------------------------------------------------------------------------


def test_shards_split_the_batch_as_tensor_split_and_a_rank_without_rows_weighs_nothing():
    x, y = torch.arange(9.0)[:, None], torch.arange(9)
    shards = [shard_batch((x, y), r, 2) for r in range(2)]
    assert [s.batch[0].squeeze(1).tolist() for s in shards] == [t.squeeze(1).tolist() for t in x.tensor_split(2)]
    assert [s.weight for s in shards] == [5 / 9, 4 / 9] and shards[1].start == 5
    lone = shard_batch((x[:1], y[:1]), 1, 2)
    assert lone.weight == 0.0 and lone.rows == 1 and torch.equal(lone.batch[0], x[:1])


def test_each_rank_draws_the_rows_of_the_global_batch_that_one_process_draws():
    import torch.nn.functional as F

    x = torch.randn(6, 4, 5, 5).contiguous(memory_format=torch.channels_last)
    g = torch.Generator()

    def draws(h: torch.Tensor) -> list[torch.Tensor]:
        torch.manual_seed(7)
        g.manual_seed(3)
        t = torch.randint(0, 100, (h.shape[0],), generator=g)
        noise = torch.randn(h.shape, generator=g)
        u = torch.empty(h.shape[0], 2).uniform_(generator=g)
        like = torch.rand_like(h, generator=g)
        return [t, noise, u, like, F.dropout(h, 0.3, True), torch.randperm(5, generator=g)]

    whole = draws(x)
    for rank in range(2):
        s = shard_batch((x, None), rank, 2)
        with GlobalDraws(s, g):
            part = draws(s.batch[0])
        for a, b in zip(whole[:-1], part[:-1]):
            assert torch.equal(a[s.start : s.start + s.rows], b)
        assert torch.equal(whole[-1], part[-1])  # a draw that is not batch-shaped is drawn whole
    with GlobalDraws(Shard((x[:3], None), 0, 3, 6, 0.5), g), pytest.warns(UserWarning, match="per rank"):
        torch.bernoulli(torch.full((3, 2), 0.5), generator=g)


def test_speed_options_are_recorded_and_leave_the_networks_as_they_came(tmp_path):
    from diffusion_course.training.speed import speed_options

    base = run_diffusion(2, dropout=0.0, checkpoint_path=tmp_path / "a.pt")
    with speed_options(channels_last=True):
        fast = run_diffusion(2, dropout=0.0, checkpoint_path=tmp_path / "b.pt")
    assert _max_diff(base["states"], fast["states"]) < TOL  # another memory order, the same training (no dropout:
    # its masks are drawn in memory order)
    assert all(t.is_contiguous() for s in fast["states"] for t in s.values())
    cfg_a, cfg_b = load_checkpoint(tmp_path / "a.pt")[1], load_checkpoint(tmp_path / "b.pt")[1]
    assert (cfg_a["channels_last"], cfg_b["channels_last"]) == (False, True)
    assert not cfg_a["bf16"] and not cfg_a["compile"] and cfg_a["world_size"] == 1
    with speed_options(bf16=True):
        half = run_diffusion(2)
    assert all(torch.isfinite(t).all() for s in half["states"] for t in s.values() if t.is_floating_point())


def test_command_line_mistakes_are_one_line_and_status_2(capsys, monkeypatch):
    from diffusion_course.cli import train as train_cli
    from diffusion_course.training.distributed import init_process_group

    assert train_cli.main(["toy-ddpm", "--channels-last", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--channels-last applies to image recipes" in err
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="'cpu' \\(gloo\\) or 'cuda' \\(NCCL\\)"):
        init_process_group("meta")


def test_the_throughput_benchmark_measures_a_variant_and_writes_a_result(tmp_path, capsys):
    import importlib.util

    from diffusion_course.config import REPO_ROOT
    from diffusion_course.evaluation.results import read_result

    spec = importlib.util.spec_from_file_location("train_throughput", REPO_ROOT / "benchmarks" / "train_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    argv = ["--variants", "fp32", "--quick", "--batch-size", "4", "--threads", "1", "--out", str(tmp_path)]
    try:
        assert bench.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    result = read_result("train_throughput", tmp_path)
    (row,) = result["rows"]
    assert row["variant"] == "fp32" and row["images_per_s"] > 0 and len(row["losses"]) == 4
    assert result["command"] == "python benchmarks/train_throughput.py " + " ".join(argv)
    capsys.readouterr()
    assert bench.main(["--variants", "fp32+fast"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown option" in err


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
