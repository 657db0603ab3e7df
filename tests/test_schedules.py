import math
import warnings

import numpy as np
import pytest
import torch

from diffusion_course.diffusion.schedules import (
    NoiseSchedule,
    cosine_schedule,
    expand,
    linear_schedule,
    make_schedule,
    rescale_zero_terminal_snr,
    shift_log_snr,
    sigmoid_schedule,
)

ALL = [(name, z) for name in ("linear", "cosine", "sigmoid") for z in (False, True)]


def test_linear_endpoints_and_even_spacing():
    s = linear_schedule(T=1000, beta_start=1e-4, beta_end=0.02)
    assert s.T == 1000 and s.betas.dtype == torch.float64
    assert s.betas[0].item() == pytest.approx(1e-4, abs=1e-15)
    assert s.betas[-1].item() == pytest.approx(0.02, abs=1e-15)
    diffs = s.betas.diff()
    assert torch.allclose(diffs, torch.full_like(diffs, (0.02 - 1e-4) / 999), rtol=0, atol=1e-15)
    assert torch.allclose(s.alpha_bar, torch.cumprod(1 - s.betas, 0), rtol=0, atol=0)


def test_cosine_alpha_bar_matches_formula():
    T, s = 1000, 0.008
    sched = cosine_schedule(T=T, s=s)
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    expected = np.array([f((t + 1) / T) / f(0.0) for t in range(T)])
    # every beta except the clipped last one is unclipped, so alpha_bar follows the formula
    assert (sched.betas[:-1] < 0.999).all() and sched.betas[-1].item() == pytest.approx(0.999)
    np.testing.assert_allclose(sched.alpha_bar[:-1].numpy(), expected[:-1], rtol=1e-10, atol=1e-14)


def test_sigmoid_alpha_bar_matches_formula():
    T, start, end, tau = 500, -3.0, 3.0, 1.0
    sched = sigmoid_schedule(T=T, start=start, end=end, tau=tau)
    sig = lambda z: 1 / (1 + math.exp(-z))
    g = lambda u: (sig(end / tau) - sig((u * (end - start) + start) / tau)) / (sig(end / tau) - sig(start / tau))
    expected = np.array([g((t + 1) / T) / g(0.0) for t in range(T)])
    np.testing.assert_allclose(sched.alpha_bar[:-1].numpy(), expected[:-1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name,zero", ALL)
def test_tables_are_consistent_and_monotone(name, zero):
    s = make_schedule(name, T=200, zero_terminal_snr=zero)
    ab = s.alpha_bar
    assert (ab.diff() < 0).all(), "alpha_bar must be strictly decreasing"
    assert ab[0] < 1 and ab[-1] >= 0
    t = torch.arange(s.T)
    a, sg = s.alpha(t), s.sigma(t)
    assert a.dtype == torch.float64 and a.shape == (s.T,)
    assert torch.allclose(a**2 + sg**2, torch.ones_like(a), atol=1e-14)
    assert torch.allclose(s.beta(t), s.betas)
    snr = s.snr(t)
    assert torch.allclose(snr, a**2 / sg**2, rtol=1e-10)
    assert (snr.diff() < 0).all()
    finite = snr > 0
    assert torch.allclose(s.log_snr(t)[finite], snr[finite].log(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["linear", "cosine", "sigmoid"])
def test_zero_terminal_snr(name):
    base = make_schedule(name, T=1000)
    z = rescale_zero_terminal_snr(base)
    assert z.alpha_bar[-1].item() == 0.0 and z.betas[-1].item() == 1.0
    assert z.snr(999).item() == 0.0 and z.log_snr(999).item() == -math.inf
    assert z.alpha_bar[0].item() == pytest.approx(base.alpha_bar[0].item(), rel=1e-12)
    # Lin et al. Algorithm 1: the new sqrt(alpha_bar) is an affine map of the old one
    a_old, a_new = base.alpha_bar.sqrt(), z.alpha_bar.sqrt()
    a0, aT = a_old[0], a_old[-1]
    assert torch.allclose(a_new, (a_old - aT) * a0 / (a0 - aT), atol=1e-12)
    assert torch.equal(make_schedule(name, T=1000, zero_terminal_snr=True).betas, z.betas)


def _numpy_timesteps(T, n, spacing):
    if spacing == "leading":
        return (np.arange(0, n) * (T // n))[::-1]
    if spacing == "trailing":
        return np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
    return np.round(np.linspace(0, T - 1, n)).astype(np.int64)[::-1]


@pytest.mark.filterwarnings("ignore:leading spacing:UserWarning")  # that warning has its own test
@pytest.mark.parametrize("T,n", [(1000, 50), (1000, 7), (1000, 1), (1000, 1000), (10, 4), (10, 3)])
@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_timesteps_match_formulas(T, n, spacing):
    ts = linear_schedule(T=T).timesteps(n, spacing)
    assert ts.dtype == torch.long and ts.shape == (n,)
    np.testing.assert_array_equal(ts.numpy(), _numpy_timesteps(T, n, spacing))
    assert (ts.diff() < 0).all() and ts.min() >= 0 and ts.max() <= T - 1
    if spacing == "trailing":
        assert ts[0].item() == T - 1
    if spacing == "linspace" and n > 1:  # (n = 1 gives [0], as numpy's linspace)
        assert ts[0].item() == T - 1 and ts[-1].item() == 0


def test_lookup_int_and_device():
    s = cosine_schedule(T=100)
    assert s.alpha(5).shape == () and s.alpha(5).item() == pytest.approx(s.alpha_bar[5].sqrt().item())
    t = torch.tensor([[0, 99], [3, 4]], dtype=torch.int32)
    out = s.sigma(t)
    assert out.shape == (2, 2) and out.dtype == torch.float64 and out.device == t.device


def test_expand_broadcasts_and_casts():
    x = torch.zeros(3, 2, 4, 4, dtype=torch.float32)
    v = expand(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), x)
    assert v.shape == (3, 1, 1, 1) and v.dtype == torch.float32
    assert expand(0.5, x).shape == () and expand(torch.tensor([1.0, 2.0]), torch.zeros(2)).shape == (2,)
    with pytest.raises(ValueError, match="batch"):
        expand(torch.ones(4), x)
    with pytest.raises(ValueError, match="broadcast"):
        expand(torch.ones(3, 5), x)


@pytest.mark.parametrize(
    "betas",
    [
        [0.0, 0.5],
        [0.1, -0.2],
        [0.1, 1.5],
        [0.5, 1.0, 0.5],
        [0.1, float("nan")],
        [0.1, float("inf")],
        [[0.1, 0.2]],
        [],
    ],
)
def test_bad_betas_raise(betas):
    with pytest.raises(ValueError, match=r"betas"):
        NoiseSchedule(torch.tensor(betas, dtype=torch.float64))


def test_last_beta_one_is_allowed():
    s = NoiseSchedule(torch.tensor([0.1, 0.2, 1.0]))
    assert s.alpha_bar[-1].item() == 0.0


@pytest.mark.parametrize("t", [-1, 100, torch.tensor([0, 100]), torch.tensor([-1])])
def test_t_out_of_range_raises(t):
    with pytest.raises(ValueError, match=r"0\.\.99"):
        linear_schedule(T=100).alpha(t)


@pytest.mark.parametrize("t", [torch.tensor([1.0]), torch.tensor([True]), 1.0, True, "3"])
def test_t_bad_dtype_raises(t):
    with pytest.raises(ValueError, match="t must"):
        linear_schedule(T=100).snr(t)


def test_bad_timesteps_and_names_raise():
    s = linear_schedule(T=100)
    for n in (0, 101, 2.5):
        with pytest.raises(ValueError, match=r"1\.\.100"):
            s.timesteps(n)
    with pytest.raises(ValueError, match="unknown spacing 'foo'"):
        s.timesteps(10, "foo")
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        make_schedule("quadratic")
    with pytest.raises(ValueError, match="T must"):
        linear_schedule(T=0)
    with pytest.raises(ValueError, match="betas"):
        linear_schedule(T=10, beta_start=0.0)


def test_leading_spacing_warns_when_the_top_of_the_range_is_left_unused():
    sch = linear_schedule(T=1000)
    with pytest.warns(UserWarning, match="starts at t=798"):
        ts = sch.timesteps(400, "leading")
    assert ts[0].item() == 798  # still the diffusers convention, only flagged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (1, 7, 50, 100, 1000):  # at most one step unused at the top: no warning
            sch.timesteps(n, "leading")


def test_trailing_is_the_default_spacing_and_starts_from_pure_noise():
    from diffusion_course.diffusion.spacing import SPACINGS, timesteps

    sched = make_schedule("cosine", T=1000)
    for n in (1, 7, 50, 400, 1000):
        default = sched.timesteps(n)
        assert torch.equal(default, sched.timesteps(n, "trailing")) and int(default[0]) == 999
        assert torch.equal(default, timesteps(sched, n))
    assert torch.equal(sched.timesteps(20, "logsnr"), timesteps(sched, 20, "logsnr")) and "logsnr" in SPACINGS


def test_schedule_from_config_rebuilds_the_named_schedule():
    from diffusion_course.diffusion.schedules import schedule_from_config

    cfg = {"schedule": {"name": "cosine", "T": 100, "zero_terminal_snr": True}}
    assert torch.equal(
        schedule_from_config(cfg).alpha_bar, make_schedule("cosine", T=100, zero_terminal_snr=True).alpha_bar
    )
    assert schedule_from_config({"schedule": {"name": "linear", "T": 10}}).T == 10
    with pytest.raises(ValueError, match="no schedule spec"):
        schedule_from_config({"prediction": "eps"})


@pytest.mark.parametrize("name,zero", ALL)
@pytest.mark.parametrize("shift", [-1.5, 1.4, 2.8])
def test_a_log_snr_shift_adds_the_same_amount_at_every_t(name, zero, shift):
    base = make_schedule(name, T=200, zero_terminal_snr=zero)
    shifted = make_schedule(name, T=200, zero_terminal_snr=zero, log_snr_shift=shift)
    t = torch.arange(200 - int(zero))  # a zero terminal SNR has log SNR -inf: it stays there
    torch.testing.assert_close(shifted.log_snr(t), base.log_snr(t) + shift, rtol=0, atol=1e-9)
    assert (shifted.alpha_bar[1:] < shifted.alpha_bar[:-1]).all()  # still a valid, monotone schedule
    if zero:
        assert shifted.alpha_bar[-1] == 0 and shifted.betas[-1] == 1
    # the same as scaling the data by e^(shift / 2) (Chen 2023): SNR = alpha_bar s^2 / (1 - alpha_bar)
    torch.testing.assert_close(shifted.snr(t[:5]), base.snr(t[:5]) * math.exp(shift))


def test_a_zero_shift_is_the_schedule_itself_and_bad_shifts_are_refused():
    base = cosine_schedule(50)
    assert shift_log_snr(base, 0.0) is base
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            shift_log_snr(base, bad)


def test_schedule_from_config_reads_the_shift():
    from diffusion_course.diffusion.schedules import schedule_from_config

    cfg = {"schedule": {"name": "cosine", "T": 100, "log_snr_shift": 1.4}}
    assert torch.equal(schedule_from_config(cfg).alpha_bar, make_schedule("cosine", T=100, log_snr_shift=1.4).alpha_bar)
