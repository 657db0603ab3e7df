"""DDIM inversion against the exact Gaussian-mixture oracle: round trips, the noise it makes, bad input."""

import pytest
import torch

from diffusion_course.diffusion.schedules import make_schedule
from diffusion_course.diffusion.spacing import logsnr_timesteps
from diffusion_course.samplers import ddim, ddim_invert
from diffusion_course.toy.oracle import GaussianMixture, MixtureDenoiser

F64 = torch.float64
SCHED = make_schedule("linear")
MIX = GaussianMixture.example_2d()
DEN = MixtureDenoiser(MIX, SCHED, "eps")


def data(n, seed=0):
    return MIX.sample(n, torch.Generator().manual_seed(seed), dtype=F64)[0]


def round_trip_error(n_steps, x0):
    ts = logsnr_timesteps(SCHED, n_steps)
    x_T = ddim_invert(DEN, x0, SCHED, ts)
    return (ddim(DEN, x_T, SCHED, ts) - x0).norm(dim=1).mean().item()


def test_round_trip_error_shrinks_with_steps_and_is_small_at_many():
    x0 = data(200)
    coarse, fine = round_trip_error(10, x0), round_trip_error(200, x0)
    assert fine < coarse / 4, (coarse, fine)
    assert fine < 0.05 * x0.norm(dim=1).mean().item(), fine


def test_inverting_data_gives_standard_normal_noise():
    # the probability-flow ODE carries the data distribution to N(0, I) at T (linear schedule: abar_T ~ 4e-5)
    x_T = ddim_invert(DEN, data(4000, seed=1), SCHED, logsnr_timesteps(SCHED, 100))
    assert x_T.mean(0).abs().max() < 0.08
    assert (x_T.std(0) - 1).abs().max() < 0.08
    assert torch.corrcoef(x_T.T)[0, 1].abs() < 0.08


def test_evaluations_and_callback():
    ts = logsnr_timesteps(SCHED, 12)
    stats, seen = {}, []
    ddim_invert(DEN, data(5), SCHED, ts, stats=stats, callback=lambda info: seen.append(info["t"]))
    assert stats["nfe"] == 11  # one fewer than the sampler: the start is the data itself
    assert seen == sorted(ts.tolist() if hasattr(ts, "tolist") else ts)[:-1]


@pytest.mark.parametrize("timesteps, match", [([10, 20, 30], "descending"), ([], "non-empty"), ([5000, 3], "lie in")])
def test_bad_timesteps(timesteps, match):
    with pytest.raises(ValueError, match=match):
        ddim_invert(DEN, data(3), SCHED, timesteps)
