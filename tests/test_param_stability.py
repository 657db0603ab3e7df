"""Tests of the target-stability sweep (eps, x0, v, score over seeds and learning rates): a run is
deterministic, the gradient norm per timestep matches a hand computation, the summary is the mean
and std over seeds, and the benchmark writes a result with its fields and refuses bad input."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from torch import nn

from diffusion_course.config import REPO_ROOT
from diffusion_course.diffusion.schedules import make_schedule
from diffusion_course.evaluation import param_stability as ps
from diffusion_course.evaluation.results import PROVENANCE_FIELDS, read_result
from diffusion_course.training.guard import TrainingDivergedError

TINY = {"steps": 15, "n": 100, "batch_size": 32, "n_eval": 200, "grad_bins": 3}


def _without_seconds(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "seconds"}


@pytest.mark.parametrize("target", ["eps", "v"])
def test_a_run_is_deterministic_for_its_seed_and_changes_with_it(target):
    a = ps.param_run(target, 1e-3, 0, **TINY)
    b = ps.param_run(target, 1e-3, 0, **TINY)
    c = ps.param_run(target, 1e-3, 1, **TINY)
    assert _without_seconds(a) == _without_seconds(b)
    assert a["eps_mse"] != c["eps_mse"] and a["grad_norm_init"] != c["grad_norm_init"]
    assert a["target"] == target and not a["diverged"] and len(a["grad_norm_final"]) == 3
    assert a["eps_mse"] > 0 and a["x0_mse"] > 0 and a["w2_ddim"] > 0 and a["w2_ddpm"] > 0
    # the timesteps of the gradient norms run from clean to noisy and include both ends
    assert a["grad_timesteps"][0] == 0 and a["grad_timesteps"][-1] == 999
    assert a["grad_cv_final"] == pytest.approx(
        ps.coefficient_of_variation(torch.tensor(a["grad_norm_final"])), rel=1e-3
    )


class _Linear(nn.Module):
    """model(x_t, t) = W x_t + b: its loss gradient has a closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.5, -0.2], [0.1, 0.3]]))
            self.lin.bias.copy_(torch.tensor([0.05, -0.1]))

    def forward(self, x, t):
        return self.lin(x)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_grad_norm_per_t_matches_the_closed_form_of_a_linear_model(prediction):
    schedule = make_schedule("linear")
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(6, 2, generator=g, dtype=torch.float64), torch.randn(6, 2, generator=g, dtype=torch.float64)
    model = _Linear().double()
    W, b = model.lin.weight.detach(), model.lin.bias.detach()
    got = ps.grad_norm_per_t(model, x0, noise, schedule, prediction, [0, 500, 999])
    for i, t in enumerate([0, 500, 999]):
        a, s = schedule.alpha(t).item(), schedule.sigma(t).item()
        x_t = a * x0 + s * noise
        target = {"eps": noise, "x0": x0, "v": a * noise - s * x0}[prediction]
        r = x_t @ W.T + b - target  # residuals (B, D); loss = mean over B and D of r^2
        scale = 2.0 / r.numel()
        grad_w, grad_b = scale * r.T @ x_t, scale * r.sum(0)
        expected = math.sqrt((grad_w**2).sum().item() + (grad_b**2).sum().item())
        assert got[i].item() == pytest.approx(expected, rel=1e-10)
    assert model.lin.weight.grad is None  # the parameters' .grad is left alone


def test_coefficient_of_variation_and_its_bad_input():
    assert ps.coefficient_of_variation(torch.tensor([2.0, 2.0, 2.0])) == 0.0
    assert ps.coefficient_of_variation(torch.tensor([1.0, 3.0])) == pytest.approx(0.5)  # std 1 (population), mean 2
    for bad in ([], [1.0, float("nan")], [-1.0, -2.0]):
        with pytest.raises(ValueError, match="finite positive"):
            ps.coefficient_of_variation(torch.tensor(bad))


def test_bad_input_is_refused_with_a_message():
    schedule, x0 = make_schedule("linear"), torch.zeros(4, 2)
    with pytest.raises(ValueError, match="unknown prediction"):
        ps.param_run("noise", 1e-3, 0, steps=1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        ps.param_run("eps", 0.0, 0, steps=1)
    with pytest.raises(ValueError, match="timesteps"):
        ps.grad_norm_per_t(_Linear(), x0, x0, schedule, "eps", [0, 1000])
    with pytest.raises(ValueError, match="timesteps"):
        ps.grad_norm_per_t(_Linear(), x0, x0, schedule, "eps", [])
    with pytest.raises(ValueError, match="noise shape"):
        ps.grad_norm_per_t(_Linear(), x0, torch.zeros(3, 2), schedule, "eps", [5])


def test_summarize_gives_mean_and_std_over_seeds_and_counts_diverged_runs():
    def row(target, seed, value, diverged=False):
        base = {"target": target, "lr": 0.01, "seed": seed, "diverged": diverged}
        return {**base, **dict.fromkeys(ps.METRICS, None if diverged else value)}

    rows = [row("v", 0, 1.0), row("v", 1, 2.0), row("v", 2, 3.0), row("x0", 0, 5.0), row("x0", 1, 0, diverged=True)]
    v, x0 = ps.summarize(rows)
    assert (v["runs"], v["diverged"], x0["runs"], x0["diverged"]) == (3, 0, 2, 1)
    assert v["eps_mse_mean"] == 2.0 and v["eps_mse_std"] == 1.0  # sample std (n - 1) of 1, 2, 3
    assert x0["w2_ddim_mean"] == 5.0 and x0["w2_ddim_std"] == 0.0  # one finished run


def test_a_diverged_run_is_recorded_not_raised(monkeypatch):
    def explode(*args, **kwargs):
        raise TrainingDivergedError(7, float("nan"), "not finite", 1.0)

    monkeypatch.setattr(ps, "train_diffusion", explode)
    r = ps.param_run("x0", 1.0, 0, **TINY)
    assert r["diverged"] and r["diverged_at"] == 7
    assert all(r[m] is None for m in ps.METRICS) and len(r["grad_norm_init"]) == 3


def _sweep():
    spec = importlib.util.spec_from_file_location(
        "param_stability_sweep", REPO_ROOT / "benchmarks" / "param_stability_sweep.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_writes_its_result_and_refuses_mistakes(tmp_path, capsys):
    sweep = _sweep()
    argv = ["--quick", "--targets", "eps", "v", "--lrs", "1e-3", "--out", str(tmp_path), "--experiment", "tiny"]
    assert sweep.main(argv) == 0
    r = read_result("tiny", tmp_path)
    assert set(PROVENANCE_FIELDS) <= set(r) and r["command"] == sweep.PROG + " " + " ".join(argv)
    assert r["kind"] == "param_stability" and r["steps"] == 30 and r["seeds"] == [0, 1]
    assert [(s["target"], s["lr"], s["runs"]) for s in r["summary"]] == [("eps", 0.001, 2), ("v", 0.001, 2)]
    assert len(r["rows"]) == 4 and set(r["oracle"]) == {"eps_mse", "x0_mse"}
    for key in ("eps_mse_std", "x0_mse_std", "w2_ddim_std", "w2_ddpm_std", "grad_cv_init_mean", "grad_cv_final_mean"):
        assert key in r["summary"][0]
    assert (tmp_path / "tiny" / "result.csv").exists()
    for bad in (argv, ["--lrs", "-1"], ["--seeds", "3"], ["--quick", "--experiment", "../x", "--out", str(tmp_path)]):
        capsys.readouterr()
        assert sweep.main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"{sweep.PROG}: error:")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        sweep.main(["--targets", "noise"])
    assert exc.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
